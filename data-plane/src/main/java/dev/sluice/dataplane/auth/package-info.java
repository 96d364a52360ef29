/**
 * Who is calling: inference API keys verified against the salted hashes in config, JWT bearer
 * tokens verified against the keys of trusted issuers (JWKS from a file or URL, refreshed in the
 * background and swapped in as immutable snapshots), the consumer behind each credential, and the
 * model grants that decide what the caller may use.
 */
@NullMarked
package dev.sluice.dataplane.auth;

import org.jspecify.annotations.NullMarked;
