/**
 * One proxied request: an undici dispatch handler that streams the upstream response straight
 * into the client response.
 *
 * The exchange is protocol-neutral on the client side: it reads the request through
 * {@link ClientRequest} and writes the response through {@link ClientResponse}, which graylane's
 * HTTP/1.1 engine implements (src/http1: Http1Request, ResponseWriter) and an HTTP/2 stream can
 * implement too. Retry, passive health, mirroring, the access log and the observers live here,
 * once, for every engine.
 *
 * This is what undici's `Pool.stream` does internally, minus its per-request AsyncResource, header
 * object, `finished()` listeners and closures: the handler is one object per request and its
 * methods are on the prototype. It uses undici's callback handler interface (onConnect, onHeaders,
 * onData, onComplete, onError): undici's dispatchers speak it natively and wrap a handler of the
 * newer controller interface into it per request, so using it directly saves two objects and a
 * header parse per request. (Its TypeScript types are marked deprecated; undici 7 still runs every
 * request through it.) graylane's own HTTP/1.1 pool calls onResponseFields instead of onHeaders
 * for a final response: the head is then written from the upstream's bytes, not from strings.
 *
 * Backpressure runs both ways without `stream.pipeline()` (which costs half the throughput on Node
 * 20): undici reads the client request body as a stream and pauses it when the upstream socket is
 * full; for the response, onData returns false when the client socket is full and the client's
 * 'drain' resumes undici's parser.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Assignment, CompiledRoute, Endpoint } from '../routing/types.js';
import type { AccessRecord } from './access-log.js';
import { classifyUpstreamError, errorBody, GRPC_STATUS, retryKind, STATUS, type GatewayErrorCode } from './errors.js';
import { fieldLines, isReadBufferView } from '../http1/index.js';
import { encodeGrpcMessage } from '../http2/index.js';
import { clientResponseHeaders, clientResponseLines, EXPOSED_FIELDS, latin1, responseLength, type RawFields } from './headers.js';
import type { HealthTable } from './health.js';
import type { RequestTrace } from './trace.js';

/** The client's request as an exchange reads it (src/http1's Http1Request is one). */
export interface ClientRequest {
  readonly method: string;
  /** The request target as routed (normalised): what the access log shows. */
  readonly target: string;
  /** Its body has been received to the end (true at once without a body). */
  readonly complete: boolean;
  /** Why the engine refused the body (a malformed chunked coding), or null. */
  readonly bodyRefused: { readonly status: number; readonly reason: string } | null;
  /** The protocol, as the access log shows it; absent: `HTTP/1.1` (src/http1 does not set it). */
  readonly protocol?: string;
}

/**
 * The client's response as an exchange writes it (src/http1's ResponseWriter is one). The engine
 * frames it: the exchange passes no Content-Length, Transfer-Encoding or Connection field.
 */
export interface ClientResponse {
  /** Told when the client leaves before the response is complete. */
  owner: { clientClosed(): void } | null;
  readonly headSent: boolean;
  readonly finished: boolean;
  /** The client is gone: nothing written reaches it. */
  readonly gone: boolean;
  /** An interim (1xx) response before the final one; engines without them leave it out. */
  writeInformational?(status: number, fields: readonly string[]): void;
  /** `length`: the body's bytes, -1 when unknown. `close`: end the connection after this response. */
  writeHead(status: number, fields: readonly string[], length: number, close?: boolean, reason?: string): void;
  /**
   * writeHead with the fields as lines, `name: value` CRLF each, every byte already checked (an
   * HTTP/1.1 engine's; src/http1's ResponseWriter). Absent: the exchange passes arrays.
   */
  writeHeadLines?(status: number, lines: string, length: number, close?: boolean, reason?: string): void;
  /** False when the client is not keeping up: wait for onDrain. */
  /** `transient`: `chunk` is valid only during the call (copy what is kept). */
  write(chunk: Buffer, transient?: boolean): boolean;
  onDrain(fn: () => void): void;
  /**
   * Ends the response. `trailers` (`[name, value, ...]`) are the upstream's, when it sent any: an
   * engine that can carry them does (HTTP/2: gRPC's status lives there); HTTP/1.1 drops them.
   */
  end(trailers?: readonly string[] | null): void;
  /** Cuts the client connection (a response that cannot be completed). */
  destroy(): void;
  /** The client must not stall longer than `ms` for the rest of the exchange. */
  armIdle(ms: number): void;
  /**
   * The request is a gRPC call on an engine that can answer as gRPC does (HTTP/2): the gateway's
   * own errors become a gRPC status (sendError). Absent: false.
   */
  readonly grpc?: boolean;
}

