/** The format, generation and verification of inference API keys. */
@NullMarked
package dev.sluice.controlplane.apikey;

import org.jspecify.annotations.NullMarked;
