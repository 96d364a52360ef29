/**
 * The provider SPI: one {@link dev.sluice.dataplane.provider.ProviderAdapter} per wire protocol
 * (OpenAI, Anthropic, Gemini, Sluice gRPC, the built-in mock) turns Sluice's typed requests into
 * upstream calls and the upstream's answers back into typed responses and stream events.
 *
 * <p>Adapters know nothing about routing, retries or the client's gRPC call: the router picks a
 * backend, hands the adapter a {@link dev.sluice.dataplane.provider.ChatCall}, and decides what
 * to do with an {@link dev.sluice.dataplane.provider.UpstreamException}.
 */
@NullMarked
package dev.sluice.dataplane.provider;

import org.jspecify.annotations.NullMarked;
