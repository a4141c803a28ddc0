/**
 * HTTP/2 upstreams (`h2c://` endpoints) behind the gateway's HTTP/1.1 listener: routing to two
 * versions, flow control, trailers, GOAWAY, an upstream that dies or stalls, the stream limit.
 * The upstreams are node:http2 servers on 127.0.0.1; the client is a raw HTTP/1.1 socket or undici.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2, { type Http2Server, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Gateway } from '../../src/gateway/server.js';
import { H2Pool } from '../../src/gateway/h2-pool.js';
import { PoolSet } from '../../src/gateway/pools.js';
import type { Dispatcher } from 'undici';
import { client, closedPort, gatewayFor, get, route, service, spec } from './helpers.js';

interface H2Upstream {
  url: string;
  origin: string;
  server: Http2Server;
  /** Headers of every stream received, in order. */
  received: IncomingHttpHeaders[];
  /** Sessions (connections) accepted so far. */
  sessions: number;
  /** Most streams open at once on one session. */
  peakStreams: number;
  close(): Promise<void>;
}

type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, up: H2Upstream) => boolean;

/** An h2c server answering `{ version, path, headers }` as JSON, or as `handler` says. */
async function startH2Upstream(version: string, handler?: StreamHandler, settings: http2.Settings = {}): Promise<H2Upstream> {
  const server = http2.createServer({ settings });
  const open = new Map<http2.Http2Session, number>();
  const up: H2Upstream = {
    url: '',
    origin: '',
    server,
    received: [],
    sessions: 0,
    peakStreams: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open.keys()) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('session', (s) => {
    up.sessions++;
    open.set(s, 0);
    s.on('close', () => open.delete(s));
  });
  server.on('stream', (stream, headers) => {
    up.received.push(headers);
    const session = stream.session!;
    const n = (open.get(session) ?? 0) + 1;
    open.set(session, n);
    up.peakStreams = Math.max(up.peakStreams, n);
    stream.on('close', () => {
      if (open.has(session)) open.set(session, open.get(session)! - 1);
    });
    stream.on('error', () => {});
    if (handler?.(stream, headers, up)) return;
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-version': version });
    stream.end(JSON.stringify({ version, path: headers[':path'], headers }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  up.url = `h2c://127.0.0.1:${port}`;
  up.origin = up.url;
  return up;
}

const upstreams: H2Upstream[] = [];
const gateways: Gateway[] = [];
after(async () => {
  await Promise.all(gateways.map((g) => g.close({ drainMs: 100 })));
  await Promise.all(upstreams.map((u) => u.close()));
  await client.close();
});
async function h2up(...args: Parameters<typeof startH2Upstream>): Promise<H2Upstream> {
  const u = await startH2Upstream(...args);
  upstreams.push(u);
  return u;
}
async function gw(...args: Parameters<typeof gatewayFor>): Promise<Gateway> {
  const g = await gatewayFor(...args);
  gateways.push(g);
  return g;
}

/** One raw HTTP/1.1 request; resolves with everything the gateway wrote until it closed. */
function rawRequest(port: number, head: string, opts: { readDelayMs?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // A slow reader: the socket stops reading after each chunk, so TCP and then HTTP/2 flow control push back.
      if (opts.readDelayMs !== undefined) {
        socket.pause();
        setTimeout(() => socket.resume(), opts.readDelayMs);
      }
    });
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.setTimeout(20_000, () => socket.destroy(new Error('raw request timed out')));
    socket.write(head);
  });
}

/** The body of a chunked HTTP/1.1 response, de-chunked (the test's own small parser). */
function dechunk(raw: Buffer): { head: string; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end).toString('latin1');
  let rest = raw.subarray(end + 4);
  if (!/transfer-encoding: chunked/i.test(head)) return { head, body: rest };
  const parts: Buffer[] = [];
  for (let guard = 0; guard < 1_000_000; guard++) {
    const line = rest.indexOf('\r\n');
    const size = parseInt(rest.subarray(0, line).toString('latin1'), 16);
    if (size === 0) break;
    parts.push(rest.subarray(line + 2, line + 2 + size));
    rest = rest.subarray(line + 2 + size + 2);
  }
  return { head, body: Buffer.concat(parts) };
}

