/**
 * Observability: request counters fed by the gateway (no prom-client work per request), the
 * Prometheus registry read at scrape time, and the live feed behind the dashboard and `graylane top`.
 */
export { knownLanes } from './lanes.js';
export { createRegistry, ROLLOUT_PHASES, type MetricsSources, type GatewayView, type ReloadCounts } from './registry.js';
export { LiveFeed, type LiveFeedOptions, type OverviewListener } from './live.js';
export { Observability, type ObservabilityOptions, type RolloutSource } from './observability.js';
export type * from './overview.js';
export { RATE_SECONDS, WINDOW_SECONDS, routesOf, servicesOf } from './overview.js';
