/**
 * Incremental Server-Sent Events decoding for upstream streams, per the WHATWG HTML "event
 * stream" interpretation rules.
 */
@NullMarked
package dev.sluice.dataplane.provider.sse;

import org.jspecify.annotations.NullMarked;
