/**
 * The control plane's guarantees end to end (issue 3): admin API on a real etcd process,
 * snapshots streamed to real data planes over gRPC, and what happens when etcd, a control-plane
 * replica or a data plane goes away. Inference calls go to the data plane's built-in MOCK
 * backend, so no test needs the network beyond 127.0.0.1.
 */
@NullMarked
package dev.sluice.integration.controlplane;

import org.jspecify.annotations.NullMarked;