test('two versions behind h2c:// endpoints: lanes route to each, spoken to in HTTP/2 with the lane and :authority', async () => {
  const stable = await h2up('stable');
  const beta = await h2up('beta');
  const g = await gw(
    spec({
      services: { svc: service({ stable: [stable.url], beta: [beta.url] }) },
      routes: [route({ rules: [{ lane: 'beta', users: ['b'] }] })],
    }),
  );
  for (const [user, version] of [['a', 'stable'], ['b', 'beta'], ['a', 'stable'], ['b', 'beta']] as const) {
    const r = await get(g, '/orders.v1.Orders/Get?x=1', { 'x-user-id': user, host: 'api.example.com' });
    assert.equal(r.status, 200);
    const echo = r.json<{ version: string; path: string; headers: IncomingHttpHeaders }>();
    assert.equal(echo.version, version);
    assert.equal(echo.path, '/orders.v1.Orders/Get?x=1');
    assert.equal(echo.headers[':authority'], 'api.example.com');
    assert.equal(echo.headers['x-gray-lane'], version);
    assert.equal(echo.headers.host, undefined, 'Host travels as :authority only (RFC 9113 §8.3.1)');
    assert.equal(r.headers['x-version'], version);
  }
  // Four requests, one HTTP/2 session per upstream: streams are multiplexed, not new connections.
  assert.equal(stable.sessions, 1);
  assert.equal(beta.sessions, 1);
});

test('a request body is streamed to the upstream and connection-specific fields are not sent', async () => {
  const up = await h2up('stable', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(JSON.stringify({ bytes: Buffer.concat(chunks).length, te: headers.te ?? null, connection: headers.connection ?? null }));
    });
    return true;
  });
  const g = await gw(spec({ services: { svc: service({ stable: [up.url] }) } }));
  const body = Buffer.alloc(300_000, 'b');
  const raw = await rawRequest(
    g.address.port,
    `POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\nTE: trailers\r\nContent-Type: application/grpc\r\nConnection: close\r\n\r\n${body.toString('latin1')}`,
  );
  const { head, body: out } = dechunk(raw);
  assert.match(head, /^HTTP\/1\.1 200/);
  // gRPC calls get `te: trailers`, which gRPC servers require; the client's TE is hop-by-hop.
  assert.deepEqual(JSON.parse(out.toString()), { bytes: body.length, te: 'trailers', connection: null });
});

test('a large response to a client that reads slowly arrives whole: onData pauses the stream, trailers after the last byte', async () => {
  const size = 4 << 20;
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = i % 251;
  const up = await h2up('stable', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
    stream.end(payload);
    return true;
  });
  const g = await gw(spec({ services: { svc: service({ stable: [up.url] }) } }));
  const raw = await rawRequest(g.address.port, 'GET /big HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', { readDelayMs: 2 });
  const { head, body } = dechunk(raw);
  assert.match(head, /^HTTP\/1\.1 200/);
  // HTTP/1.1 clients get no trailers from graylane; the body must still be complete and intact.
  assert.equal(body.length, size);
  assert.ok(body.equals(payload), 'the body is byte-identical');
});

test('an upstream GOAWAY mid-traffic: its in-flight stream completes, new requests open a new session, none fails', async () => {
  let held: ServerHttp2Stream | null = null;
  const up = await h2up('stable', (stream, headers) => {
    if (headers[':path'] === '/held') {
      held = stream;
      stream.respond({ ':status': 200 });
      stream.write('part1-');
      return true;
    }
    return false;
  });
  const g = await gw(spec({ services: { svc: service({ stable: [up.url] }) } }));
  const pending = get(g, '/held');
  for (let i = 0; i < 100 && held === null; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(held !== null, 'the held request reached the upstream');
  const stream = held as ServerHttp2Stream;
  // Graceful GOAWAY (NO_ERROR) naming the held stream as the last one processed (RFC 9113 §6.8).
  stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
  await new Promise((r) => setTimeout(r, 50));
  const during = await Promise.all(Array.from({ length: 10 }, (_, i) => get(g, `/after/${i}`)));
  assert.deepEqual(during.map((r) => r.status), Array(10).fill(200));
  stream.end('part2');
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.text, 'part1-part2', 'the stream the GOAWAY promised to finish finished');
  assert.equal(up.sessions, 2, 'new requests went to a second session');
});

