/** Network faults for tests, on loopback. */
@NullMarked
package dev.sluice.testing.net;

import org.jspecify.annotations.NullMarked;
