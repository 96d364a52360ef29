/**
 * The OpenAI wire protocol (Chat Completions and Embeddings), for OpenAI itself and for the many
 * servers that speak it (vLLM, Ollama, LiteLLM, Azure OpenAI).
 */
@NullMarked
package dev.sluice.dataplane.provider.openai;

import org.jspecify.annotations.NullMarked;
