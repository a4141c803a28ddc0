/**
 * The decision listener: an edge proxy (Traefik, nginx, ingress-nginx, Envoy, APISIX) asks about
 * each request before routing it; graylane matches the route and marks the request exactly as the
 * gateway would, on the gateway's current snapshot (so hot reloads, rollout overlays and aborts
 * apply from the next check on), and answers with headers only:
 *
 * - a route matched: `200`, the lane in the lane header and each alias, the version serving it
 *   (`X-Graylane-Version`), `baggage` with the `graylane-lane` member set (the check request's
 *   other members kept, src/lanes/baggage.ts), a visitor-id `Set-Cookie` when the route mints one,
 *   and whether a proxy may cache it (cache.ts: `X-Accel-Expires`, else `no-store`);
 * - no route: `200` without a lane header (decide.noRoute `pass`: the proxy routes as usual) or
 *   `403` (`deny`);
 * - the original request cannot be rebuilt (original-request.ts): `400` with the reason as text.
 *
 * Every answer but a cacheable decision is `Cache-Control: no-store`. With decide.report, the
 * outcomes the proxy reports come back on a UDP syslog listener (syslog.ts) and/or `POST /report`
 * on an HTTP listener of their own (report-http.ts), counted by `observer`.
 *
 * The proxy dispatches by the lane header with its own routing (docs/integrations.md). A lane header
 * the client sent counts only on a route with trustLane (marking reads it, as in the gateway).
 * Nothing is proxied and no body is read: Node discards one if a proxy sends it.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { visitorCookie } from '../gateway/headers.js';
import { applyServerLimits, limitsOf } from '../gateway/request-guard.js';
import { joinHeader, withBaggageLane } from '@graylane/lanes';
import type { CompiledRoute, MarkContext, MarkResult, Snapshot } from '../routing/types.js';
import type { DecideSpec } from '../spec/types.js';
import { parseListen } from '../spec/units.js';
import { startOutcomeListener, type OutcomeListener } from './syslog.js';
import { startReportServer, type ReportServer } from './report-http.js';
import type { OutcomeObserver, OutcomeTotals } from './outcomes.js';
import { cachingHeaders, checkCacheable } from './cache.js';
import { originalRequest, singleHeader } from './original-request.js';

export interface DecideOptions {
  /** The gateway's current snapshot, read once per check. */
  snapshot: () => Snapshot;
  /**
   * The decide section the listener was started with. A reload's decide.proxy, noRoute and
   * pathPrefix apply from the next check; if a reload removes the section, these stay in force
   * until the restart that closes the listener.
   */
  settings: DecideSpec;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  logger?: Logger;
  /** Randomness of marking for anonymous traffic; default Math.random. */
  random?: () => number;
  /** Visitor ids for anonymous stickiness; default crypto.randomUUID. */
  newVisitorId?: () => string;
  /**
   * Where outcomes the proxy reports (decide.report) are counted: the gateway's TrafficRecorder.
   * Without one, decide.report is not listened on.
   */
  observer?: OutcomeObserver;
  /** The bearer token of `POST /report` (GRAYLANE_REPORT_TOKEN); undefined = loopback peers only. */
  reportToken?: string | undefined;
}

/** An outcome listener as the decision listener shows it. */
export interface ReportListener {
  readonly address: { host: string; port: number };
  counts(): OutcomeTotals;
}

export interface DecideListener {
  readonly address: { host: string; port: number };
  /** The syslog outcome listener (decide.report.syslog), null when not configured. */
  readonly report: ReportListener | null;
  /** The `POST /report` listener (decide.report.http), null when not configured. */
  readonly reportHttp: ReportListener | null;
  /** Outcomes counted and refused by each outcome listener (graylane_decide_outcomes_total). */
  outcomes(): OutcomeTotals[];
  /** Stops listening and closes its connections (a check is answered synchronously: none is left half done). */
  close(): Promise<void>;
}

/**
 * Starts the decision listener; resolves once it listens.
 *
 * @example
 * const decide = await startDecide({ snapshot: () => gateway.snapshot(), settings: spec.decide, port: 8082 });
 */
export async function startDecide(opts: DecideOptions): Promise<DecideListener> {
  const ctx: MarkContext = { random: opts.random ?? Math.random, newVisitorId: opts.newVisitorId ?? randomUUID };
  const limits = limitsOf(opts.snapshot().spec);
  const server = http.createServer({ maxHeaderSize: limits.maxHeaderBytes, connectionsCheckingInterval: 1000 }, (req, res) => {
    try {
      answer(req, res, opts.snapshot(), opts.settings, ctx);
    } catch (err) {
      // A bug of ours must cost one decision, not the process.
      opts.logger?.error({ err, url: req.url }, 'internal error while deciding a lane');
      if (!res.headersSent) reply(res, 500, notADecision(), 'internal error');
      else res.destroy();
    }
  });
  // Proxies keep connections to an auth service open (nginx upstream keepalive, Traefik, Envoy).
  server.keepAliveTimeout = 75_000;
  applyServerLimits(server, limits);
  const address = await new Promise<{ host: string; port: number }>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve({ host: a.address, port: a.port });
    });
  });
  let report: OutcomeListener | null = null;
  let reportHttp: ReportServer | null = null;
  const settings = opts.settings.report;
  if (settings !== undefined && opts.observer !== undefined) {
    const common = { snapshot: opts.snapshot, observer: opts.observer, ...(opts.logger ? { logger: opts.logger } : {}) };
    try {
      if (settings.syslog !== undefined) report = await startOutcomeListener({ ...listenAddress(settings.syslog, 'decide.report.syslog'), ...common });
      if (settings.http !== undefined) reportHttp = await startReportServer({ ...listenAddress(settings.http, 'decide.report.http'), ...common, token: opts.reportToken });
    } catch (err) {
      server.close();
      server.closeAllConnections();
      await report?.close();
      throw err;
    }
  }
  let closing: Promise<void> | undefined;
  return {
    address,
    report,
    reportHttp,
    outcomes: () => [report, reportHttp].flatMap((l) => (l === null ? [] : [l.counts()])),
    close() {
      closing ??= Promise.all([
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
        report?.close(),
        reportHttp?.close(),
      ]).then(() => undefined);
      return closing;
    },
  };
}

