/**
 * Metrics: the events the gateway reports ({@link dev.sluice.dataplane.metrics.GatewayMetrics}),
 * their Micrometer meters under the OpenTelemetry GenAI names, and the Prometheus scrape endpoint.
 */
@NullMarked
package dev.sluice.dataplane.metrics;

import org.jspecify.annotations.NullMarked;