/**
 * An upstream's final response fields as graylane's HTTP/1.1 pool hands them over (src/http1's
 * ResponseFields, valid only during onResponseFields): either as the raw array, or as the field
 * lines a proxy passes on with the upstream's Content-Length beside them.
 */
export interface UpstreamResponseFields {
  /** The upstream's Content-Length, -1 without one. */
  readonly contentLength: number;
  /** `[name, value, ...]`, every field: what onHeaders would have had. */
  toRaw(): string[];
  /** The lines of clientResponseHeaders(toRaw(), null, ...) as `name: value` CRLF each, sliced from the received bytes. */
  proxiedLines(without?: readonly string[]): string;
}

/** Gateway-wide things an exchange reports to; one object for the gateway's lifetime. */
export interface ExchangeSink {
  health: HealthTable;
  /** Receives one record per finished request, or null when the access log is off. */
  log: ((record: AccessRecord) => void) | null;
  /** Told of every finished request (per-version counters for rollout analysis, the tracer's span end), or null. */
  observer: ExchangeObserver | null;
  /** True while draining: responses ask clients to close their connection. */
  draining: boolean;
  /** Requests between start and the end of their response. */
  inFlight: number;
  /** Called when inFlight drops to 0 (drain waits on it). */
  onIdle: (() => void) | null;
  /**
   * Open tunnels (upgraded connections) by client socket, with the version they reach: a snapshot
   * that withdraws that version (an aborted rollout) closes them (GatewayServer.swap).
   */
  tunnels: Map<Socket, { service: string; version: string }>;
  /** Header lines (name, value, ...) added to every response, or null: the opt-in worker header (src/workers/). */
  debugHeaders: readonly string[] | null;
  /** Where a retry of `ex` goes (dispatched like a new request, avoiding the failed endpoint), or null. */
  retryTarget(ex: ProxyExchange): { version: string; endpoint: Endpoint; pool: Dispatcher } | null;
}

/** A ResponseObserver as the gateway calls it: the detail is the exchange itself (src/gateway/trace.ts reads more of it). */
export interface ExchangeObserver {
  recordResponse(service: string, version: string, status: number, durationMs: number, ex: ProxyExchange): void;
}

const SOCKET_GONE = Object.assign(new Error('client closed the connection'), { code: 'UND_ERR_ABORTED' });

/** Status written to the access log when the client went away before the response ended (nginx's 499). */
export const CLIENT_CLOSED = 499;

/**
 * The state of one request proxied to one endpoint. Created by the server after mark and dispatch;
 * `dispatch()` sends it. Fields are public for the access log and tests; nothing else writes them.
 */
export class ProxyExchange implements Dispatcher.DispatchHandler {
  /** HTTP status sent to the client (or 499), 0 until known. */
  status = 0;
  /** The upstream call has ended, one way or another. */
  done = false;
  /** How the upstream failed, if it did (for the observer): refused/reset/garbage, or a timeout. */
  upstreamFailure: 'bad_gateway' | 'upstream_timeout' | null = null;
  /** Retries made so far (service `retry`). */
  retries = 0;
  /**
   * The upstream timeouts were shortened to the client's own deadline (gRPC `grpc-timeout`): a
   * timeout is then the client's budget running out, not the endpoint's fault (no health report).
   */
  clientDeadline = false;
  /** The request's trace (src/gateway/trace.ts), set before dispatch; null when not traced. */
  trace: RequestTrace | null = null;
  /**
   * Leading entries of the upstream headers the gateway vouches for (parsed strictly or written by
   * it), which graylane's HTTP/1.1 pool does not check again (UpstreamRequest.checkedFields); 0: all checked.
   */
  checkedFields = 0;
  /**
   * The field lines rendered for graylane's HTTP/1.1 pool (UpstreamRequest.fieldLines), written
   * before `headers`; null when every field is in `headers`.
   */
  fieldLines: string | null = null;
  #abort: ((err?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #idleArmed = false;
  /** The upstream request as dispatched, kept for a retry (the object undici was given, no copy). */
  #request: (Dispatcher.DispatchOptions & { checkedFields: number; fieldLines: string | null }) | null = null;
  #target = '';
  #idleMs = 0;

