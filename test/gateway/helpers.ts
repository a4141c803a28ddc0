/**
 * Test support for the gateway integration tests: real upstream servers on 127.0.0.1 that answer
 * with who they are, Spec builders with the loader's defaults, and a client.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { compile } from '../../src/routing/index.js';
import type { RouteSpec, Spec } from '../../src/spec/types.js';
import { route as routingRoute } from '../support/routing.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway/server.js';

import type { Echo } from '../support/upstream.js';

export { startUpstream, type Echo, type Upstream } from '../support/upstream.js';

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export { service } from '../support/routing.js';

/** A route of service `svc` matching everything, with the loader's defaults, named `main`. */
export function route(over: Partial<RouteSpec> = {}): RouteSpec {
  return routingRoute({ name: 'main', ...over });
}

export function spec(over: Partial<Spec> = {}): Spec {
  return {
    listen: '127.0.0.1:0',
    laneHeader: 'x-gray-lane',
    laneAliases: [],
    exposeLane: true,
    timeouts: { connectMs: 1000, headersMs: 5000, idleMs: 30_000, tunnelIdleMs: 3_600_000 },
    mirror: { maxConcurrent: 16, maxBodyBytes: 1 << 20 },
    accessLog: false,
    drainMs: 2000,
    services: {},
    routes: [route()],
    ...over,
  };
}

/** Starts a gateway on 127.0.0.1:0 serving `s`. */
export function gatewayFor(s: Spec, opts: Partial<GatewayOptions> = {}): Promise<Gateway> {
  return startGateway({ snapshot: compile(s), host: '127.0.0.1', port: 0, accessLog: false, ...opts });
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Echo>(): T;
}

/** A keep-alive client of its own per test file, so tests do not share connections by accident. */
export const client = new Agent({ connections: 16, keepAliveTimeout: 10_000 });

/** One request to the gateway; the body is read whole. */
export async function get(
  gw: Pick<Gateway, 'address'>,
  path: string,
  headers: Record<string, string> = {},
  opts: { method?: string; body?: string | Buffer; dispatcher?: Agent } = {},
): Promise<Reply> {
  const r = await request(`http://127.0.0.1:${gw.address.port}${path}`, {
    method: (opts.method ?? 'GET') as 'GET',
    headers,
    body: opts.body,
    dispatcher: opts.dispatcher ?? client,
  });
  const text = await r.body.text();
  return {
    status: r.statusCode,
    headers: r.headers,
    text,
    json<T>() {
      return JSON.parse(text) as T;
    },
  };
}

/** Counts of `key(reply)` over replies. */
export function tally<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}

export interface EchoServer {
  url: string;
  /** Headers of every upgrade request received. */
  upgrades: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** A WebSocket server that answers each message with `<name>:<message>`. */
export async function startEchoServer(name: string): Promise<EchoServer> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  const upgrades: IncomingHttpHeaders[] = [];
  wss.on('connection', (socket, req) => {
    upgrades.push(req.headers);
    socket.on('message', (data) => socket.send(`${name}:${String(data)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    upgrades,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
      }),
  };
}

/** Opens a WebSocket and resolves once it is open. */
export function connect(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Sends `text` and resolves with the next message. */
export function roundTrip(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(String(data)));
    ws.send(text);
  });
}
