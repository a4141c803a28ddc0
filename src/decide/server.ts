/**
 * The decision listener: an edge proxy (Traefik, nginx, ingress-nginx, Envoy, APISIX) asks about
 * each request before routing it; graylane matches the route and marks the request exactly as the
 * gateway would, on the gateway's current snapshot (so hot reloads, rollout overlays and aborts
 * apply from the next check on), and answers with headers only:
 *
 * - a route matched: `200`, the lane in the lane header and each alias, `baggage` with the
 *   `graylane-lane` member set (the check request's other members kept, src/lanes/baggage.ts), and
 *   a visitor-id `Set-Cookie` when the route mints one;
 * - no route: `200` without a lane header (decide.noRoute `pass`: the proxy routes as usual) or
 *   `403` (`deny`);
 * - the original request cannot be rebuilt (original-request.ts): `400` with the reason as text.
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
import { originalRequest } from './original-request.js';

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
}

export interface DecideListener {
  readonly address: { host: string; port: number };
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
      if (!res.headersSent) reply(res, 500, [], 'internal error');
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
  let closing: Promise<void> | undefined;
  return {
    address,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Answers one check request against `snapshot`. */
function answer(req: IncomingMessage, res: ServerResponse, snapshot: Snapshot, started: DecideSpec, ctx: MarkContext): void {
  const settings = snapshot.spec.decide ?? started;
  const view = originalRequest(
    { proxy: settings.proxy, pathPrefix: settings.pathPrefix, maxUrlBytes: limitsOf(snapshot.spec).maxUrlBytes },
    { url: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders },
  );
  if ('problem' in view) return reply(res, 400, [], view.problem);
  const route = snapshot.matchRoute(view.host, view.path);
  if (route === undefined) return reply(res, settings.noRoute === 'deny' ? 403 : 200, [], '');
  const mark = route.mark(view, ctx);
  const lane = decidedLane(route, mark.lane);
  if (lane === null) return reply(res, 503, [], `lane ${mark.lane} is fail-closed and its version is withdrawn (its rollout was aborted)`);
  reply(res, 200, decisionHeaders(snapshot.laneHeaders, route, lane === mark.lane ? mark : { ...mark, lane }, joinHeader(req.headers.baggage)), '');
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

/**
 * The headers of a decision, `[name, value, ...]`: each lane header, `baggage` (the check
 * request's, with the lane member set), and the visitor cookie when marking minted an id.
 */
export function decisionHeaders(laneHeaders: readonly string[], route: CompiledRoute, mark: MarkResult, baggage: string | undefined): string[] {
  const out: string[] = [];
  for (const name of laneHeaders) out.push(name, mark.lane);
  out.push('baggage', withBaggageLane(baggage, mark.lane));
  const cookie = route.visitorCookie;
  if (mark.setVisitorId !== undefined && cookie !== null) out.push('set-cookie', visitorCookie(cookie.name, mark.setVisitorId, cookie.maxAgeMs));
  return out;
}

function reply(res: ServerResponse, status: number, headers: string[], text: string): void {
  headers.push('content-length', String(Buffer.byteLength(text)));
  if (text !== '') headers.push('content-type', 'text/plain; charset=utf-8');
  res.writeHead(status, headers);
  res.end(text);
}
