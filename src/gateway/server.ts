/**
 * The gateway: an HTTP server that matches, marks and dispatches each request against the current
 * Snapshot and proxies it over keep-alive pools.
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
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { DestinationStream, Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { dispatch, stripMeshPrefix } from '../routing/index.js';
import type { CompiledRoute, Endpoint, MarkContext, Snapshot } from '../routing/types.js';
import { openAccessLog, type AccessLog } from './access-log.js';
import { drainServer } from './drain.js';
import { STATUS, type GatewayErrorCode } from './errors.js';
import { clientAddress, compileModifier, upstreamRequestHeaders, visitorCookie, type ForwardContext } from './headers.js';
import { HealthTable } from './health.js';
import { Mirror, type MirrorCounters } from './mirror.js';
import type { ResponseObserver } from './observer.js';
import { PoolSet } from './pools.js';
import { armIdleTimer, GatewayResponse, ProxyExchange, sendError, type ExchangeSink } from './proxy.js';
import { applyServerLimits, checkRequest, limitsOf } from './request-guard.js';
import { requestView } from './request-view.js';
import { requestHeadWithoutUpgrade, tunnelProtocols, UpgradeExchange, type TunnelOptions } from './websocket.js';

export interface GatewayOptions {
  snapshot: Snapshot;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 (default) picks a free one, see Gateway.address. */
  port?: number;
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
  /**
   * Header lines (name, value, ...) added to every response the gateway sends, proxied or its own:
   * the opt-in `debug.workerHeader` naming the worker that served (src/workers/). Default none.
   */
  debugHeaders?: readonly string[];
  /** Also listen here for mesh requests (spec.mesh); they use the snapshot's mesh routes. Default: no mesh listener. */
  mesh?: { host?: string; port?: number };
}

/** A running gateway. */
export interface Gateway {
  /** Where it listens (the real port when 0 was asked for). */
  readonly address: { host: string; port: number };
  /** Where the mesh listener listens; null without one. */
  readonly meshAddress: { host: string; port: number } | null;
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
  await gw.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
  if (opts.mesh !== undefined) {
    try {
      await gw.listenMesh(opts.mesh.host ?? '127.0.0.1', opts.mesh.port ?? 0);
    } catch (err) {
      await gw.close({ drainMs: 0 });
      throw err;
    }
  }
  return gw;
}

