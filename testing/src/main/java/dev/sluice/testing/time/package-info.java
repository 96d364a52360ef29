/** Simulated time for deterministic tests of schedulers and timeouts. */
@NullMarked
package dev.sluice.testing.time;

import org.jspecify.annotations.NullMarked;
