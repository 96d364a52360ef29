/**
 * The production {@link dev.sluice.controlplane.store.ConfigStore}: config in etcd, reached through
 * jetcd. {@link dev.sluice.controlplane.store.etcd.EtcdConfigStore#connect} is the only entry
 * point; everything else here is package-private.
 *
 * <h2>Key layout (under a prefix, {@code /sluice/v1/} by default)</h2>
 *
 * <ul>
 *   <li>{@code config/<kind>/<name>}: one key per resource; the value is the serialized {@code
 *       sluice.config.v1.Resource} with its {@code version} cleared, because the version is the
 *       key's {@code mod_revision} and a copy could only disagree with it.
 *   <li>{@code meta/head}: rewritten by every commit; its {@code mod_revision} is the config
 *       version and the optimistic-concurrency guard of every commit. The value is the commit's
 *       {@code ChangeRecord}.
 *   <li>{@code meta/epoch}: the version lineage ({@code StoredConfig.epoch}), a random number in
 *       decimal, written by the first commit and replaced when etcd's revisions go backwards.
 *   <li>{@code history/<19 digits: Long.MAX_VALUE - parent version>}: the durable change log,
 *       written in the commit's transaction. See {@link
 *       dev.sluice.controlplane.store.etcd.KeyLayout#history} for why it is keyed by the parent.
 *   <li>{@code requests/<request id>}: the idempotency index, on a lease that outlives the
 *       retention period.
 *   <li>{@code status/cp/<control-plane id>}: each replica's {@code FleetStatusRecord}, attached to
 *       a lease of the store that published it and kept alive by it (see {@link
 *       dev.sluice.controlplane.store.etcd.StatusRecords}), so a replica that is gone is gone from
 *       the fleet status within the lease's TTL. Live state, not config: these keys move etcd's
 *       revision but never the config version.
 *   <li>{@code meta/quota-allocator}: {@code <control-plane id>@<address>} of the elected quota
 *       allocator, on that replica's lease (see {@link
 *       dev.sluice.controlplane.store.etcd.EtcdElection}). Live state too; created only when an
 *       election is won, so it moves etcd's revision once per takeover.
 * </ul>
 *
 * <p>A commit writes all of its keys in one transaction, so they share one revision. Keys outside
 * {@code config/} and {@code meta/} are never read as config; the mirror's one watch follows the
 * {@code status/cp/} keys too, for {@code watchFleetStatus}. Writing config keys by hand (for
 * example with {@code etcdctl}) is unsupported; the store copes (the mirror picks such a write up
 * under its revision, and commits still work), but it bypasses validation and history.
 *
 * <h2>Threading</h2>
 *
 * jetcd runs its callbacks on Vert.x event loops; nothing here runs our logic there. Every callback
 * hops to the store's serial executor (mirror state, watch supervision, timers) or to its callback
 * pool (completing the futures handed to callers). Every unary etcd call carries a gRPC deadline
 * and an outer timeout, so no future waits on an unreachable etcd.
 */
@NullMarked
package dev.sluice.controlplane.store.etcd;

import org.jspecify.annotations.NullMarked;
