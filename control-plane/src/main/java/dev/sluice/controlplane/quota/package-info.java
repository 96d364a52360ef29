/**
 * Fleet-wide rate-limit shares: the allocator behind {@code DiscoveryService.LeaseQuota}.
 *
 * <p>Data planes enforce every limit locally against a share of it, and report each bucket's
 * demand and usage about once a second. {@link dev.sluice.controlplane.quota.QuotaAllocator}
 * divides each limit among the nodes that want it, max-min fairly over what each has used in the
 * window plus a few seconds of its demand, and leases each node its share for a few seconds, never
 * leasing out more than the limit in total (the invariant of Google's Doorman).
 * Limit state lives only here, in memory, and in the data planes; etcd holds only the limit
 * definitions. With several control-plane replicas one is elected to allocate, and {@link
 * dev.sluice.controlplane.quota.QuotaLeaseRouter} forwards the others' calls to it. See {@code
 * docs/rate-limiting.md}.
 */
@NullMarked
package dev.sluice.controlplane.quota;

import org.jspecify.annotations.NullMarked;
