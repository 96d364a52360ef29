/**
 * Fake model providers for tests: real HTTP servers on 127.0.0.1 ephemeral ports that speak each
 * provider's wire format byte for byte (HTTP/1.1, chunked SSE), scriptable per test, including
 * the awkward parts real upstreams produce: SSE comments and keep-alives, CRLF and CR line
 * endings, multi-line {@code data:} fields, events split across writes, error events inside a 200
 * stream, connection resets and hangs mid-stream. They record what they received and count
 * connections, so tests can assert that a cancel closed the upstream connection.
 */
@NullMarked
package dev.sluice.testing.fakes;

import org.jspecify.annotations.NullMarked;
