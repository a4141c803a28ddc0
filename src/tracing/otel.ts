/**
 * Spans of proxied requests with the OpenTelemetry SDK, exported over OTLP/HTTP (JSON) to a
 * collector (spec.tracing, docs/observability.md#traces).
 *
 * The SDK is loaded here, on demand (`startTracing`): a gateway without `tracing` never loads it,
 * and the gateway's request path only sees the RequestTracer interface (src/gateway/trace.ts).
 *
 * - One SERVER span per proxied request, started when the request is marked and dispatched (its
 *   start time is the request's arrival) and ended when the exchange ends; a child of the
 *   incoming `traceparent` when that is valid, else the root of a new trace. The upstream receives
 *   a `traceparent` naming this span (a retry is the same span: the header is sent again as is).
 * - Sampling is parent-based: a caller's sampled flag is followed, new traces are kept at
 *   `sampleRatio`. An unsampled request still passes a traceparent on (flag 00), so the services
 *   behind agree not to record it.
 * - Finished spans wait in a bounded queue (`queueSize`) and leave in batches, every second or
 *   every 512 spans, one export at a time: a collector that is away or slow costs dropped spans,
 *   never a request's time. Export failures and drops are logged, at most once a minute each.
 */
import { hostname } from 'node:os';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { ProxyExchange } from '../gateway/proxy.js';
import { formatTraceparent, parseTraceparent, setUpstreamHeader, type RequestTrace, type RequestTracer } from '../gateway/trace.js';
import type { TracingSpec } from '../spec/types.js';

/** Tracing as started: the gateway's tracer, and the flush at the end. */
export interface Tracing {
  readonly tracer: RequestTracer;
  /** Exports what is queued (for at most the export timeout) and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  logger?: Logger;
  /** Resource attributes besides service.name and service.instance.id (a worker adds its slot). */
  attributes?: Attributes;
}

/** Most spans per export: the SDK's default. */
const BATCH = 512;
const EXPORT_EVERY_MS = 1000;
const LOG_EVERY_MS = 60_000;

/**
 * Loads the OpenTelemetry SDK and starts a tracer exporting to `spec.otlp.endpoint`.
 *
 * @example
 * const tracing = await startTracing({ otlp: { endpoint: 'http://127.0.0.1:4318/v1/traces', timeoutMs: 10_000 }, sampleRatio: 1, serviceName: 'graylane', queueSize: 2048 });
 * const gateway = await startGateway({ snapshot, tracer: tracing.tracer });
 */
export async function startTracing(spec: TracingSpec, opts: TracingOptions = {}): Promise<Tracing> {
  const [api, sdk, otlp, resources, core] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  const log = opts.logger;
  if (log !== undefined) {
    // The SDK reports failed exports and dropped spans through its global diagnostics: to the log, rate-limited.
    const warn = rateLimited((message: string) => log.warn({ otlp: spec.otlp.endpoint }, `tracing: ${message}`));
    core.setGlobalErrorHandler((err) => warn(`export failed: ${err instanceof Error ? err.message : String(err)}`));
    api.diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, api.DiagLogLevel.WARN);
  }
  const exporter = new otlp.OTLPTraceExporter({ url: spec.otlp.endpoint, timeoutMillis: spec.otlp.timeoutMs });
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({
      'service.name': spec.serviceName,
      'service.instance.id': `${hostname()}-${process.pid}`,
      ...opts.attributes,
    }),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(spec.sampleRatio) }),
    spanProcessors: [
      new sdk.BatchSpanProcessor(exporter, {
        maxQueueSize: spec.queueSize,
        maxExportBatchSize: Math.min(BATCH, spec.queueSize),
        scheduledDelayMillis: EXPORT_EVERY_MS,
        exportTimeoutMillis: spec.otlp.timeoutMs,
      }),
    ],
  });
  const tracer = new OtelRequestTracer(provider.getTracer('graylane'), api);
  return {
    tracer,
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, spec.otlp.timeoutMs)));
      await Promise.race([provider.shutdown().catch(() => {}), deadline]);
      clearTimeout(timer);
    },
  };
}

/** The span of one request, as the access log and the span's end see it. */
class SpanTrace implements RequestTrace {
  constructor(
    readonly traceId: string,
    readonly span: Span,
  ) {}
}

type Api = typeof import('@opentelemetry/api');

class OtelRequestTracer implements RequestTracer {
  constructor(
    private readonly tracer: Tracer,
    private readonly api: Api,
  ) {}

  start(ex: ProxyExchange, traceparent: string | string[] | undefined, upstreamHeaders: string[]): RequestTrace {
    const { api } = this;
    const parent = parseTraceparent(traceparent);
    const context =
      parent === null
        ? api.ROOT_CONTEXT
        : api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags & 1, isRemote: true });
    const span = this.tracer.startSpan(
      `${ex.req.method} ${ex.route.name}`,
      {
        kind: api.SpanKind.SERVER,
        // The request's arrival (a performance.now() time, which the SDK converts).
        startTime: ex.started,
        attributes: {
          'http.request.method': ex.req.method,
          'graylane.route': ex.route.name,
          'graylane.service': ex.route.service.name,
          'graylane.lane': ex.lane,
          'graylane.rule': ex.by,
        },
      },
      context,
    );
    const sc = span.spanContext();
    setUpstreamHeader(upstreamHeaders, 'traceparent', formatTraceparent(sc.traceId, sc.spanId, (sc.traceFlags & 1) === 1));
    // W3C Trace Context §3.3.1: without a valid traceparent, the caller's tracestate means nothing.
    if (parent === null) setUpstreamHeader(upstreamHeaders, 'tracestate', null);
    return new SpanTrace(sc.traceId, span);
  }

  end(ex: ProxyExchange): void {
    const trace = ex.trace;
    if (!(trace instanceof SpanTrace)) return;
    const span = trace.span;
    if (!span.isRecording()) return;
    span.setAttributes({
      'graylane.version': ex.version,
      'graylane.endpoint': ex.endpoint.url,
      'graylane.retries': ex.retries,
      'http.response.status_code': ex.status,
    });
    if (ex.upstreamFailure !== null) span.setAttribute('error.type', ex.upstreamFailure);
    // A server span is in error for a 5xx only (OpenTelemetry's HTTP conventions); 499 is the client's doing.
    if (ex.status >= 500) span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: ex.upstreamFailure ?? `status ${ex.status}` });
    span.end();
  }
}

/** `fn`, called at most once per LOG_EVERY_MS; what it skipped is counted into the next call's message. */
function rateLimited(fn: (message: string) => void): (message: string) => void {
  let last = -Infinity;
  let skipped = 0;
  return (message) => {
    const now = Date.now();
    if (now - last < LOG_EVERY_MS) {
      skipped++;
      return;
    }
    last = now;
    fn(skipped === 0 ? message : `${message} (and ${skipped} more since the last such line)`);
    skipped = 0;
  };
}
