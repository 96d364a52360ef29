/**
 * The load generator: drives Sluice's gRPC {@code InferenceService} or an OpenAI-compatible HTTP
 * endpoint (the direct-to-upstream baseline, or a peer gateway) with the same schedule and the same
 * measurement, so the figures of the gateway and of its baseline are comparable.
 *
 * <p>Two modes: an <em>open loop</em> that sends at a fixed rate and measures latency from each
 * call's scheduled send time (no coordinated omission: a stalled server cannot hide the queue it
 * builds), for latency; and a <em>closed loop</em> of N workers, each sending its next call when
 * the previous one ends, for saturation throughput. Entry point: {@link LoadGen}.
 */
@NullMarked
package dev.sluice.bench.load;

import org.jspecify.annotations.NullMarked;
