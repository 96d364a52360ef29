/**
 * Helpers shared by the benchmark programs: {@code /proc} sampling, duration parsing, JSON and text
 * tables. Not an API: public only so the benchmark packages can share them.
 */
@NullMarked
package dev.sluice.bench.internal;

import org.jspecify.annotations.NullMarked;
