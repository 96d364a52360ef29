/**
 * End-to-end tests: control plane, data plane, SDK, launcher and the Python example on real
 * sockets and processes, against provider fakes that speak the real wire formats.
 */
@NullMarked
package dev.sluice.integration;

import org.jspecify.annotations.NullMarked;
