/**
 * JMH benchmarks of the traffic policy on the request path: what authenticating a caller (API key
 * or JWT), checking its model grant and admitting and settling it against its rate limits costs
 * per request, with the data plane's production classes built from a config snapshot. Run with
 * {@code benchmarks/scripts/run-jmh.sh AuthAndLimit}.
 */
@NullMarked
package dev.sluice.bench.auth;

import org.jspecify.annotations.NullMarked;
