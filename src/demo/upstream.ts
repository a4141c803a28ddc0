/**
 * A tiny upstream for demos, examples and tests: answers every request with JSON naming the service,
 * version and instance that served it, plus the lane it was sent in, and counts what it received.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoUpstream {
  url: string;
  /** Requests received, including mirrored copies (those carry `x-graylane-mirror`). */
  received: number;
  mirrored: number;
  close(): Promise<void>;
}

export interface DemoUpstreamOptions {
  service: string;
  version: string;
  host?: string;
  port?: number;
}

export async function startDemoUpstream(opts: DemoUpstreamOptions): Promise<DemoUpstream> {
  const state = { received: 0, mirrored: 0 };
  const server = http.createServer((req, res) => {
    state.received++;
    if (req.headers['x-graylane-mirror'] !== undefined) state.mirrored++;
    req.resume();
    req.on('end', () => {
      const addr = server.address() as AddressInfo;
      const body = JSON.stringify({
        service: opts.service,
        version: opts.version,
        instance: `${addr.address}:${addr.port}`,
        lane: req.headers['x-gray-lane'] ?? null,
        path: req.url,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address}:${addr.port}`,
    get received() {
      return state.received;
    },
    get mirrored() {
      return state.mirrored;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
