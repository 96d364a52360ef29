/**
 * The Java client for Sluice's inference API ({@code sluice.inference.v1.InferenceService}).
 *
 * <p>Start with {@link dev.sluice.client.SluiceClient#builder()}. Requests and responses are the
 * generated messages of {@code dev.sluice.inference.v1}; failures are {@link
 * dev.sluice.client.SluiceException}s carrying the gateway's error details.
 */
@NullMarked
package dev.sluice.client;

import org.jspecify.annotations.NullMarked;
