/**
 * Who is calling: inference API keys verified against the salted hashes in config, the consumer
 * behind each key, and the model grants that decide what the caller may use.
 */
@NullMarked
package dev.sluice.dataplane.auth;

import org.jspecify.annotations.NullMarked;
