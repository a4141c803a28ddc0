/**
 * Traffic counting: one recorder the gateway feeds once per request, read by /metrics and the
 * dashboard (cumulative counts), builtin analysis (sliding windows) and clustered mode (published
 * totals summed over gateways).
 */
export { TrafficRecorder, VersionTraffic, RequestSeries, STATUS_CLASSES, OTHER_LANE, type TrafficRecorderOptions, type TrafficCounts, type VersionTotals } from './recorder.js';
export { Ring, windowStats, EMPTY_WINDOW, type WindowStats, type WindowSample, type MetricsSource } from './window.js';
export { SampledTotals, parseCountersDocument, totalsDocument, type CountersDocument, type GatewayAbout, type TotalsDocument, type VersionDocument } from './document.js';
export { LATENCY_BUCKETS, LATENCY_BUCKETS_SECONDS, latencyBucket, percentile, promBucket } from './latency.js';
