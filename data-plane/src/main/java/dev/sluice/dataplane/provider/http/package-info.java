/**
 * The upstream HTTP client the HTTP-based provider adapters share: Netty, non-blocking, HTTP/1.1
 * and HTTP/2 (ALPN over TLS, or prior knowledge), with connection pools per event loop and origin,
 * explicit read demand for flow control, and the timeouts an LLM stream needs (connect, first
 * byte, idle gap between chunks, deadline). Also the pieces adapters share on top of it: backend
 * endpoints, TLS contexts, error classification and the SSE stream skeleton.
 *
 * <p>Public only so that adapter packages can use it; it is not an API for code outside {@code
 * dev.sluice.dataplane.provider}.
 */
@NullMarked
package dev.sluice.dataplane.provider.http;

import org.jspecify.annotations.NullMarked;
