/**
 * The one test upstream: a real HTTP server on 127.0.0.1 (port from the OS) that says which version
 * it is. It answers each request with its JSON Echo (who it is, what it received) and the headers
 * `x-version` and `x-body-bytes`, after reading the whole request body. Options make it fail every
 * n-th request (for analysis), or hand a request to a test's own handler.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** What an upstream answers: who it is and what it received. */
export interface Echo {
  version: string;
  instance: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Bytes of request body received, once the body has ended (default handler only). */
  bodyBytes?: number;
}

export interface Upstream {
  url: string;
  origin: string;
  port: number;
  version: string;
  instance: string;
  /** Every request it received, in order. */
  received: Echo[];
  /** Requests received so far (received.length). */
  readonly count: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Answer WebSocket upgrades too, echoing each message as `<version>:<message>`. */
  echoWebSockets(): void;
  close(): Promise<void>;
}

/** Takes over a request (return true), or leaves it to the Echo answer (return false). */
export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse, self: Upstream) => boolean;

export interface UpstreamOptions {
  /** Default `<version>-1`. */
  instance?: string;
  handler?: UpstreamHandler;
  /** Answer 500 to every n-th request (5 = exactly 20% of its requests fail, deterministically). */
  failEvery?: number;
}

/**
 * @example
 * const beta = await startUpstream('beta');                         // Echo answers
 * const flaky = await startUpstream('beta', { failEvery: 5 });      // every 5th is a 500
 * const slow = await startUpstream('stable', 'slow', (req, res) => { setTimeout(() => res.end(), 500); return true; });
 */
export async function startUpstream(version: string, opts?: UpstreamOptions): Promise<Upstream>;
export async function startUpstream(version: string, instance?: string, handler?: UpstreamHandler): Promise<Upstream>;
export async function startUpstream(version: string, second?: string | UpstreamOptions, handler?: UpstreamHandler): Promise<Upstream> {
  const opts: UpstreamOptions = typeof second === 'string' ? { instance: second, ...(handler ? { handler } : {}) } : (second ?? {});
  const instance = opts.instance ?? `${version}-1`;
  const received: Echo[] = [];
  const self = {
    version,
    instance,
    received,
    connections: 0,
    get count() {
      return received.length;
    },
  } as Upstream;
  const server = http.createServer((req, res) => {
    const echo: Echo = { version, instance, method: req.method!, url: req.url!, headers: req.headers };
    received.push(echo);
    if (opts.handler?.(req, res, self)) return;
    const fail = opts.failEvery !== undefined && received.length % opts.failEvery === 0;
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      echo.bodyBytes = bytes;
      const body = JSON.stringify(echo);
      res.writeHead(fail ? 500 : 200, {
        'content-type': 'application/json',
        'x-version': version,
        'x-body-bytes': String(bytes),
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', () => self.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  self.port = port;
  self.origin = `http://127.0.0.1:${port}`;
  self.url = self.origin;
  let wss: WebSocketServer | undefined;
  self.echoWebSockets = () => {
    wss = new WebSocketServer({ server });
    wss.on('connection', (socket) => socket.on('message', (data) => socket.send(`${version}:${String(data)}`)));
  };
  self.close = () =>
    new Promise<void>((resolve) => {
      for (const c of wss?.clients ?? []) c.terminate();
      wss?.close();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return self;
}
