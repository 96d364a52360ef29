/**
 * Turns the JSON lines written by the benchmark programs into the summary tables of {@code
 * docs/benchmarks.md}. Entry point: {@link Summary}.
 */
@NullMarked
package dev.sluice.bench.report;

import org.jspecify.annotations.NullMarked;
