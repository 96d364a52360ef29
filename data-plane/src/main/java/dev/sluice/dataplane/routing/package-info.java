/**
 * Routing: from a public model name to the backend attempts that serve a request.
 *
 * <p>{@link dev.sluice.dataplane.routing.RouteTable} is the immutable view of the models, versions,
 * backends and routes of one config version. {@link dev.sluice.dataplane.routing.Router} matches a
 * request to a route, splits traffic by weight, balances over a version's backends and runs the
 * attempts: retries, fallbacks and timeouts, never after output reached the client. The only
 * mutable state (requests in flight, latency averages, outlier ejections, retry budgets) lives in
 * small lock-free objects that a new table inherits from the one it replaces.
 */
@NullMarked
package dev.sluice.dataplane.routing;

import org.jspecify.annotations.NullMarked;
