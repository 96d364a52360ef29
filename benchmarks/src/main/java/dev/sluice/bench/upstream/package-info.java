/**
 * A fast fake OpenAI-compatible upstream for benchmarks: Netty, HTTP/1.1 keep-alive, loopback only.
 * It answers chat completions (JSON with usage, or SSE with N tokens at a configurable pace) and
 * embeddings from pre-encoded bytes, so that in a benchmark it costs a small fraction of the
 * gateway it sits behind. Wire-format edge cases are the business of the test fakes in {@code
 * testing}, not of this one. Entry point: {@link FakeUpstream}.
 */
@NullMarked
package dev.sluice.bench.upstream;

import org.jspecify.annotations.NullMarked;
