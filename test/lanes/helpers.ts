/** Servers and waits shared by the lanes SDK tests. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

/** Starts `server` on 127.0.0.1, port 0. */
export async function listen(server: http.Server): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What the downstream saw of one request. */
export interface Seen {
  path: string;
  lane: string | null;
  baggage: string | null;
  /** Every lane header line as received (to catch a header written twice). */
  laneLines: string[];
}

/**
 * A downstream service without the SDK: answers each request with what it saw (JSON {@link Seen})
 * and keeps a log of it.
 */
export async function startDownstream(laneHeader = 'x-gray-lane'): Promise<Listening & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const l = await listen(
    http.createServer((req, res) => {
      const laneLines: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i]!.toLowerCase() === laneHeader) laneLines.push(req.rawHeaders[i + 1]!);
      }
      const s: Seen = {
        path: req.url ?? '',
        lane: (req.headers[laneHeader] as string | undefined) ?? null,
        baggage: (req.headers.baggage as string | undefined) ?? null,
        laneLines,
      };
      seen.push(s);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(s));
      });
    }),
  );
  return Object.assign(l, { seen });
}

/** A GET or POST with node:http, callback style; resolves with the parsed JSON body. */
export function httpJson<T>(url: string, opts: http.RequestOptions = {}, body?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text) as T);
        } catch (err) {
          reject(new Error(`HTTP ${res.statusCode}: ${text}`, { cause: err }));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
