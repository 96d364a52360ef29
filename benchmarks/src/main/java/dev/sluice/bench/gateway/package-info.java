/**
 * The gateway under test for the data-plane benchmark: a control plane (embedded store) and a data
 * plane in one JVM, configured with backends on the fake upstream. Entry point: {@link
 * BenchGateway}.
 */
@NullMarked
package dev.sluice.bench.gateway;

import org.jspecify.annotations.NullMarked;
