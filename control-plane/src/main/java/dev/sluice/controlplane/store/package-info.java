/**
 * Where config lives: one {@link dev.sluice.controlplane.store.ConfigStore} contract with an etcd
 * implementation for production and an embedded one (a local directory) for development. Both
 * pass the same contract test suite.
 */
@NullMarked
package dev.sluice.controlplane.store;

import org.jspecify.annotations.NullMarked;
