/**
 * Benchmark programs for Sluice. Each is a {@code main} run by the scripts in {@code
 * benchmarks/scripts/}; nothing here runs during the build. Figures come from these programs on a
 * quiet machine, never from timed assertions in tests.
 */
@NullMarked
package dev.sluice.bench;

import org.jspecify.annotations.NullMarked;