/** decide.report.syslog or .http, `host:port` (the schema requires the host: no default to all interfaces). */
function listenAddress(value: string, key: string): { host: string; port: number } {
  const parsed = parseListen(value);
  if (parsed === undefined) throw new Error(`bad listen address "${value}" (${key}): expected host:port or [v6]:port`);
  return parsed;
}

/** Answers one check request against `snapshot`. */
function answer(req: IncomingMessage, res: ServerResponse, snapshot: Snapshot, started: DecideSpec, ctx: MarkContext): void {
  const settings = snapshot.spec.decide ?? started;
  const view = originalRequest(
    { proxy: settings.proxy, pathPrefix: settings.pathPrefix, maxUrlBytes: limitsOf(snapshot.spec).maxUrlBytes },
    { url: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders },
  );
  if ('problem' in view) return reply(res, 400, notADecision(), view.problem);
  const route = snapshot.matchRoute(view.host, view.path);
  if (route === undefined) return reply(res, settings.noRoute === 'deny' ? 403 : 200, notADecision(), '');
  const mark = route.mark(view, ctx);
  const lane = decidedLane(route, mark.lane);
  if (lane === null) return reply(res, 503, notADecision(), `lane ${mark.lane} is fail-closed and its version is withdrawn (its rollout was aborted)`);
  const headers = decisionHeaders(snapshot.laneHeaders, route, lane === mark.lane ? mark : { ...mark, lane }, joinHeader(req.headers.baggage));
  // Only nginx's exported config caches decisions (and says by which key); every other answer is no-store.
  const cacheable = settings.proxy === 'nginx' && mark.setVisitorId === undefined && checkCacheable(snapshot, route, view, req.headers, (name) => singleHeader(req.rawHeaders, name) ?? undefined);
  headers.push(...cachingHeaders(cacheable));
  reply(res, 200, headers, '');
}

/**
 * The lane to answer. The proxy routes by the lane header alone, so a lane whose version an aborted
 * rollout withdrew (src/routing/dispatch.ts) is answered as the service's fallback lane: the proxy
 * then sends it where the gateway would. Unlike the gateway, the request does not keep its lane for
 * later hops (the proxy has one header to route by and to pass on). A fail-closed lane is null (503).
 */
export function decidedLane(route: CompiledRoute, lane: string): string | null {
  const service = route.service;
  if (service.versions.get(lane)?.withdrawn !== true || lane === service.fallback) return lane;
  return service.failClosed.has(lane) ? null : service.fallback;
}

/** The answer header naming the version that serves the lane (what the exported nginx map reads). */
export const VERSION_HEADER = 'x-graylane-version';

/**
 * The version of the route's service that serves `lane`, as dispatch picks it: the lane's own
 * version, else (absent, withdrawn, no endpoints) the version now serving the fallback lane, which
 * after a completed rollout is the new one. A proxy that maps versions to its upstreams then sends
 * the request where the gateway would, promotions included.
 */
export function decidedVersion(route: CompiledRoute, lane: string): string {
  const service = route.service;
  const own = service.versions.get(lane);
  if (own !== undefined && !own.withdrawn && own.endpoints.length > 0) return own.name;
  return service.versions.get(service.fallback)?.name ?? service.fallback;
}

/**
 * The headers of a decision, `[name, value, ...]`: each lane header, the version serving it,
 * `baggage` (the check request's, with the lane member set), and the visitor cookie when marking
 * minted an id.
 */
export function decisionHeaders(laneHeaders: readonly string[], route: CompiledRoute, mark: MarkResult, baggage: string | undefined): string[] {
  const out: string[] = [];
  for (const name of laneHeaders) out.push(name, mark.lane);
  out.push(VERSION_HEADER, decidedVersion(route, mark.lane));
  out.push('baggage', withBaggageLane(baggage, mark.lane));
  const cookie = route.visitorCookie;
  if (mark.setVisitorId !== undefined && cookie !== null) out.push('set-cookie', visitorCookie(cookie.name, mark.setVisitorId, cookie.maxAgeMs));
  return out;
}

/** The headers of an answer that is not a decision (no route, a refusal, an error): never stored by a cache. */
function notADecision(): string[] {
  return [...cachingHeaders(false)];
}

function reply(res: ServerResponse, status: number, headers: string[], text: string): void {
  headers.push('content-length', String(Buffer.byteLength(text)));
  if (text !== '') headers.push('content-type', 'text/plain; charset=utf-8');
  res.writeHead(status, headers);
  res.end(text);
}
