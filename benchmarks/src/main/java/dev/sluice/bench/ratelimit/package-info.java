/**
 * The rate-limit accuracy benchmark (issue 5): how close the fleet-wide admission of three real
 * data planes stays to a 600 requests/minute and a 60,000 tokens/minute limit when one of them
 * receives 80 % of a demand that exceeds the limit.
 *
 * <p>{@link dev.sluice.bench.ratelimit.RateLimitAccuracyBench} starts a control plane and three
 * data planes as separate processes of the runnable jar ({@link
 * dev.sluice.bench.ratelimit.GatewayFleet}), a fake OpenAI upstream in its own JVM, configures
 * them through the admin API ({@link dev.sluice.bench.ratelimit.FleetConfig}), drives each data
 * plane with an open-loop gRPC client ({@link dev.sluice.bench.ratelimit.OpenLoopDriver}) that
 * counts admitted and refused calls per node per second ({@link
 * dev.sluice.bench.ratelimit.AdmissionLog}), and reports what the fleet admitted per minute as a
 * fraction of each limit ({@link dev.sluice.bench.ratelimit.AccuracyReport}).
 */
@NullMarked
package dev.sluice.bench.ratelimit;

import org.jspecify.annotations.NullMarked;
