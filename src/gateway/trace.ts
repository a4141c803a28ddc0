/**
 * Distributed tracing at the gateway (W3C Trace Context, https://www.w3.org/TR/trace-context/):
 * the hook a tracer (src/tracing, OpenTelemetry) plugs into, and the `traceparent` parsing the
 * access log needs without one.
 *
 * The gateway knows nothing of OpenTelemetry: with tracing configured, the tracer starts a span
 * when a request has been marked and dispatched (`start`: it also rewrites the upstream's
 * `traceparent` to name that span) and ends it when the exchange ends (`end`, composed into the
 * gateway's observer, so the exchange itself has no tracing branch). Without tracing and without
 * an access log, the gateway's whole cost is one null check per request.
 */
import type { ResponseObserver } from './observer.js';
import type { ExchangeObserver, ProxyExchange } from './proxy.js';

/** A request's place in a trace: what the access log shows. */
export interface RequestTrace {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
}

/** A tracer of proxied requests (src/tracing/otel.ts). */
export interface RequestTracer {
  /**
   * `ex` is about to be sent upstream: start its span, a child of `traceparent` when that is a
   * valid one, and make `upstreamHeaders` (the flat name/value array) carry a traceparent naming the span.
   */
  start(ex: ProxyExchange, traceparent: string | string[] | undefined, upstreamHeaders: string[]): RequestTrace;
  /** `ex` ended (its status, version, endpoint and retries are final): end its span. */
  end(ex: ProxyExchange): void;
}

/** A parsed `traceparent`. */
export interface TraceParent {
  traceId: string;
  /** The caller's span: the parent of the gateway's. */
  spanId: string;
  /** The trace-flags byte; bit 0 is `sampled`. */
  flags: number;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/**
 * A `traceparent` value as W3C Trace Context §3.2 defines it: `version-traceid-parentid-flags`,
 * lower-case hex, ids not all zero, version `ff` invalid. A later version may append fields after a
 * `-` (§3.2.4: parse the four known ones). Anything else, including the header sent twice (joined
 * into one longer value) is null: the request then starts a new trace, as §3.2 asks.
 */
export function parseTraceparent(value: string | string[] | undefined): TraceParent | null {
  if (typeof value !== 'string' || value.length < 55) return null;
  const version = value.slice(0, 2);
  if (version === 'ff' || !HEX.test(version)) return null;
  if (version === '00' ? value.length !== 55 : value.length > 55 && value[55] !== '-') return null;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return null;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

/** The `traceparent` (version 00) naming span `spanId` of trace `traceId`. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/**
 * Sets header `name` (lower-case) in a flat upstream header array: the first line of that name gets
 * `value` and any later ones are removed; none: one is appended. `value` null removes them all.
 */
export function setUpstreamHeader(headers: string[], name: string, value: string | null): void {
  let found = value === null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== name) continue;
    if (!found) {
      headers[i + 1] = value!;
      found = true;
    } else {
      headers.splice(i, 2);
      i -= 2;
    }
  }
  if (!found) headers.push(name, value!);
}

/**
 * How the gateway starts each proxied request's trace: with a tracer, its `start`; with only the
 * access log, the trace id of a valid incoming traceparent (the log line joins the caller's trace);
 * with neither, null (nothing is done per request).
 */
export type TraceStart = (ex: ProxyExchange, traceparent: string | string[] | undefined, upstreamHeaders: string[]) => RequestTrace | null;

export function traceStartOf(tracer: RequestTracer | null, accessLog: boolean): TraceStart | null {
  if (tracer !== null) return (ex, traceparent, headers) => tracer.start(ex, traceparent, headers);
  if (accessLog) return (_ex, traceparent) => incomingTrace(traceparent);
  return null;
}

/** The trace of an incoming traceparent, when valid: what the access log shows without a tracer. */
export function incomingTrace(traceparent: string | string[] | undefined): RequestTrace | null {
  const parent = parseTraceparent(traceparent);
  return parent === null ? null : { traceId: parent.traceId };
}

/** The observer the exchanges report to: `observer` (the traffic recorder), then the tracer ends the span. */
export function tracedObserver(observer: ResponseObserver | null, tracer: RequestTracer): ExchangeObserver {
  return {
    recordResponse(service, version, status, durationMs, ex) {
      if (observer !== null) observer.recordResponse(service, version, status, durationMs, ex);
      tracer.end(ex);
    },
  };
}
