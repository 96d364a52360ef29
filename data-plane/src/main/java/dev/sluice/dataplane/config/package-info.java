/**
 * Config distribution on the data plane: the discovery stream to the control plane ({@link
 * dev.sluice.dataplane.config.DiscoveryClient}), building and validating the immutable {@link
 * dev.sluice.dataplane.config.RuntimeConfig} of each snapshot, swapping it in atomically ({@link
 * dev.sluice.dataplane.config.ServingConfig}), and the local file that lets a node boot and serve
 * its last good config without a control plane.
 *
 * <p>All state changes run on the discovery client's single thread; the request path only reads the
 * current config through one volatile reference.
 */
@NullMarked
package dev.sluice.dataplane.config;

import org.jspecify.annotations.NullMarked;
