/**
 * The gateway: matches, marks and dispatches each request against the current Snapshot and proxies
 * it over keep-alive pools.
 *
 * Every listener (the main one, the mesh one) serves HTTP/1.x through graylane's own engine
 * (src/http1): a `net.Server` hands each connection to an Http1Connection, which parses heads into
 * offsets, refuses anything strict llhttp refuses (and more), and hands each request to
 * #onRequest with the ResponseWriter that frames its answer. The engine needs only a connected
 * stream socket, so a TLSSocket takes the same path. There is no http.Server in the data plane.
 *
 * The Snapshot is one reference, read once at the start of each request; `swap()` replaces it, so a
 * request sees the old rules or the new, never a mix. Pools, passive health, mirror counters and
 * open tunnels belong to the gateway and outlive snapshots, which is what lets keep-alive and
 * WebSocket connections survive a reload.
 *
 * Mesh mode (routing/mesh.ts) is a second listener served by the same handler: only the route
 * lookup differs (the snapshot's implicit per-service routes instead of the declared ones) and the
 * `/<service>` prefix, when the service was named by path, is cut from the upstream target.
 */
import { randomUUID } from 'node:crypto';
import { constants as h2 } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import type { DestinationStream, Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { Http1Connection, Http1Sweep, readWithBuffer, type Http1Handler, type Http1Request, type ParseError, type ResponseWriter } from '../http1/index.js';
import { grpcTimeoutMs, Http2Sessions, type Http2Handler, type Http2Request, type Http2Response } from '../http2/index.js';
import { dispatch, headerValue, stripMeshPrefix } from '../routing/index.js';
import type { CompiledRoute, Endpoint, MarkContext, Snapshot } from '../routing/types.js';
import { openAccessLog, type AccessLog } from './access-log.js';
import { STATUS, type GatewayErrorCode } from './errors.js';
import { clientAddress, compileModifier, forwardHeaders, renderFields, visitorCookie, type ForwardContext } from './headers.js';
import { HealthTable } from './health.js';
import { Mirror, type MirrorCounters, type MirrorSource } from './mirror.js';
import type { ResponseObserver } from './observer.js';
import { PoolSet } from './pools.js';
import { PrefaceSniffer } from './preface.js';
import { ProxyExchange, sendError, type ClientRequest, type ClientResponse, type ExchangeSink } from './proxy.js';
import { RequestBody } from './request-body.js';
import { checkHttp2Request, checkTarget, limitsOf } from './request-guard.js';
import { hostOf, viewOf } from './request-view.js';
import { alpnProtocols, TlsContexts, type TlsConfig } from './tls.js';
import { incomingTrace, traceStartOf, tracedObserver, type RequestTracer, type TraceStart } from './trace.js';
import { tunnelProtocols, UpgradeExchange, type TunnelOptions } from './websocket.js';

/** A request of either engine, as routing, the exchange and mirroring read it. */
type EngineRequest = ClientRequest & MirrorSource & { target: string };

/**
 * One listener as the gateway starts it: where, and how the port speaks. Plain data (a primary
 * sends it to its workers), TLS certificates included as read (src/gateway/certificates.ts).
 */
export interface ListenerOptions {
  /** How the config names it, for messages and certificate reloads: `listen`, `listen[1]`, `mesh.listen`. */
  name: string;
  host: string;
  /** 0 picks a free port, see Gateway.listeners. */
  port: number;
  /** TLS with these certificates; absent = clear text. */
  tls?: TlsConfig;
  /** With tls: `h2` offered by ALPN besides `http/1.1`. */
  http2?: boolean;
  /** Clear-text HTTP/2 with prior knowledge beside HTTP/1.1: a connection's first bytes say which (preface.ts). */
  h2c?: boolean;
  /** Answer every request with a 308 to https:// on this port (443 is left out of the URL). */
  redirectHttpsPort?: number;
}

/** Where a listener listens (the real port when 0 was asked for), and how it speaks. */
export interface ListenerAddress {
  name: string;
  host: string;
  port: number;
  tls: boolean;
  http2: boolean;
  h2c: boolean;
  mesh: boolean;
}

export interface GatewayOptions {
  snapshot: Snapshot;
  /** Listen address; default 127.0.0.1. Ignored when `listeners` is given. */
  host?: string;
  /** Listen port; 0 (default) picks a free one, see Gateway.address. Ignored when `listeners` is given. */
  port?: number;
  /** Every listener (spec.listeners); default one plain listener at host:port. The first is `address`. */
  listeners?: ListenerOptions[];
  /** Operational log (startup problems, internal errors); never written per request. */
  logger?: Logger;
  /** Write the access log; default: the spec's `accessLog`. */
  accessLog?: boolean;
  /** Where access-log lines go; default stdout through an asynchronous pino destination. */
  accessLogDestination?: DestinationStream;
  /** Clock of passive health (epoch ms); default Date.now. */
  now?: () => number;
  /** Randomness of marking for anonymous traffic; default Math.random. */
  random?: () => number;
  /** Visitor ids for anonymous stickiness; default crypto.randomUUID. */
  newVisitorId?: () => string;
  /** Upstream connections per origin; default 64. */
  connectionsPerOrigin?: number;
  /** How long the pool of an origin that left the config stays open; default 30 s. */
  poolGraceMs?: number;
  /** Told of every proxied request's end (service, version, status, duration): rollout analysis. */
  observer?: ResponseObserver;
  /** Spans of proxied requests (spec.tracing, src/tracing); default none: no tracing work per request. */
  tracer?: RequestTracer;
  /**
   * Header lines (name, value, ...) added to every response the gateway sends, proxied or its own:
   * the opt-in `debug.workerHeader` naming the worker that served (src/workers/). Default none.
   */
  debugHeaders?: readonly string[];
  /** Also listen here for mesh requests (spec.mesh); they use the snapshot's mesh routes. Default: no mesh listener. */
  mesh?: { host?: string; port?: number } & Partial<Omit<ListenerOptions, 'host' | 'port'>>;
}

/** A running gateway. */
export interface Gateway {
  /** Where it listens (the real port when 0 was asked for): the first listener. */
  readonly address: { host: string; port: number };
  /** Where the mesh listener listens; null without one. */
  readonly meshAddress: { host: string; port: number } | null;
  /** Every listener, the gateway's in config order, then the mesh one. */
  readonly listeners: readonly ListenerAddress[];
  /**
   * Serves `config`'s certificates on the TLS listener `name` from the next handshake on; open
   * connections keep theirs. Throws (and changes nothing) when a context cannot be built.
   */
  setCertificates(name: string, config: TlsConfig): void;
  /** Serve `snapshot` from the next request on. */
  swap(snapshot: Snapshot): void;
  /** The snapshot being served. */
  snapshot(): Snapshot;
  /** The passive health table (ejected origins). */
  readonly health: HealthTable;
  /** Mirror outcome counters, live. */
  readonly mirror: Readonly<MirrorCounters>;
  /** Requests being proxied right now. */
  inFlight(): number;
  /**
   * Stop accepting connections, let in-flight requests finish for up to `drainMs` (default: the
   * spec's drainMs), close keep-alive connections as they fall idle, cut the rest at the deadline,
   * then close the upstream pools and flush the access log. Idempotent.
   */
  close(opts?: { drainMs?: number }): Promise<void>;
}

/**
 * Starts a gateway serving `opts.snapshot`; resolves once it listens.
 *
 * @example
 * const gateway = await startGateway({ snapshot: compile(spec), host: '127.0.0.1', port: 8080 });
 * gateway.swap(compile(nextSpec));
 * await gateway.close({ drainMs: 5000 });
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const gw = new GatewayServer(opts);
  try {
    await gw.listen();
  } catch (err) {
    await gw.close({ drainMs: 0 });
    throw err;
  }
  return gw;
}

/** A listener's server and what it was started with. */
interface Listening {
  readonly options: ListenerOptions;
  readonly mesh: boolean;
  server: net.Server;
  /** TLS listeners: the contexts reloads replace. */
  contexts: TlsContexts | null;
  /** The HTTP/2 engine's handler of an h2c listener or a TLS listener with http2; null otherwise. */
  http2: Http2Handler | null;
  address: ListenerAddress | null;
}

class GatewayServer implements Gateway {
  readonly health: HealthTable;
  /** The gateway's listeners in config order, then the mesh one. */
  readonly #listening: Listening[];
  /** Deadlines (head timeout, keep-alive) of every connection of both listeners: one timer. */
  readonly #sweep = new Http1Sweep(KEEP_ALIVE_TIMEOUT_MS);
  /** HTTP/2 sessions of every listener that speaks it. */
  readonly #http2 = new Http2Sessions(() => this.#limits(), KEEP_ALIVE_TIMEOUT_MS);
  /** Connections of h2c listeners whose first bytes have not yet said HTTP/2 or HTTP/1.1. */
  readonly #sniffer = new PrefaceSniffer();
  readonly #pools: PoolSet;
  readonly #mirror: Mirror;
  readonly #sink: ExchangeSink;
  readonly #markContext: MarkContext;
  readonly #logger: Logger | undefined;
  readonly #accessLog: AccessLog | null;
  /** Starts a request's trace (a span, or only the incoming trace id for the access log); null: neither. */
  readonly #startTrace: TraceStart | null;
  /** A tracer may add or remove upstream fields (traceparent). */
  readonly #tracer: boolean;
  /** Read by each connection when it opens (and by each head for its timeout): reloads apply to the next. */
  readonly #limits = () => limitsOf(this.#snapshot.spec);
  #snapshot: Snapshot;
  #closing: Promise<void> | null = null;

  constructor(opts: GatewayOptions) {
    const spec = opts.snapshot.spec;
    this.#snapshot = opts.snapshot;
    this.#logger = opts.logger;
    this.health = new HealthTable(opts.now ?? Date.now);
    this.health.track(versionOriginsOf(opts.snapshot));
    this.#pools = new PoolSet({
      connectTimeoutMs: spec.timeouts.connectMs,
      connections: opts.connectionsPerOrigin,
      graceMs: opts.poolGraceMs,
    });
    this.#mirror = new Mirror(this.#pools, this.health);
    this.#markContext = { random: opts.random ?? Math.random, newVisitorId: opts.newVisitorId ?? randomUUID };
    const accessLog = opts.accessLog ?? spec.accessLog;
    this.#accessLog = accessLog ? openAccessLog(opts.accessLogDestination) : null;
    this.#sink = {
      health: this.health,
      log: this.#accessLog === null ? null : this.#accessLog.write,
      observer: opts.tracer === undefined ? (opts.observer ?? null) : tracedObserver(opts.observer ?? null, opts.tracer),
      draining: false,
      inFlight: 0,
      onIdle: null,
      tunnels: new Map(),
      debugHeaders: opts.debugHeaders === undefined || opts.debugHeaders.length === 0 ? null : opts.debugHeaders,
      retryTarget: (ex) => this.#retryTarget(ex),
    };
    this.#startTrace = traceStartOf(opts.tracer ?? null, this.#accessLog !== null);
    this.#tracer = opts.tracer !== undefined;
    const listeners = opts.listeners ?? [{ name: 'listen', host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 }];
    this.#listening = listeners.map((l) => this.#createListener(l, false));
    if (opts.mesh !== undefined) {
      const { host, port, ...rest } = opts.mesh;
      this.#listening.push(this.#createListener({ name: 'mesh.listen', ...rest, host: host ?? '127.0.0.1', port: port ?? 0 }, true));
    }
  }

  /**
   * A listener: a net.Server, or a tls.Server for TLS. `allowHalfOpen`: the engine, not Node,
   * decides what a client's FIN means (the end of an idle connection, or a client gone
   * mid-request: 499 and the upstream request aborted); a TLSSocket inherits it.
   */
  #createListener(options: ListenerOptions, mesh: boolean): Listening {
    const redirect = options.redirectHttpsPort;
    const proto = options.tls === undefined ? 'http' : 'https';
    const handler: Http1Handler = {
      onRequest: redirect === undefined ? (req, res) => this.#onRequest(req, res, mesh, proto) : (req, res) => this.#redirect(req, res, redirect),
      onRefused: (err, res) => this.#onRefused(err, res),
      onTimeout: onConnectionIdle,
    };
    const serveHttp1 = (socket: net.Socket): void => {
      // A connection accepted while draining is not served (the listener is closing).
      if (this.#closing !== null) return void socket.destroy();
      new Http1Connection(socket, handler, this.#limits, this.#sweep);
    };
    const http2 = options.h2c === true || (options.tls !== undefined && options.http2 === true);
    const listening: Listening = { options, mesh, server: null!, contexts: null, address: null, http2: http2 ? this.#http2Handler(mesh, proto) : null };
    if (options.tls === undefined && options.h2c === true) {
      listening.server = net.createServer({ allowHalfOpen: true }, this.#onH2cSocket(serveHttp1, listening));
      return listening;
    }
    if (options.tls === undefined) {
      listening.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted) => this.#servePlain(accepted, handler));
      return listening;
    }
    const contexts = new TlsContexts(options.tls);
    listening.contexts = contexts;
    listening.server = tls.createServer(
      {
        ...contexts.serverOptions(),
        SNICallback: contexts.sniCallback,
        ALPNProtocols: alpnProtocols(options.http2 === true),
        // A handshake gets the time a request head gets (limits.headersTimeout, read at start):
        // Node's default of 120 s lets a client that never finishes hold a socket for two minutes.
        handshakeTimeout: this.#limits().headersTimeoutMs,
        allowHalfOpen: true,
      },
      (socket) => (socket.alpnProtocol === 'h2' ? this.#onHttp2Socket(socket, listening) : serveHttp1(socket)),
    );
    // A failed handshake (plaintext on the TLS port, no shared protocol version, the handshake
    // timeout) only emits this: Node leaves the socket open (fastify#3251), so a client that never
    // finishes its handshake would hold it for good.
    listening.server.on('tlsClientError', (_err: Error, socket: tls.TLSSocket) => socket.destroy());
    return listening;
  }

  /**
   * A plain listener's connection, accepted paused: re-wrapped to read into the shared buffer
   * (src/http1/read-buffer.ts), then served by the HTTP/1.1 engine.
   */
  #servePlain(accepted: net.Socket, handler: Http1Handler): void {
    // A connection accepted while draining is not served (the listener is closing).
    if (this.#closing !== null) return void accepted.destroy();
    let connection: Http1Connection | null = null;
    const { socket } = readWithBuffer(accepted, true, (s, chunk) => {
      if (connection !== null && !connection.detached) {
        connection.feed(chunk);
        return true;
      }
      // The socket is a tunnel's now (an upgrade): the tunnel reads it as a stream.
      return s.push(chunk);
    });
    connection = new Http1Connection(socket, handler, this.#limits, this.#sweep);
  }

  /**
   * A connection of an `h2c` listener: its first bytes say which engine serves it, the HTTP/2
   * preface (prior knowledge, RFC 9113 §3.3) src/http2, anything else HTTP/1.1 (preface.ts). They
   * get limits.headersTimeout to say it.
   */
  #onH2cSocket(serveHttp1: (socket: net.Socket) => void, listening: Listening): (socket: net.Socket) => void {
    const routes = { http1: serveHttp1, http2: (socket: net.Socket) => this.#onHttp2Socket(socket, listening) };
    return (socket) => {
      if (this.#closing !== null) return void socket.destroy();
      this.#sniffer.sniff(socket, this.#limits().headersTimeoutMs, routes);
    };
  }

  /**
   * A connection that speaks HTTP/2, negotiated by ALPN (`h2`) on a TLS listener with `http2`, or
   * by its preface on an `h2c` listener: src/http2 serves it.
   * (`Upgrade: h2c` over HTTP/1.1 is never honoured: websocket.ts.)
   */
  #onHttp2Socket(socket: net.Socket, listening: Listening): void {
    // A connection accepted while draining is not served (the listener is closing).
    if (this.#closing !== null || listening.http2 === null) return void socket.destroy();
    this.#http2.serve(socket, listening.http2);
  }

  #http2Handler(mesh: boolean, proto: 'http' | 'https'): Http2Handler {
    return {
      onStream: (req, res) => this.#onStream(req, res, mesh, proto),
      onTimeout: onStreamIdle,
    };
  }

  async listen(): Promise<void> {
    for (const l of this.#listening) {
      const { host, port } = await listenOn(l.server, l.options.host, l.options.port);
      const o = l.options;
      l.address = { name: o.name, host, port, tls: o.tls !== undefined, http2: o.http2 === true, h2c: o.h2c === true, mesh: l.mesh };
    }
  }

  get address(): { host: string; port: number } {
    const a = this.#listening[0]?.address;
    return a === null || a === undefined ? { host: '', port: 0 } : { host: a.host, port: a.port };
  }

  get meshAddress(): { host: string; port: number } | null {
    const a = this.#listening.find((l) => l.mesh)?.address;
    return a === null || a === undefined ? null : { host: a.host, port: a.port };
  }

  get listeners(): readonly ListenerAddress[] {
    return this.#listening.flatMap((l) => (l.address === null ? [] : [l.address]));
  }

  setCertificates(name: string, config: TlsConfig): void {
    const l = this.#listening.find((x) => x.options.name === name);
    if (l === undefined || l.contexts === null) throw new Error(`no TLS listener named ${name}`);
    // replace() builds every context before it swaps any: a certificate OpenSSL refuses changes
    // nothing, and the default context below is built from the same, accepted, material.
    l.contexts.replace(config);
    (l.server as tls.Server).setSecureContext({ ...l.contexts.serverOptions() });
  }

  get mirror(): Readonly<MirrorCounters> {
    return this.#mirror.counters;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  inFlight(): number {
    return this.#sink.inFlight;
  }

  swap(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    // An aborted rollout's canary gets no traffic at all: tunnels opened to it before close now.
    for (const [socket, t] of this.#sink.tunnels) {
      if (snapshot.services.get(t.service)?.byName.get(t.version)?.withdrawn === true) socket.destroy();
    }
    const origins = originsOf(snapshot);
    this.#pools.retain(origins, snapshot.spec.timeouts.connectMs);
    this.health.track(versionOriginsOf(snapshot));
  }

  /** A request the engine parsed (its head is valid HTTP/1.x, within the limits). */
  #onRequest(req: Http1Request, res: ResponseWriter, mesh: boolean, proto: 'http' | 'https'): void {
    const started = this.#sink.log === null && this.#sink.observer === null ? 0 : performance.now();
    try {
      const fields = req.fields;
      let url = req.target;
      const checked = checkTarget(headerValue(fields, 'host'), url);
      if (typeof checked !== 'string') {
        return this.#answer(req, res, checked.code, started, null, { reason: checked.reason }, checked.close === true);
      }
      // Mirror copies, the access log and mesh prefix stripping all read the normalised target.
      if (checked !== url) req.target = url = checked;
      // An upgrade (WebSocket) is tunnelled only over HTTP/1.1, without a body, to protocols other
      // than HTTP/2's; otherwise the request is served as the plain request it also is.
      let upgrade: TunnelOptions | null = null;
      if (req.upgrade) {
        const protocols = tunnelProtocols(headerValue(fields, 'upgrade'));
        if (protocols === null) {
          return this.#answer(req, res, 'bad_request', started, null, { reason: 'the Upgrade header must be a list of protocols' });
        }
        if (protocols !== '' && req.minor === 1 && !req.hasBody) {
          upgrade = { protocols, connection: req.connection, idleMs: this.#snapshot.spec.timeouts.tunnelIdleMs };
        }
      }
      // A small body that arrived with the head goes upstream as bytes, with the head, in one
      // write; any other is streamed as it arrives.
      const body = req.hasBody ? (req.takeBody(WHOLE_BODY_BYTES) ?? new RequestBody(req)) : null;
      this.#proxy(req, res, url, mesh, started, body, upgrade, req.connection.socket.remoteAddress, proto, 0);
    } catch (err) {
      this.#internalError(err, req, res, started);
    }
  }

  /**
   * A request on an HTTP/2 stream. node:http2 (nghttp2) has refused malformed framing, pseudo-
   * header fields and connection-specific fields (RFC 9113 §8.2.2, §8.3) with RST_STREAM; what
   * HTTP/1.1's engine checks in the head is checked here, with the same answers.
   */
  #onStream(req: Http2Request, res: Http2Response, mesh: boolean, proto: 'http' | 'https'): void {
    const started = this.#sink.log === null && this.#sink.observer === null ? 0 : performance.now();
    try {
      const refusal = checkHttp2Request(req, this.#limits());
      if (refusal !== null) return this.#answer(req, res, refusal.code, started, null, { reason: refusal.reason });
      let url = req.target;
      const checked = checkTarget(req.headers.host, url);
      if (typeof checked !== 'string') return this.#answer(req, res, checked.code, started, null, { reason: checked.reason });
      if (checked !== url) req.target = url = checked;
      // A gRPC call's deadline bounds the gateway's wait: past it the client has given up.
      const timeout = req.headers['grpc-timeout'];
      const deadlineMs = res.grpc && typeof timeout === 'string' ? (grpcTimeoutMs(timeout) ?? 0) : 0;
      this.#proxy(req, res, url, mesh, started, req.hasBody ? req.body() : null, null, req.remoteAddress, proto, deadlineMs);
    } catch (err) {
      this.#internalError(err, req, res, started);
    }
  }

  /**
   * Routes, marks and dispatches a checked request of either engine and sends it upstream.
   * `deadlineMs` (0: none) shortens the upstream timeouts to the client's own deadline.
   */
  #proxy(
    req: EngineRequest,
    res: ClientResponse,
    url: string,
    mesh: boolean,
    started: number,
    body: Readable | Buffer | null,
    upgrade: TunnelOptions | null,
    remoteAddress: string | undefined,
    proto: 'http' | 'https',
    deadlineMs: number,
  ): void {
    const snapshot = this.#snapshot;
    const fields = req.fields;
    const view = viewOf(url, fields);
    let route: CompiledRoute | undefined;
    if (mesh) {
      const named = snapshot.mesh?.match(view.host, view.path);
      if (named !== undefined) {
        route = named.route;
        url = stripMeshPrefix(url, named.strip);
      }
    } else {
      route = snapshot.matchRoute(view.host, view.path);
    }
    if (route === undefined) {
      return this.#answer(req, res, 'no_route', started, null, { host: view.host, path: view.path });
    }
    const mark = route.mark(view, this.#markContext);
    const target = dispatch(route.service, mark.lane, this.health, view.http2Only);
    const endpoint = target.endpoint;
    if (endpoint === null) {
      return this.#answer(req, res, 'no_endpoint', started, route, { route: route.name, lane: mark.lane, reason: target.reason });
    }
    const ctx: ForwardContext = {
      laneHeaders: snapshot.laneHeaders,
      lane: mark.lane,
      trustLane: route.trustLane,
      modifier: mark.headers === undefined ? null : compileModifier(mark.headers),
      clientAddress: clientAddress(remoteAddress),
      proto,
    };
    // graylane's HTTP/1.1 pool takes the fields as rendered lines, made from the client's bytes
    // (renderFields); a tracer edits the array form (traceparent), and the other pools take only it.
    const rendered = !this.#tracer && this.#pools.takesFieldLines(endpoint) ? renderFields(fields, ctx) : null;
    const headers = rendered !== null ? rendered.headers : forwardHeaders(fields, ctx);
    const cookie = route.visitorCookie;
    const exchange = new (upgrade === null ? ProxyExchange : UpgradeExchange)(
      this.#sink,
      req,
      res,
      route,
      mark.lane,
      mark.by,
      mark.assignment,
      target.version,
      endpoint,
      snapshot.spec.exposeLane ? mark.lane : null,
      mark.setVisitorId !== undefined && cookie !== null ? visitorCookie(cookie.name, mark.setVisitorId, cookie.maxAgeMs) : null,
      started,
    );
    // What upstreamRequestHeaders wrote before a rule's modifier fields is the strict parser's or
    // the gateway's own: the HTTP/1.1 pool need not check it again (a tracer may rewrite fields).
    if (rendered !== null) {
      exchange.fieldLines = rendered.lines;
      exchange.checkedFields = rendered.checked;
    } else {
      exchange.checkedFields = this.#tracer || ctx.modifier !== null ? 0 : headers.length;
    }
    if (this.#startTrace !== null) exchange.trace = this.#startTrace(exchange, headerValue(fields, 'traceparent'), headers);
    const timeouts = snapshot.spec.timeouts;
    if (upgrade !== null) {
      // No body (served without upgrade otherwise) and no mirror copy: a copy cannot upgrade.
      (exchange as UpgradeExchange).tunnel = upgrade;
      exchange.dispatch(this.#pools.get(endpoint.origin), url, headers, null, timeouts.headersMs, timeouts.idleMs, upgrade.protocols);
      return;
    }
    let headersMs = timeouts.headersMs;
    let idleMs = timeouts.idleMs;
    if (deadlineMs > 0) {
      if (deadlineMs < headersMs) {
        headersMs = deadlineMs;
        exchange.clientDeadline = true;
      }
      if (deadlineMs < idleMs) idleMs = deadlineMs;
    }
    // An upload that stalls is cut after the idle timeout (onConnectionIdle, onStreamIdle).
    if (body !== null && !Buffer.isBuffer(body)) res.armIdle(timeouts.idleMs);
    const mirrorLane = route.mirrorLane();
    if (mirrorLane !== null) body = this.#mirror.copy(snapshot, route, mirrorLane, target.version, req, ctx, body);
    exchange.dispatch(this.#pools.get(endpoint.origin), url, headers, body, headersMs, idleMs);
  }

  /** A bug of ours must cost one request, not the process. */
  #internalError(err: unknown, req: EngineRequest, res: ClientResponse, started: number): void {
    this.#logger?.error({ err, url: req.target }, 'internal error while routing a request');
    if (!res.headSent) this.#answer(req, res, 'internal_error', started, null, {});
    else res.destroy();
  }

  /**
   * A plain listener with `redirect`: every request gets a 308 to the same host and target over
   * https. 308, not 301: the method and body are kept (RFC 9110 section 15.4.9), so a POST stays a
   * POST. No routing, no upstream.
   */
  #redirect(req: Http1Request, res: ResponseWriter, port: number): void {
    const started = this.#sink.log === null ? 0 : performance.now();
    const checked = checkTarget(headerValue(req.fields, 'host'), req.target);
    if (typeof checked !== 'string') {
      return this.#answer(req, res, checked.code, started, null, { reason: checked.reason }, checked.close === true);
    }
    const host = hostOf(headerValue(req.fields, 'host'));
    if (host === '') return this.#answer(req, res, 'bad_request', started, null, { reason: 'a redirect to https needs a Host header' });
    const location = `https://${host}${port === 443 ? '' : `:${port}`}${checked}`;
    const fields = ['location', location];
    if (this.#sink.debugHeaders !== null) fields.push(...this.#sink.debugHeaders);
    // A body left unread closes the connection, as for any answer of the gateway's own.
    res.writeHead(308, fields, 0, !req.complete || this.#sink.draining);
    res.end();
    this.#sink.log?.({ method: req.method, protocol: 'HTTP/1.1', path: checked, route: '', lane: '', by: '', version: '', endpoint: '', status: 308, ms: Math.round((performance.now() - started) * 1000) / 1000, traceId: incomingTrace(headerValue(req.fields, 'traceparent'))?.traceId ?? null });
  }

  /**
   * Where a retried request goes: dispatched again like a new request (the failure is already in
   * the health table), to another endpoint than the one that just failed when there is one, and
   * without moving the round robin: the retry must not take the next request's turn (which would
   * send every first attempt to a failing endpoint until it is ejected).
   */
  #retryTarget(ex: ProxyExchange): { version: string; endpoint: Endpoint; pool: Dispatcher } | null {
    // A gRPC call (answered the gRPC way) may only go to HTTP/2 endpoints, on a retry too.
    const http2Only = ex.res.grpc === true;
    const target = dispatch(ex.route.service, ex.lane, this.health, http2Only, ex.endpoint.origin);
    if (target.endpoint === null) return null;
    return { version: target.version, endpoint: target.endpoint, pool: this.#pools.get(target.endpoint.origin) };
  }

  /**
   * A head the engine refused (malformed, ambiguous framing, over a limit, too slow): the answer
   * names the rule broken, and the connection closes (what follows it cannot be framed).
   */
  #onRefused(err: ParseError, res: ResponseWriter): void {
    sendError(res, REFUSAL_CODE[err.status] ?? 'bad_request', true, this.#sink.debugHeaders, { reason: err.reason });
  }

  /** The gateway answers a request itself (no upstream involved). */
  #answer(
    req: EngineRequest,
    res: ClientResponse,
    code: GatewayErrorCode,
    started: number,
    route: CompiledRoute | null,
    fields: Record<string, string | null>,
    close = false,
  ): void {
    // A body left unread would have to be read to its end to keep the connection (at any pace
    // the client likes): the connection closes instead, as for a failed upstream call.
    sendError(res, code, close || !req.complete || this.#sink.draining, this.#sink.debugHeaders, fields);
    const log = this.#sink.log;
    if (log !== null) {
      log({
        method: req.method,
        protocol: req.protocol ?? 'HTTP/1.1',
        path: req.target,
        route: route === null ? '' : route.name,
        lane: typeof fields.lane === 'string' ? fields.lane : '',
        by: '',
        version: '',
        endpoint: '',
        status: STATUS[code],
        ms: Math.round((performance.now() - started) * 1000) / 1000,
        traceId: incomingTrace(headerValue(req.fields, 'traceparent'))?.traceId ?? null,
      });
    }
  }

  close(opts: { drainMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#drain(opts.drainMs ?? this.#snapshot.spec.drainMs);
    return this.#closing;
  }

  /**
   * Stops both listeners, lets in-flight requests finish with `Connection: close`, closes every
   * connection as it falls idle, and at `drainMs` cuts what is left (tunnels included).
   */
  async #drain(drainMs: number): Promise<void> {
    const sink = this.#sink;
    sink.draining = true;
    const closed = Promise.all(this.#listening.map((l) => closeServer(l.server)));
    for (const c of [...this.#sweep.connections()]) c.closeWhenIdle();
    this.#sniffer.destroyAll();
    // GOAWAY: HTTP/2 clients open no new stream; the streams in flight complete.
    this.#http2.closeAll();
    const idle =
      sink.inFlight === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            sink.onIdle = resolve;
          });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), drainMs);
    });
    // Upgraded tunnels (WebSockets) also hold the listeners open: they get until the deadline.
    if ((await Promise.race([idle.then(() => closed), deadline])) === 'deadline') {
      for (const c of [...this.#sweep.connections()]) c.socket.destroy();
      for (const socket of [...sink.tunnels.keys()]) socket.destroy();
      this.#http2.destroyAll();
    }
    clearTimeout(timer);
    await closed;
    this.#sweep.stop();
    // Mirror copies still in flight are cut: they must not hold the process.
    await this.#pools.close(true);
    await this.#accessLog?.close();
  }
}

/** How long an idle keep-alive connection is kept (Node's server had 75 s here too). */
const KEEP_ALIVE_TIMEOUT_MS = 75_000;
/** Request bodies up to this size that arrived with their head are sent upstream as bytes (see #onRequest). */
const WHOLE_BODY_BYTES = 64 * 1024;

/** The gateway's error code for each status the engine refuses a head with. */
const REFUSAL_CODE: Readonly<Partial<Record<number, GatewayErrorCode>>> = {
  400: 'bad_request',
  408: 'request_timeout',
  414: 'uri_too_long',
  417: 'expectation_failed',
  431: 'headers_too_large',
  501: 'not_implemented',
  505: 'version_not_supported',
};

/** Starts `server` listening; resolves with the address it got. */
function listenOn(server: net.Server, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve({ host: a.address, port: a.port });
    });
  });
}

/** Resolves once `server` stopped listening and its last connection closed. */
function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/**
 * A client connection was idle for spec.timeouts.idleMs (the timer runs only while a client sends
 * a body or is not reading a response). Waiting for upstream response headers is not idleness of
 * the client (the headers timeout governs it), so a connection whose every request in flight is
 * complete and waits for its upstream (or, pipelined, for its turn) is spared; anything else idle
 * (a stalled upload, a client that stopped reading) is cut.
 */
function onConnectionIdle(connection: Http1Connection): void {
  const responses = connection.responses;
  let waiting = responses.length > 0;
  for (let i = 0; i < responses.length && waiting; i++) {
    const ex = responses[i]!.owner;
    // The first is written to the client; the ones behind it (pipelined) only wait their turn.
    waiting = ex instanceof ProxyExchange && ex.req.complete && (i > 0 || (!ex.done && ex.status === 0));
  }
  if (!waiting) connection.socket.destroy();
}

/**
 * An HTTP/2 stream's idle timer fired (a stalled upload, a client whose window stayed shut). As
 * for HTTP/1.1, waiting for the upstream's response headers is not the client's idleness; anything
 * else resets the stream (CANCEL), which aborts the upstream request.
 */
function onStreamIdle(_req: Http2Request, res: Http2Response): void {
  const ex = res.owner;
  if (ex instanceof ProxyExchange && ex.req.complete && !ex.done && ex.status === 0) return;
  res.reset(h2.NGHTTP2_CANCEL);
}

/** The endpoint origins of each version of a snapshot: passive health never ejects a version's last one. */
function* versionOriginsOf(snapshot: Snapshot): Generator<string[]> {
  for (const service of snapshot.services.values()) {
    for (const version of service.byName.values()) yield version.endpoints.map((ep) => ep.origin);
  }
}

/** Every endpoint origin of a snapshot. */
function originsOf(snapshot: Snapshot): Set<string> {
  const origins = new Set<string>();
  for (const service of snapshot.services.values()) {
    for (const version of service.versions.values()) {
      for (const ep of version.endpoints) origins.add(ep.origin);
    }
  }
  return origins;
}