class GatewayServer implements Gateway {
  readonly health: HealthTable;
  readonly #server: http.Server<typeof IncomingMessage, typeof GatewayResponse>;
  readonly #meshServer: http.Server<typeof IncomingMessage, typeof GatewayResponse> | null;
  readonly #pools: PoolSet;
  readonly #mirror: Mirror;
  readonly #sink: ExchangeSink;
  readonly #markContext: MarkContext;
  readonly #logger: Logger | undefined;
  readonly #accessLog: AccessLog | null;
  /** Client connections Node's server handed over with an upgrade request: tunnels, and upgrades not yet answered. */
  readonly #detached = new Set<Duplex>();
  /**
   * Client connections the gateway answered with `Connection: close`. Node goes on parsing requests
   * pipelined behind that answer (it is queued while an earlier response is still in flight) and
   * emits them: they are dropped unanswered, so nothing is served from a connection whose framing
   * the gateway gave up on (a transfer coding it cannot read, a body it did not read).
   */
  readonly #closingConnections = new WeakSet<Duplex>();
  #snapshot: Snapshot;
  #address = { host: '', port: 0 };
  #meshAddress: { host: string; port: number } | null = null;
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
      observer: opts.observer ?? null,
      draining: false,
      inFlight: 0,
      onIdle: null,
      tunnels: new Map(),
      debugHeaders: opts.debugHeaders === undefined || opts.debugHeaders.length === 0 ? null : opts.debugHeaders,
      retryTarget: (ex) => this.#retryTarget(ex),
    };
    this.#server = this.#createServer(false);
    this.#meshServer = opts.mesh === undefined ? null : this.#createServer(true);
  }

  #createServer(mesh: boolean): http.Server<typeof IncomingMessage, typeof GatewayResponse> {
    const server = http.createServer<typeof IncomingMessage, typeof GatewayResponse>(
      {
        ServerResponse: GatewayResponse,
        // A 1 GiB upload may take longer than Node's default 5 minutes; idleness is bounded instead.
        requestTimeout: 0,
        maxHeaderSize: limitsOf(this.#snapshot.spec).maxHeaderBytes,
        // How often Node enforces headersTimeout (default every 30 s, which would let a slowloris
        // outlive a 10 s limit by half a minute). Only connections still sending a head are checked.
        connectionsCheckingInterval: 1000,
      },
      (req, res) => this.#onRequest(req, res, mesh),
    );
    server.keepAliveTimeout = 75_000;
    applyServerLimits(server, limitsOf(this.#snapshot.spec));
    // No server-wide socket timeout (server.timeout stays 0): Node would then re-arm a timer on
    // every request and refresh it on every read and write. The idle timeout is armed only where
    // a client can stall us: while it sends a body, and while it is not reading a response (see
    // armIdleTimer). Between requests keepAliveTimeout governs, during the head headersTimeout.
    server.on('timeout', onSocketIdle);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(server, req, socket as Socket, head, mesh));
    return server;
  }

  async listen(host: string, port: number): Promise<void> {
    this.#address = await listenOn(this.#server, host, port);
  }

  async listenMesh(host: string, port: number): Promise<void> {
    if (this.#meshServer !== null) this.#meshAddress = await listenOn(this.#meshServer, host, port);
  }

  get address(): { host: string; port: number } {
    return this.#address;
  }

  get meshAddress(): { host: string; port: number } | null {
    return this.#meshAddress;
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
    // The idle timeout is read per request; these limits apply to connections accepted from now on.
    applyServerLimits(this.#server, limitsOf(snapshot.spec));
    if (this.#meshServer !== null) applyServerLimits(this.#meshServer, limitsOf(snapshot.spec));
  }

  /** A request: `upgrade` is set for an upgrade request, whose response is on the raw connection (#serveUpgrade). */
  #onRequest(req: IncomingMessage, res: GatewayResponse, mesh: boolean, upgrade: TunnelOptions | null = null): void {
    // Node closes the connection once the answer that asked for it is out.
    if (this.#closingConnections.has(req.socket)) return;
    const snapshot = this.#snapshot;
    const started = this.#sink.log === null && this.#sink.observer === null ? 0 : performance.now();
    try {
      let url = req.url!;
      // Origin form only: a reverse proxy has no business with absolute-form or `*` targets.
      if (url.charCodeAt(0) !== 47 /* / */) {
        return this.#answer(req, res, 'bad_request', started, null, { reason: 'the request target must be a path' });
      }
      const checked = checkRequest(req, url, limitsOf(snapshot.spec));
      if (typeof checked !== 'string') {
        return this.#answer(req, res, checked.code, started, null, { reason: checked.reason }, checked.close === true);
      }
      // Mirror copies, the access log and mesh prefix stripping all read the normalised target.
      if (checked !== url) req.url = url = checked;
      const view = requestView(url, req.headers);
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
      const target = dispatch(route.service, mark.lane, this.health);
      const endpoint = target.endpoint;
      if (endpoint === null) {
        return this.#answer(req, res, 'no_endpoint', started, route, { route: route.name, lane: mark.lane, reason: target.reason });
      }
      const ctx: ForwardContext = {
        laneHeaders: snapshot.laneHeaders,
        lane: mark.lane,
        trustLane: route.trustLane,
        modifier: mark.headers === undefined ? null : compileModifier(mark.headers),
        clientAddress: clientAddress(req.socket.remoteAddress),
        proto: 'http',
      };
      const headers = upstreamRequestHeaders(req.headers, ctx);
      const cookie = route.visitorCookie;
      const exchange = new (upgrade === null ? ProxyExchange : UpgradeExchange)(
        this.#sink,
        req,
        res,
        route,
        mark.lane,
        mark.by,
        target.version,
        endpoint,
        snapshot.spec.exposeLane ? mark.lane : null,
        mark.setVisitorId !== undefined && cookie !== null ? visitorCookie(cookie.name, mark.setVisitorId, cookie.maxAgeMs) : null,
        started,
      );
      const timeouts = snapshot.spec.timeouts;
      if (upgrade !== null) {
        // No body (#serveUpgrade serves those without upgrade) and no mirror copy: a copy cannot upgrade.
        (exchange as UpgradeExchange).tunnel = upgrade;
        exchange.dispatch(this.#pools.get(endpoint.origin), url, headers, null, timeouts.headersMs, timeouts.idleMs, upgrade.protocols);
        return;
      }
      let body: Readable | null = null;
      if (hasBody(req)) {
        body = req;
        armIdleTimer(req.socket, timeouts.idleMs);
      }
      const mirrorLane = route.mirrorLane();
      if (mirrorLane !== null) body = this.#mirror.copy(snapshot, route, mirrorLane, target.version, req, ctx, body);
      exchange.dispatch(
        this.#pools.get(endpoint.origin),
        url,
        headers,
        body,
        timeouts.headersMs,
        timeouts.idleMs,
      );
    } catch (err) {
      // A bug of ours must cost one request, not the process.
      this.#logger?.error({ err, url: req.url }, 'internal error while routing a request');
      if (!res.headersSent) this.#answer(req, res, 'internal_error', started, null, {});
      else res.destroy();
    }
  }

  /**
   * Where a retried request goes: dispatched again like a new request (the failure is already in
   * the health table), once more if round robin came back to the endpoint that just failed.
   */
  #retryTarget(ex: ProxyExchange): { version: string; endpoint: Endpoint; pool: Dispatcher } | null {
    const failed = ex.endpoint.origin;
    let target = dispatch(ex.route.service, ex.lane, this.health);
    if (target.endpoint !== null && target.endpoint.origin === failed) target = dispatch(ex.route.service, ex.lane, this.health);
    if (target.endpoint === null) return null;
    return { version: target.version, endpoint: target.endpoint, pool: this.#pools.get(target.endpoint.origin) };
  }

  /** The gateway answers a request itself (no upstream involved). */
  #answer(
    req: IncomingMessage,
    res: GatewayResponse,
    code: GatewayErrorCode,
    started: number,
    route: CompiledRoute | null,
    fields: Record<string, string | null>,
    close = false,
  ): void {
    // A body left unread would have to be read to its end to keep the connection (Node does, at
    // any pace the client likes): close it instead, as onError does for a failed upstream call.
    if (close || (hasBody(req) && !req.complete)) {
      this.#closingConnections.add(req.socket);
      close = true;
    }
    sendError(res, code, close || this.#sink.draining, this.#sink.debugHeaders, fields);
    const log = this.#sink.log;
    if (log !== null) {
      log({
        method: req.method ?? '',
        path: req.url ?? '',
        route: route === null ? '' : route.name,
        lane: typeof fields.lane === 'string' ? fields.lane : '',
        by: '',
        version: '',
        endpoint: '',
        status: STATUS[code],
        ms: Math.round((performance.now() - started) * 1000) / 1000,
      });
    }
  }

  /**
   * An upgrade request, with the raw connection Node's server let go of (it no longer parses HTTP
   * on it). The connection is the gateway's until it becomes a tunnel and closes, or goes back to
   * the server after an ordinary answer (src/gateway/websocket.ts).
   */
  #onUpgrade(server: HttpServer, req: IncomingMessage, socket: Socket, head: Buffer, mesh: boolean): void {
    const detached = this.#detached;
    detached.add(socket);
    const forget = () => detached.delete(socket);
    socket.on('close', forget);
    // Node removed its own listeners: an error must not go unhandled, and a timer armed on the
    // connection (a client not reading, an idle tunnel) ends it.
    socket.on('error', destroySocket);
    socket.on('timeout', destroySocket);
    afterEarlierResponses(socket, () => this.#serveUpgrade(server, req, socket, head, mesh, forget));
  }

  #serveUpgrade(server: HttpServer, req: IncomingMessage, socket: Socket, head: Buffer, mesh: boolean, forget: () => void): void {
    // The client left while earlier responses on its connection were being sent.
    if (socket.destroyed) return;
    // One of those answers closes the connection: no tunnel, no answer, once it is out.
    if (this.#closingConnections.has(socket)) return void socket.destroySoon();
    // Node may have armed its keep-alive timer after an earlier response; the exchange arms its own.
    socket.setTimeout(0);
    const protocols = tunnelProtocols(req.headers.upgrade);
    if (protocols === '' || req.httpVersion !== '1.1' || hasBody(req)) {
      // Served as the plain request it also is: the server parses it again, without the upgrade.
      return this.#returnToServer(server, socket, head, requestHeadWithoutUpgrade(req), forget);
    }
    const res = new GatewayResponse(req);
    // What Node's server would decide: HTTP/1.1 keeps the connection unless the client said close.
    // No `Keep-Alive: timeout=` hint: back in the server, the connection waits for its next request
    // as a new one does (limits.headersTimeout), not for keepAliveTimeout.
    res.shouldKeepAlive = !/(?:^|,)\s*close\s*(?:,|$)/i.test(req.headers.connection ?? '');
    res.assignSocket(socket);
    // Node's server tells a response its connection drained; it removed that listener with the rest.
    const drained = () => {
      if (res.writableNeedDrain) res.emit('drain');
    };
    socket.on('drain', drained);
    // An ordinary answer (no 101): once it is sent, the next request on the connection is the
    // server's to parse. A 101 detaches the response unfinished (UpgradeExchange.onUpgrade).
    res.once('finish', () => {
      socket.off('drain', drained);
      res.detachSocket(socket);
      if ((res as unknown as { _last: boolean })._last) socket.destroySoon();
      else this.#returnToServer(server, socket, head, null, forget);
    });
    if (protocols === null) {
      const started = this.#sink.log === null ? 0 : performance.now();
      return this.#answer(req, res, 'bad_request', started, null, { reason: 'the Upgrade header must be a list of protocols' });
    }
    this.#onRequest(req, res, mesh, { protocols, head, idleMs: this.#snapshot.spec.timeouts.tunnelIdleMs });
  }

  /**
   * Hands a detached connection back to Node's HTTP server, which parses requests on it again as
   * on a new connection (the 'connection' event is documented for injecting connections):
   * `replay` (a request head to parse first), then `head` (bytes already read after the upgrade
   * request), then whatever the client sends next.
   */
  #returnToServer(server: HttpServer, socket: Socket, head: Buffer, replay: string | null, forget: () => void): void {
    forget();
    socket.off('close', forget);
    socket.off('error', destroySocket);
    socket.off('timeout', destroySocket);
    socket.setTimeout(0);
    if (head.length > 0) socket.unshift(head);
    if (replay !== null) socket.unshift(Buffer.from(replay, 'latin1'));
    server.emit('connection', socket);
  }

  close(opts: { drainMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#drain(opts.drainMs ?? this.#snapshot.spec.drainMs);
    return this.#closing;
  }

  async #drain(drainMs: number): Promise<void> {
    const sink = this.#sink;
    sink.draining = true;
    const idle =
      sink.inFlight === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            sink.onIdle = resolve;
          });
    const drain = {
      drainMs,
      idle,
      onDeadline: () => {
        for (const t of this.#detached) t.destroy();
      },
    };
    await Promise.all([drainServer(this.#server, drain), this.#meshServer?.listening ? drainServer(this.#meshServer, drain) : null]);
    // Mirror copies still in flight are cut: they must not hold the process.
    await this.#pools.close(true);
    await this.#accessLog?.close();
  }
}

/** Starts `server` listening; resolves with the address it got. */
function listenOn(server: http.Server<typeof IncomingMessage, typeof GatewayResponse>, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve({ host: a.address, port: a.port });
    });
  });
}

/** A request body follows the head (RFC 9112 §6.3): Transfer-Encoding, or a non-zero Content-Length. */
function hasBody(req: IncomingMessage): boolean {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const length = h['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * A client connection was idle for spec.timeouts.idleMs. Waiting for upstream response headers is
 * not idleness of the client (the headers timeout governs it), so such a connection is spared;
 * anything else idle (a stalled upload, a client that stopped reading) is cut.
 */
function onSocketIdle(socket: Socket): void {
  // Node keeps the response being written on `_httpMessage`; its own timeout handling reads it too.
  const res = (socket as Socket & { _httpMessage?: unknown })._httpMessage;
  if (res instanceof GatewayResponse) {
    const ex = res.exchange;
    if (ex !== null && !ex.done && ex.status === 0 && ex.req.complete) return;
  }
  socket.destroy();
}

type HttpServer = http.Server<typeof IncomingMessage, typeof GatewayResponse>;

function destroySocket(this: Duplex): void {
  this.destroy();
}

/**
 * Runs `then` once the responses to the requests before the upgrade request on this connection
 * are sent (Node emits 'upgrade' as soon as it parses the request, pipelined or not), or the
 * connection is gone. Node keeps the response being written on `_httpMessage` and gives the socket
 * to the next queued one when it finishes, before that one's 'close'.
 */
function afterEarlierResponses(socket: Socket, then: () => void): void {
  const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (pending == null || socket.destroyed) return then();
  pending.once('close', () => afterEarlierResponses(socket, then));
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
