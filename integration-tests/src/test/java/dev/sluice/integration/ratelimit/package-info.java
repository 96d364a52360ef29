/**
 * The fleet-wide rate-limit loop in one process: several data-plane limiters, their lease
 * clients and one control-plane allocator on a simulated clock.
 */
@NullMarked
package dev.sluice.integration.ratelimit;

import org.jspecify.annotations.NullMarked;
