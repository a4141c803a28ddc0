/** OpenTelemetry spans of proxied requests (spec.tracing); the SDK loads only when startTracing is called. */
export { startTracing, type Tracing, type TracingOptions } from './otel.js';
