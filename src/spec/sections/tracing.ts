/**
 * `tracing`: OpenTelemetry spans of proxied requests, exported over OTLP/HTTP (docs/observability.md#traces).
 * Absent means off, and the Spec then has no `tracing` key (configs without it keep their content
 * hash, and the gateway loads no OpenTelemetry code).
 */
import type { TracingSpec } from '../types.js';
import { isRecord, num, rec, str, type NormalizeContext } from '../context.js';
import { timer } from './gateway.js';

export const DEFAULT_TRACING_SERVICE_NAME = 'graylane';
/** The OpenTelemetry SDK's default queue: enough for seconds of traffic while an export runs. */
export const DEFAULT_TRACING_QUEUE = 2048;
/** The OTLP path of traces, appended to an endpoint given without a path (OTEL_EXPORTER_OTLP_ENDPOINT's rule). */
export const OTLP_TRACES_PATH = '/v1/traces';

export function normalizeTracing(data: Record<string, unknown>, ctx: NormalizeContext): { tracing?: TracingSpec } {
  // Anything but a mapping, unknown keys, a missing otlp: reported by the schema.
  if (!isRecord(data.tracing)) return {};
  const raw = rec(data.tracing);
  const otlp = rec(raw.otlp);
  const endpoint = otlpEndpoint(str(otlp.endpoint), ctx);
  const sampleRatio = num(raw.sampleRatio) ?? 1;
  if (sampleRatio < 0 || sampleRatio > 1) ctx.report(['tracing', 'sampleRatio'], 'out-of-range', `must be from 0 to 1, got ${sampleRatio}`);
  const queueSize = num(raw.queueSize) ?? DEFAULT_TRACING_QUEUE;
  return {
    tracing: {
      otlp: { endpoint: endpoint ?? '', timeoutMs: timer(ctx, ['tracing', 'otlp', 'timeout'], otlp.timeout, 10_000) },
      sampleRatio,
      serviceName: str(raw.serviceName) ?? DEFAULT_TRACING_SERVICE_NAME,
      queueSize,
    },
  };
}

/**
 * The URL spans are posted to. A URL without a path gets `/v1/traces` (as OTEL_EXPORTER_OTLP_ENDPOINT);
 * any other path is taken as the traces URL itself (as OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
 */
function otlpEndpoint(value: string | undefined, ctx: NormalizeContext): string | undefined {
  if (value === undefined) return undefined;
  const path = ['tracing', 'otlp', 'endpoint'];
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    ctx.report(path, 'bad-url', `"${value}" is not an absolute URL, e.g. http://127.0.0.1:4318`);
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    ctx.report(path, 'bad-url', `only http and https URLs (OTLP/HTTP), got ${u.protocol}`);
    return undefined;
  }
  // Credentials in the URL would be logged with it; a collector that needs them belongs behind a local agent.
  if (u.username !== '' || u.password !== '') {
    ctx.report(path, 'bad-url', 'no credentials in the URL: send spans to a local collector that holds them');
    return undefined;
  }
  if (u.pathname === '/' && u.search === '') u.pathname = OTLP_TRACES_PATH;
  return u.href;
}
