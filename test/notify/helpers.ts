/**
 * Receivers for notification tests: one HTTP server on 127.0.0.1 that records every request and
 * answers per path as a test says (200, 500 for the first n, never).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

export type Behaviour = { kind: 'ok'; answer?: string } | { kind: 'fail'; times: number } | { kind: 'hang' };

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** Requests to a path (query ignored). */
  at(path: string): Received[];
  behave(path: string, b: Behaviour): void;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const received: Received[] = [];
  const behaviours = new Map<string, Behaviour>();
  const failed = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const path = url.split('?')[0]!;
      received.push({ path, url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const b = behaviours.get(path) ?? { kind: 'ok' };
      if (b.kind === 'hang') return; // never answers
      if (b.kind === 'fail' && (failed.get(path) ?? 0) < b.times) {
        failed.set(path, (failed.get(path) ?? 0) + 1);
        res.writeHead(500).end('down for now');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(b.kind === 'ok' && b.answer !== undefined ? b.answer : '{"errcode":0,"code":0}');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const p = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${p}`,
    port: p,
    received,
    at: (path) => received.filter((r) => r.path === path),
    behave: (path, b) => behaviours.set(path, b),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** `name{labels} value` from a /metrics text; 0 when absent. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return 0;
}
