/**
 * Test support for the HTTP/2 tests: a gateway with an h2c listener on 127.0.0.1, and one-call
 * requests with node:http2's client.
 */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { compile } from '../../src/routing/index.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway/server.js';
import type { Spec } from '../../src/spec/types.js';

export interface Listener {
  port: number;
  url: string;
}

/**
 * Starts a gateway on `s` with two listeners on 127.0.0.1: plain HTTP/1.1 (`gateway.address`) and
 * clear-text HTTP/2 with prior knowledge (`h2c: true`), whose address is returned too.
 */
export async function gatewayWithH2c(s: Spec, opts: Partial<GatewayOptions> = {}): Promise<{ g: Gateway; h2: Listener }> {
  const g = await startGateway({
    snapshot: compile(s),
    accessLog: false,
    listeners: [
      { name: 'listen', host: '127.0.0.1', port: 0 },
      { name: 'listen[1]', host: '127.0.0.1', port: 0, h2c: true },
    ],
    ...opts,
  });
  const port = g.listeners.find((l) => l.h2c)!.port;
  return { g, h2: { port, url: `http://127.0.0.1:${port}` } };
}

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The trailers, or null when the stream ended without any. */
  trailers: IncomingHttpHeaders | null;
  json<T = Record<string, unknown>>(): T;
}

/** One request on `session`; resolves with the whole response. */
export function h2request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': body === undefined ? 'GET' : 'POST', ...headers }, { endStream: body === undefined });
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('error', reject);
    stream.once('end', () => {
      const b = Buffer.concat(chunks);
      resolve({
        status: Number(head[':status']),
        headers: head,
        body: b,
        text: b.toString(),
        trailers,
        json: <T>() => JSON.parse(b.toString()) as T,
      });
    });
    if (body !== undefined) stream.end(body);
  });
}

/** An HTTP/2 client session to `url`, connected. */
export function h2connect(url: string, opts: http2.SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, opts);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}
