/**
 * Shared test support: real servers on loopback that tests in every module start and stop, never
 * mocks of what we can run here.
 */
@NullMarked
package dev.sluice.testing;

import org.jspecify.annotations.NullMarked;