test('an upstream that is down: 502 bad_gateway, passive health counts it; a session that dies mid-request: 502', async () => {
  const dead = `h2c://127.0.0.1:${await closedPort()}`;
  const killer = await h2up('stable', (stream) => {
    stream.session!.destroy();
    return true;
  });
  const g = await gw(
    spec({
      services: {
        svc: service({ stable: [dead] }, { passiveHealth: { consecutiveFailures: 100, ejectMs: 60_000 } }),
        other: service({ stable: [killer.url] }),
      },
      routes: [route({ name: 'dead', match: { pathPrefix: '/dead' } }), route({ name: 'killer', service: 'other' })],
    }),
  );
  for (let i = 0; i < 3; i++) {
    const r = await get(g, '/dead');
    assert.equal(r.status, 502);
    assert.equal(r.json<{ error: string; endpoint: string }>().error, 'bad_gateway');
    assert.equal(r.json<{ endpoint: string }>().endpoint, dead);
  }
  assert.deepEqual(
    g.health.entries().filter((e) => e.origin === dead).map((e) => e.failures),
    [3],
  );
  const r = await get(g, '/killed');
  assert.equal(r.status, 502);
  assert.equal(r.json<{ error: string }>().error, 'bad_gateway');
});

test('an upstream that does not answer in time: 504 upstream_timeout, and the stream is reset', async () => {
  let reset = false;
  const up = await h2up('stable', (stream) => {
    stream.on('close', () => (reset = stream.rstCode === http2.constants.NGHTTP2_CANCEL));
    return true; // never responds
  });
  const g = await gw(spec({ services: { svc: service({ stable: [up.url] }) }, timeouts: { connectMs: 1000, headersMs: 200, idleMs: 30_000, tunnelIdleMs: 60_000 } }));
  const started = performance.now();
  const r = await get(g, '/slow');
  assert.equal(r.status, 504);
  assert.equal(r.json<{ error: string }>().error, 'upstream_timeout');
  assert.ok(performance.now() - started < 3000);
  for (let i = 0; i < 100 && !reset; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(reset, true, 'the upstream saw the stream cancelled (RST_STREAM CANCEL), not left open');
});

test("the upstream's SETTINGS_MAX_CONCURRENT_STREAMS is respected: more requests than streams all complete", async () => {
  const up = await h2up(
    'stable',
    (stream) => {
      setTimeout(() => {
        stream.respond({ ':status': 200 });
        stream.end('ok');
      }, 30);
      return true;
    },
    { maxConcurrentStreams: 2 },
  );
  const g = await gw(spec({ services: { svc: service({ stable: [up.url] }) } }));
  // Let the first session learn the limit before the burst.
  assert.equal((await get(g, '/warm')).status, 200);
  const replies = await Promise.all(Array.from({ length: 24 }, (_, i) => get(g, `/n/${i}`)));
  assert.deepEqual(replies.map((r) => r.status), Array(24).fill(200));
  assert.ok(up.peakStreams <= 2, `at most 2 streams at once on a session, saw ${up.peakStreams}`);
  // The pool opens more sessions when its sessions are full, rather than piling streams up in one
  // session's local queue (nghttp2 would hold them back there), and no more than 4.
  assert.ok(up.sessions > 1 && up.sessions <= 4, `2 to 4 sessions, saw ${up.sessions}`);
});

test('a client that leaves mid-response resets the upstream stream', async () => {
  let closed: number | undefined;
  let started = false;
  const up = await h2up('stable', (stream) => {
    started = true;
    stream.respond({ ':status': 200 });
    stream.write('x'.repeat(1000));
    stream.on('close', () => (closed = stream.rstCode));
    return true;
  });
  const g = await gw(spec({ services: { svc: service({ stable: [up.url] }) } }));
  const socket = net.connect(g.address.port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write('GET /stream HTTP/1.1\r\nHost: h\r\n\r\n');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  assert.equal(started, true);
  socket.destroy();
  for (let i = 0; i < 200 && closed === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(closed, http2.constants.NGHTTP2_CANCEL);
});

test('the pool: a stream paused by its handler keeps every buffered byte when the trailers arrive, and onComplete gets them', async () => {
  const up = await h2up('stable', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' }));
    for (let i = 0; i < 10; i++) stream.write(Buffer.alloc(1000, 48 + i));
    stream.end();
    return true;
  });
  const pools = new PoolSet({ connectTimeoutMs: 1000 });
  try {
    const result = await new Promise<{ bytes: number; trailers: string[] } | Error>((resolve) => {
      let bytes = 0;
      let resume: () => void = () => {};
      const handler = {
        onConnect() {},
        onHeaders(_status: number, _headers: Buffer[], r: () => void) {
          resume = r;
          return true;
        },
        onData(chunk: Buffer) {
          bytes += chunk.length;
          // Paused after the first chunk, as when the client's socket is full; resumed later.
          if (bytes === chunk.length) {
            setTimeout(() => resume(), 100);
            return false;
          }
          return true;
        },
        onComplete(trailers: Buffer[]) {
          resolve({ bytes, trailers: trailers.map(String) });
        },
        onError(err: Error) {
          resolve(err);
        },
      };
      pools.get(up.origin).dispatch({ path: '/t', method: 'POST', headers: ['content-type', 'application/grpc'], body: null }, handler as unknown as Dispatcher.DispatchHandler);
    });
    assert.deepEqual(result, { bytes: 10_000, trailers: ['grpc-status', '0', 'grpc-message', 'fine'] });
  } finally {
    await pools.close();
  }
});

/**
 * A TCP relay to `port` that can go silent: while `silent`, bytes either way are dropped and the
 * connections stay open, as when a peer's host vanishes or a NAT forgets the flow (no FIN, no RST).
 */
async function silentRelay(port: number): Promise<{ port: number; connections: number; closed: number; silent: boolean; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const relay = {
    port: 0,
    connections: 0,
    /** Connections from the pool that ended (closed by the pool or the relay). */
    closed: 0,
    silent: false,
    close: () =>
      new Promise<void>((resolve) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((downstream) => {
    relay.connections++;
    const upstream = net.connect(port, '127.0.0.1');
    for (const sock of [downstream, upstream]) {
      sockets.add(sock);
      sock.on('error', () => {});
    }
    downstream.on('data', (c: Buffer) => void (relay.silent || upstream.write(c)));
    upstream.on('data', (c: Buffer) => void (relay.silent || downstream.write(c)));
    downstream.once('close', () => {
      relay.closed++;
      upstream.destroy();
    });
    upstream.once('close', () => downstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as AddressInfo).port;
  return relay;
}

/** One GET through `pool`; resolves with the status, or the error. */
function poolGet(pool: H2Pool, path: string): Promise<number | Error> {
  return new Promise((resolve) => {
    let status = 0;
    const handler = {
      onConnect() {},
      onHeaders(s: number) {
        status = s;
        return true;
      },
      onData() {
        return true;
      },
      onComplete() {
        resolve(status);
      },
      onError(err: Error) {
        resolve(err);
      },
    };
    pool.dispatch({ path, method: 'GET', headers: [], body: null, headersTimeout: 5000 }, handler as unknown as Dispatcher.DispatchHandler);
  });
}

test('an idle session is PINGed: a live one stays, one whose peer went silent is closed by the PING timeout and the next request opens a new one', async () => {
  const up = await h2up('stable');
  const relay = await silentRelay(Number(new URL(up.url).port));
  const pool = new H2Pool(`h2c://127.0.0.1:${relay.port}`, { connectTimeoutMs: 1000, idleMs: 60_000, pingIntervalMs: 100, pingTimeoutMs: 300 });
  try {
    assert.equal(await poolGet(pool, '/one'), 200);
    // Several PINGs answered: the idle session is kept.
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual({ connections: relay.connections, closed: relay.closed, sessions: pool.sessionCount }, { connections: 1, closed: 0, sessions: 1 });
    relay.silent = true;
    // The next PING goes unanswered: the session is closed within interval + timeout, with margin for a loaded machine.
    const deadline = Date.now() + 5000;
    while (relay.closed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.equal(relay.closed, 1, 'the silent session was not closed');
    assert.equal(pool.sessionCount, 0);
    relay.silent = false;
    const started = Date.now();
    assert.equal(await poolGet(pool, '/two'), 200);
    assert.ok(Date.now() - started < 2000, 'the next request did not wait on the dead session');
    assert.equal(relay.connections, 2);
  } finally {
    await pool.destroy();
    await relay.close();
  }
});

const run = promisify(execFile);

/** A self-signed certificate for 127.0.0.1 made with openssl at test time (it is its own CA). */
async function selfSigned(): Promise<{ dir: string; cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'graylane-h2-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { timeout: 30_000 });
  return { dir, cert, key };
}

test('h2:// endpoints: HTTP/2 over TLS by ALPN, the certificate verified against the CA store plus NODE_EXTRA_CA_CERTS', async () => {
  const { dir, cert, key } = await selfSigned();
  const server = http2.createSecureServer({ cert: readFileSync(cert), key: readFileSync(key), allowHTTP1: false });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'x-alpn': String((stream.session!.socket as { alpnProtocol?: string }).alpnProtocol) });
    stream.end('tls-ok');
  });
  server.on('sessionError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `h2://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    // Not trusted by this process: refused, 502 (never a silent unverified connection).
    const g = await gw(spec({ services: { svc: service({ stable: [origin] }) } }));
    const r = await get(g, '/');
    assert.equal(r.status, 502);
    assert.equal(r.json<{ error: string }>().error, 'bad_gateway');
    // Trusted through NODE_EXTRA_CA_CERTS, read at process start: a child process with it set.
    const pools = new URL('../../src/gateway/pools.js', import.meta.url).href;
    const script = `
      const { PoolSet } = await import(${JSON.stringify(pools)});
      const set = new PoolSet({ connectTimeoutMs: 2000 });
      set.get(${JSON.stringify(origin)}).dispatch({ path: '/', method: 'GET', headers: ['host', '127.0.0.1'], body: null }, {
        onConnect() {}, onHeaders(s, h) { this.out = [s, String(h[h.findIndex((b) => String(b) === 'x-alpn') + 1])]; return true; },
        onData(c) { this.out.push(String(c)); return true; },
        onComplete() { console.log(JSON.stringify(this.out)); set.close(); },
        onError(e) { console.log(JSON.stringify(['error', e.message])); set.close(); },
      });`;
    const child = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert }, timeout: 30_000 });
    assert.deepEqual(JSON.parse(child.stdout), [200, 'h2', 'tls-ok']);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an h2:// endpoint whose TLS server chooses no ALPN protocol (an https:// one) fails with that said, not nghttp2\'s "Protocol error"', async () => {
  const { dir, cert, key } = await selfSigned();
  // A TLS server that ignores ALPN and answers whatever it gets in HTTP/1.1.
  const server = tls.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `h2://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    // Trusted through NODE_EXTRA_CA_CERTS (read at process start): a child process, as above.
    const pools = new URL('../../src/gateway/pools.js', import.meta.url).href;
    const script = `
      const { PoolSet } = await import(${JSON.stringify(pools)});
      const set = new PoolSet({ connectTimeoutMs: 2000 });
      set.get(${JSON.stringify(origin)}).dispatch({ path: '/', method: 'GET', headers: ['host', '127.0.0.1'], body: null }, {
        onConnect() {}, onHeaders(s) { console.log(JSON.stringify(['status', s])); set.close(); return true; },
        onData() { return true; }, onComplete() {},
        onError(e) { console.log(JSON.stringify(['error', e.message])); set.close(); },
      });`;
    const child = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert }, timeout: 30_000 });
    const [kind, message] = JSON.parse(child.stdout) as [string, string];
    assert.equal(kind, 'error');
    assert.equal(message, `HTTP/2 upstream ${origin} did not choose h2 by ALPN (it chose none): is it an https:// endpoint?`);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an h2c upstream that accepts the connection but never speaks HTTP/2: 504 after timeouts.connect, and a WebSocket upgrade to it: 502 at once', async () => {
  const silent = net.createServer((socket) => socket.on('error', () => {}).resume());
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const origin = `h2c://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  try {
    const g = await gw(spec({ services: { svc: service({ stable: [origin] }) }, timeouts: { connectMs: 300, headersMs: 5000, idleMs: 30_000, tunnelIdleMs: 60_000 } }));
    const started = performance.now();
    const r = await get(g, '/');
    assert.equal(r.status, 504);
    assert.equal(r.json<{ error: string }>().error, 'upstream_timeout');
    assert.ok(performance.now() - started < 3000, 'bounded by the connect timeout, not the headers timeout');
    const head = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(g.address.port, '127.0.0.1');
      socket.once('data', (c: Buffer) => {
        resolve(c.toString('latin1'));
        socket.destroy();
      });
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('no answer to the upgrade in 5 s')));
      socket.write('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    });
    assert.match(head, /^HTTP\/1\.1 502 /);
  } finally {
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test('a retry from an http:// endpoint to an h2c:// one of the same version carries every field (lines rendered for HTTP/1.1 turned back into fields)', async () => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const good = await h2up('stable');
  const g = await gw(
    spec({
      services: { svc: service({ stable: [dead, good.url] }, { passiveHealth: { consecutiveFailures: 100, ejectMs: 60_000 }, retry: { attempts: 1, on: ['connect-error'] } }) },
    }),
  );
  // Round robin sends one of two requests to the dead HTTP/1.1 endpoint first: its retry reaches the h2c one.
  for (let i = 0; i < 2; i++) {
    const r = await rawRequest(g.address.port, `GET /r/${i} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: ua/1\r\nx-custom:  kept \r\nX-Gray-Lane: alpha\r\nConnection: close\r\n\r\n`);
    assert.match(r.toString('latin1'), /^HTTP\/1\.1 200 /);
  }
  assert.equal(good.received.length, 2);
  for (const h of good.received) {
    assert.equal(h[':authority'], 'shop.example');
    assert.equal(h['user-agent'], 'ua/1');
    assert.equal(h['x-custom'], 'kept');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-host'], 'shop.example');
    assert.equal(h['x-gray-lane'], 'stable');
    assert.equal(h.baggage, 'graylane-lane=stable');
  }
  const failures = g.health.entries().find((e) => e.origin === dead)?.failures ?? 0;
  assert.equal(failures, 1, 'one request went to the dead endpoint first and was retried');
});

test('retry as for HTTP/1.1: a GET that cannot connect to one h2c:// endpoint is sent to the next; a POST is not retried', async () => {
  const dead = `h2c://127.0.0.1:${await closedPort()}`;
  const good = await h2up('stable');
  const g = await gw(
    spec({
      services: { svc: service({ stable: [dead, good.url] }, { passiveHealth: { consecutiveFailures: 100, ejectMs: 60_000 }, retry: { attempts: 1, on: ['connect-error'] } }) },
    }),
  );
  // Round robin puts every other request on the dead endpoint: each GET is retried to the good one.
  for (let i = 0; i < 6; i++) {
    const r = await get(g, `/get/${i}`);
    assert.equal(r.status, 200, `GET ${i}: ${r.text}`);
    assert.equal(r.json<{ version: string }>().version, 'stable');
  }
  assert.equal(good.received.length, 6);
  // Passive health counted the failed tries (at least every other request tried the dead one first).
  const failures = g.health.entries().find((e) => e.origin === dead)?.failures ?? 0;
  assert.ok(failures >= 3, `${failures} failures counted against the dead endpoint`);
  // A POST with a body is never retried: the one sent to the dead endpoint is a 502.
  const statuses: number[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await client.request({ origin: `http://127.0.0.1:${g.address.port}`, path: `/post/${i}`, method: 'POST', body: 'x' });
    await r.body.dump();
    statuses.push(r.statusCode);
  }
  assert.deepEqual([...statuses].sort(), [200, 502]);
});
