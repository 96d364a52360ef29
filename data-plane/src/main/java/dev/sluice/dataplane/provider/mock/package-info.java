/**
 * The built-in mock model ({@code BACKEND_KIND_MOCK}): deterministic text at a configured length
 * and pace with honest usage, on the event loop, with no network. For development and benchmarks.
 */
@NullMarked
package dev.sluice.dataplane.provider.mock;

import org.jspecify.annotations.NullMarked;