  constructor(
    readonly sink: ExchangeSink,
    readonly req: ClientRequest,
    readonly res: ClientResponse,
    readonly route: CompiledRoute,
    readonly lane: string,
    readonly by: string,
    /** Whether marking drew the lane at random or a condition picked it (for builtin compare analysis). */
    readonly assignment: Assignment,
    /** The version and endpoint serving; a retry may move them to the next endpoint in rotation. */
    public version: string,
    public endpoint: Endpoint,
    /** The lane, when the spec exposes it on responses; null otherwise. */
    readonly exposeLane: string | null,
    /** Set-Cookie for a newly issued visitor id, or null. */
    readonly setCookie: string | null,
    readonly started: number,
  ) {}

  /**
   * Sends the request through `pool`; `target` is the client's request target, which the endpoint's
   * base path is put before. Never throws: failures arrive in onError.
   */
  dispatch(
    pool: Dispatcher,
    target: string,
    headers: string[],
    body: Readable | Buffer | null,
    headersMs: number,
    idleMs: number,
    /** The protocols of an upgrade request (`websocket`), which undici writes with `Connection: upgrade`; null otherwise. */
    upgrade: string | null = null,
  ): void {
    this.sink.inFlight++;
    this.res.owner = this;
    this.#target = target;
    this.#idleMs = idleMs;
    this.#request = {
      path: this.endpoint.basePath + target,
      method: this.req.method as Dispatcher.HttpMethod,
      headers,
      body,
      headersTimeout: headersMs,
      bodyTimeout: idleMs,
      upgrade,
      checkedFields: this.checkedFields,
      fieldLines: this.fieldLines,
    };
    pool.dispatch(this.#request, this);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) abort(SOCKET_GONE);
    else this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: RawFields, resume: () => void, statusText: string): boolean {
    const { res, sink } = this;
    if (statusCode < 200) {
      // Informational: 100 Continue is the engine's to send (when it reads the client's body);
      // others (103 Early Hints) are passed on, their hop-by-hop fields removed.
      if (statusCode !== 100 && res.writeInformational !== undefined && !res.headSent && !res.gone) {
        res.writeInformational(statusCode, clientResponseHeaders(rawHeaders, null, this.version, null, false));
      }
      return true;
    }
    if (!this.#responseStarts(statusCode, resume)) return false;
    // Names and values are as undici's parser accepted them; clientResponseHeaders refuses (throws
    // on) a byte that could not be written back as a field, and undici then calls onError: 502.
    const headers = clientResponseHeaders(rawHeaders, this.exposeLane, this.version, this.setCookie, false);
    if (sink.debugHeaders !== null) headers.push(...sink.debugHeaders);
    res.writeHead(statusCode, headers, responseLength(rawHeaders), sink.draining, statusText);
    this.status = statusCode;
    return true;
  }

  /**
   * A final response from graylane's HTTP/1.1 pool, its fields read in place: to an engine that
   * takes field lines (HTTP/1.1), the upstream's lines go out as sliced from its bytes, with the
   * gateway's after them, as onHeaders would write them (byte for byte: the differential test in
   * test/gateway/response-fields.test.ts). Any other engine gets onHeaders' arrays.
   */
  onResponseFields(statusCode: number, fields: UpstreamResponseFields, resume: () => void, statusText: string): boolean {
    const { res, sink } = this;
    if (res.writeHeadLines === undefined || statusCode < 200) return this.onHeaders(statusCode, fields.toRaw(), resume, statusText);
    if (!this.#responseStarts(statusCode, resume)) return false;
    const upstream = fields.proxiedLines(this.exposeLane === null ? undefined : EXPOSED_FIELDS);
    let lines = clientResponseLines(upstream, this.exposeLane, this.version, this.setCookie);
    if (sink.debugHeaders !== null) lines += fieldLines(sink.debugHeaders);
    res.writeHeadLines(statusCode, lines, fields.contentLength, sink.draining, statusText);
    this.status = statusCode;
    return true;
  }

  /** A final response arrived: passive health is told; false when the client has already left. */
  #responseStarts(statusCode: number, resume: () => void): boolean {
    if (this.res.gone) {
      this.clientClosed();
      return false;
    }
    this.#resume = resume;
    const health = this.sink.health;
    if (statusCode >= 500) health.reportFailure(this.endpoint.origin, this.route.service.passiveHealth);
    else health.reportSuccess(this.endpoint.origin);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.res;
    // A view of the pool's shared read buffer lives only as long as this call.
    if (res.write(chunk, isReadBufferView(chunk))) return true;
    res.onDrain(this.#resume!);
    if (!this.#idleArmed) {
      this.#idleArmed = true;
      // The client is not keeping up: from now on it must not stall longer than the idle timeout.
      res.armIdle(this.#idleMs);
    }
    return false;
  }

  /** `trailers`: undici's types say strings; its HTTP/1.1 client passes raw Buffers, its HTTP/2 one an object. */
  onComplete(trailers: string[] | null): void {
    this.done = true;
    this.res.end(trailers === null || trailers === undefined ? null : trailerFields(trailers as unknown as RawTrailers));
    this.finish();
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    if (res.gone) {
      // The client went away (an aborted upload ends up here): not the upstream's fault.
      this.status = CLIENT_CLOSED;
      this.finish();
      return;
    }
    const refused = this.req.bodyRefused;
    if (refused !== null) {
      // The client's body framing broke mid-upload: the upstream request is aborted, the client
      // told why, and the connection closes (nothing after the bad chunk can be framed).
      this.status = refused.status;
      if (res.headSent) res.destroy();
      else sendError(res, refused.status === 431 ? 'headers_too_large' : 'bad_request', true, this.sink.debugHeaders, { reason: refused.reason });
      this.finish();
      return;
    }
    const failure = classifyUpstreamError(err);
    // Failures of our own making (an aborted or malformed request) are not the upstream's, nor
    // is a timeout the client's own deadline set.
    const unhealthy = failure.unhealthy && !(this.clientDeadline && failure.code === 'upstream_timeout');
    if (failure.unhealthy) this.upstreamFailure = failure.code;
    if (unhealthy && this.status === 0 && !res.headSent) {
      this.sink.health.reportFailure(this.endpoint.origin, this.route.service.passiveHealth);
      if (this.#retry(err)) return;
    }
    if (res.headSent) {
      // Mid-body: the only honest signal left is to cut the client connection.
      res.destroy();
    } else {
      this.status = STATUS[failure.code];
      // A request body not read to its end leaves the connection's framing unknown: close it.
      sendError(res, failure.code, this.sink.draining || !this.req.complete, this.sink.debugHeaders, {
        route: this.route.name,
        version: this.version,
        endpoint: this.endpoint.url,
      });
    }
    this.finish();
  }

  /**
   * Sends the request once more when the service's `retry` allows it: an idempotent method without
   * a body, a failure before any response (connect error or reset, as configured), attempts left,
   * and a target (the next endpoint in rotation; the fallback if the lane's version is now down).
   * Nothing was sent to the client yet and no body was consumed, so the retry is invisible to it.
   */
  #retry(err: Error): boolean {
    const policy = this.route.service.retry;
    const request = this.#request;
    if (policy === undefined || request === null || request.body !== null || this.retries >= policy.attempts) return false;
    const method = request.method;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') return false;
    const kind = retryKind(err);
    if (kind === null || !policy.on.includes(kind)) return false;
    const next = this.sink.retryTarget(this);
    if (next === null) return false;
    this.retries++;
    this.done = false;
    this.upstreamFailure = null;
    this.#abort = null;
    this.version = next.version;
    this.endpoint = next.endpoint;
    request.path = next.endpoint.basePath + this.#target;
    next.pool.dispatch(request, this);
    return true;
  }

  /** The client went away before the upstream call ended: abort it (upstream request included). */
  clientClosed(): void {
    if (this.done) return;
    this.done = true;
    this.status = CLIENT_CLOSED;
    const abort = this.#abort;
    this.#abort = null;
    if (abort !== null) abort(SOCKET_GONE);
    this.finish();
  }

  /**
   * The exchange is over: the observer is told, the access-log line written (unless `log` is
   * false: a tunnel writes it when it closes, see writeLog) and the request leaves the in-flight count.
   */
  protected finish(log = true): void {
    const sink = this.sink;
    if (sink.observer !== null) {
      sink.observer.recordResponse(this.route.service.name, this.version, this.status, performance.now() - this.started, this);
    }
    if (log) this.writeLog();
    if (--sink.inFlight === 0 && sink.onIdle !== null) sink.onIdle();
  }

  /** Writes the access-log line of this exchange (its status, the time since the request arrived). */
  protected writeLog(): void {
    const log = this.sink.log;
    if (log === null) return;
    log({
      method: this.req.method,
      protocol: this.req.protocol ?? HTTP1,
      path: this.req.target,
      route: this.route.name,
      lane: this.lane,
      by: this.by,
      version: this.version,
      endpoint: this.endpoint.url,
      status: this.status,
      ms: Math.round((performance.now() - this.started) * 1000) / 1000,
      traceId: this.trace === null ? null : this.trace.traceId,
    });
  }
}

/**
 * Answers a request with the gateway's own JSON error. `close` asks the client to close the
 * connection (draining); `debugHeaders` are the opt-in worker header, or null.
 */
export function sendError(
  res: ClientResponse,
  code: GatewayErrorCode,
  close: boolean,
  debugHeaders: readonly string[] | null,
  fields: Record<string, string | null>,
): void {
  if (res.grpc === true) return sendGrpcError(res, code, debugHeaders, fields);
  const body = Buffer.from(errorBody(code, fields));
  res.writeHead(STATUS[code], debugHeaders === null ? JSON_FIELDS : [...JSON_FIELDS, ...debugHeaders], body.length, close);
  res.write(body);
  res.end();
}

const JSON_FIELDS: readonly string[] = ['content-type', 'application/json'];

/**
 * A gRPC call the gateway fails itself is answered as a gRPC server would: HTTP 200 and a
 * trailers-only response (one HEADERS frame) with `grpc-status` and `grpc-message`, so the client
 * sees UNIMPLEMENTED, UNAVAILABLE or DEADLINE_EXCEEDED rather than a protocol error. The message
 * is the JSON body the HTTP answer would have had.
 */
function sendGrpcError(res: ClientResponse, code: GatewayErrorCode, debugHeaders: readonly string[] | null, fields: Record<string, string | null>): void {
  const head = ['content-type', 'application/grpc', 'grpc-status', String(GRPC_STATUS[code]), 'grpc-message', encodeGrpcMessage(errorBody(code, fields))];
  if (debugHeaders !== null) head.push(...debugHeaders);
  res.writeHead(200, head, -1);
  res.end();
}

const HTTP1 = 'HTTP/1.1';

/**
 * The upstream's trailers as `[name, value, ...]`: raw Buffers from an HTTP/1.1 upstream (undici's
 * parser), a header object from an HTTP/2 one.
 */
type RawTrailers = readonly (Buffer | string)[] | Record<string, string | string[] | undefined>;

function trailerFields(trailers: RawTrailers): string[] | null {
  const out: string[] = [];
  if (isList(trailers)) {
    for (let i = 0; i + 1 < trailers.length; i += 2) out.push(latin1(trailers[i]!), latin1(trailers[i + 1]!));
  } else {
    for (const name in trailers) {
      const value = trailers[name];
      if (value === undefined || name.charCodeAt(0) === 58 /* : */) continue;
      if (typeof value === 'string') out.push(name, value);
      else for (const v of value) out.push(name, v);
    }
  }
  return out.length === 0 ? null : out;
}

function isList(t: RawTrailers): t is readonly (Buffer | string)[] {
  return Array.isArray(t);
}

