/**
 * The Google Gemini API wire protocol: {@code generateContent}, {@code streamGenerateContent}
 * (SSE with {@code alt=sse}) and {@code batchEmbedContents}.
 */
@NullMarked
package dev.sluice.dataplane.provider.gemini;

import org.jspecify.annotations.NullMarked;
