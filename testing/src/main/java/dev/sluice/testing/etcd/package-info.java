/** A real etcd process for JUnit 5 tests. */
@NullMarked
package dev.sluice.testing.etcd;

import org.jspecify.annotations.NullMarked;
