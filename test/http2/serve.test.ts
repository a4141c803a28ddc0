/**
 * HTTP/2 clients through the gateway (src/http2), over h2c with prior knowledge on a listener made
 * here: the same routing, marking, dispatch, mirror and access log as HTTP/1.1, trailers passed
 * on, backpressure to the upstream, GOAWAY on drain, and nothing connection-specific sent.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import http2, { constants } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import type { Gateway } from '../../src/gateway/server.js';
import type { Spec } from '../../src/spec/types.js';
import { client, get, route, service, spec, startUpstream, type Echo, type Upstream } from '../gateway/helpers.js';
import { until } from '../support/wait.js';
import { headerLinesOf, startRecordingUpstream } from '../security/helpers.js';
import { connectRaw, END_HEADERS, END_STREAM, frame, literal, request, T } from './frames.js';
import { gatewayWithH2c, h2connect, h2request, type Listener } from './helpers.js';

const run = promisify(execFile);
const upstreams: Upstream[] = [];
const gateways: Gateway[] = [];
async function up(...args: Parameters<typeof startUpstream>): Promise<Upstream> {
  const u = await startUpstream(...args);
  upstreams.push(u);
  return u;
}
/** A gateway serving `s` on an HTTP/1.1 listener and an h2c one. */
async function gw(s: Spec, opts: Parameters<typeof gatewayWithH2c>[1] = {}): Promise<{ g: Gateway; h2: Listener }> {
  const both = await gatewayWithH2c(s, opts);
  gateways.push(both.g);
  return both;
}
after(async () => {
  await Promise.all(gateways.map((g) => g.close({ drainMs: 100 })));
  await Promise.all(upstreams.map((u) => u.close()));
  await client.close();
});

let stable: Upstream, beta: Upstream;
before(async () => {
  [stable, beta] = await Promise.all([up('stable'), up('beta')]);
});

const twoVersions = (over: Partial<Spec> = {}): Spec =>
  spec({
    services: { svc: service({ stable: [stable.url], beta: [beta.url] }) },
    routes: [
      route({
        match: { host: 'shop.test' },
        rules: [
          { lane: 'beta', header: { name: 'x-beta', equals: 'yes' } },
          { lane: 'beta', percent: 50 },
        ],
      }),
    ],
    ...over,
  });

test('node:http2 over h2c: :authority is the host, fields reach the upstream as HTTP/1.1 has them, by header rule to beta', async () => {
  const { h2 } = await gw(twoVersions());
  const session = await h2connect(h2.url);
  try {
    const r = await h2request(session, {
      ':authority': 'shop.test',
      ':path': '/cart?x=1',
      'x-beta': 'yes',
      cookie: ['a=1', 'b=2'],
      'x-gray-lane': 'alpha', // a client cannot put itself into a lane
    });
    assert.equal(r.status, 200);
    const echo = r.json<Echo>();
    assert.equal(echo.version, 'beta');
    assert.equal(echo.url, '/cart?x=1');
    assert.equal(echo.headers.host, 'shop.test');
    assert.equal(echo.headers.cookie, 'a=1; b=2', 'cookie fields joined with "; " (RFC 9113 §8.2.3)');
    assert.equal(echo.headers['x-gray-lane'], 'beta');
    assert.match(String(echo.headers.baggage), /graylane-lane=beta/);
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-forwarded-host'], 'shop.test');
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    for (const name of Object.keys(echo.headers)) assert.ok(!name.startsWith(':'), `no pseudo-header upstream: ${name}`);
    assert.equal(r.headers['x-gray-version'], 'beta');
    // Without the header, by user: the same user is in the same lane on every request.
    const lanes = new Set<string>();
    for (let i = 0; i < 3; i++) lanes.add((await h2request(session, { ':authority': 'shop.test', ':path': '/', 'x-user-id': 'u-7' })).json<Echo>().version);
    assert.equal(lanes.size, 1);
  } finally {
    session.close();
  }
});

test('by user percent: HTTP/2 and HTTP/1.1 put every user in the same lane, and both versions serve', async () => {
  const { g, h2 } = await gw(twoVersions());
  const session = await h2connect(h2.url);
  try {
    const seen: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const user = `user-${i}`;
      const over2 = (await h2request(session, { ':authority': 'shop.test', ':path': '/p', 'x-user-id': user })).json<Echo>().version;
      const over1 = (await get(g, '/p', { host: 'shop.test', 'x-user-id': user })).json().version;
      assert.equal(over2, over1, user);
      seen[over2] = (seen[over2] ?? 0) + 1;
    }
    assert.ok((seen.stable ?? 0) > 5 && (seen.beta ?? 0) > 5, JSON.stringify(seen));
  } finally {
    session.close();
  }
});

test('curl --http2-prior-knowledge gets the routed answer over HTTP/2', async () => {
  const { h2 } = await gw(twoVersions());
  const { stdout } = await run('curl', ['-sS', '--http2-prior-knowledge', '-H', 'x-beta: yes', '-H', 'Host: shop.test', '-w', '\n%{http_version} %{http_code}', `${h2.url}/curl`]);
  const [body, status] = stdout.split('\n');
  assert.equal(status, '2 200');
  assert.equal((JSON.parse(body!) as Echo).version, 'beta');
});

test('curl --http2 to an http:// URL (Upgrade: h2c) is answered over HTTP/1.1, routed, the upgrade never passed on', async () => {
  const { g } = await gw(twoVersions());
  const before = beta.received.length;
  const { stdout } = await run('curl', ['-sS', '--http2', '-H', 'x-beta: yes', '-H', 'Host: shop.test', '-w', '\n%{http_version} %{http_code}', `http://127.0.0.1:${g.address.port}/curl-upgrade`]);
  const [body, status] = stdout.split('\n');
  assert.equal(status, '1.1 200', 'no 101: curl stayed on HTTP/1.1');
  assert.equal((JSON.parse(body!) as Echo).version, 'beta');
  assert.equal(beta.received.length, before + 1);
  const seen = beta.received.at(-1)!;
  assert.equal(seen.url, '/curl-upgrade');
  assert.equal(seen.headers.upgrade, undefined);
  assert.equal(seen.headers['http2-settings'], undefined);
});

test('the gateway answers its own errors over HTTP/2 as over HTTP/1.1 (404 no route, 400 conflicting Host, 414, 431)', async () => {
  const { h2 } = await gw(twoVersions({ limits: { maxUrlBytes: 1024, maxHeaderBytes: 16_384, maxHeaders: 20, headersTimeoutMs: 10_000, maxConcurrentStreams: 100 } }));
  const session = await h2connect(h2.url);
  try {
    const none = await h2request(session, { ':authority': 'other.test', ':path': '/x' });
    assert.equal(none.status, 404);
    assert.equal(none.json().error, 'no_route');
    const conflicting = await h2request(session, { ':authority': 'shop.test', host: 'evil.test', ':path': '/' });
    assert.equal(conflicting.status, 400);
    assert.match(String(conflicting.json().reason), /another authority/);
    assert.equal((await h2request(session, { ':authority': 'shop.test', ':path': `/${'a'.repeat(1100)}` })).status, 414);
    const many: Record<string, string> = {};
    for (let i = 0; i < 21; i++) many[`x-f${i}`] = 'v';
    assert.equal((await h2request(session, { ':authority': 'shop.test', ':path': '/', ...many })).status, 431);
    assert.equal((await h2request(session, { ':authority': 'shop.test', ':path': '/public/..%2fadmin' })).status, 400);
    // Dot segments are resolved as for HTTP/1.1: the upstream sees the normalised target.
    assert.equal((await h2request(session, { ':authority': 'shop.test', ':path': '/a/../b' })).json<Echo>().url, '/b');
    // The session is still good after each answer.
    assert.equal((await h2request(session, { ':authority': 'shop.test', ':path': '/' })).status, 200);
  } finally {
    session.close();
  }
});

test('a Host that differs from :authority only in letter case is the same authority (RFC 9113 §8.3.1): routed, the upstream gets :authority; a real mismatch stays 400', async () => {
  const { h2 } = await gw(twoVersions());
  const session = await h2connect(h2.url);
  try {
    for (const host of ['SHOP.test', 'Shop.Test']) {
      const r = await h2request(session, { ':authority': 'shop.test', host, ':path': '/case' });
      assert.equal(r.status, 200, host);
      assert.equal(r.json<Echo>().headers.host, 'shop.test');
    }
    const upper = await h2request(session, { ':authority': 'SHOP.TEST:80', host: 'shop.test:80', ':path': '/case' });
    assert.equal(upper.status, 200);
    assert.equal(upper.json<Echo>().headers.host, 'SHOP.TEST:80');
    // Not a case difference: another port, another name of the same length.
    for (const [authority, host] of [
      ['shop.test', 'shop.test:8080'],
      ['shop.test', 'shop.tess'],
    ]) {
      const r = await h2request(session, { ':authority': authority!, host: host!, ':path': '/case' });
      assert.equal(r.status, 400, JSON.stringify([authority, host]));
      assert.match(String(r.json().reason), /another authority/);
    }
  } finally {
    session.close();
  }
});

test('an :authority with an empty host (`:80`, `:`, `[]:80`) is a 400 as over HTTP/1.1; `[::1]:80` and an empty port are served', async () => {
  const { h2 } = await gw(spec({ services: { svc: service({ stable: [stable.url] }) } }));
  const session = await h2connect(h2.url);
  const before = stable.count;
  try {
    for (const authority of [':80', ':', '[]:80']) {
      const r = await h2request(session, { ':authority': authority, ':path': '/empty-host' });
      assert.equal(r.status, 400, JSON.stringify(authority));
      assert.match(String(r.json().reason), /the Host names no host/);
    }
    // Without :authority, a host field is the authority (RFC 9113 §8.3.1): the same check.
    const hostOnly = await h2request(session, { host: ':80', ':path': '/empty-host' });
    assert.equal(hostOnly.status, 400);
    assert.match(String(hostOnly.json().reason), /the Host names no host/);
    assert.equal(stable.count, before, 'no request reached the upstream');
    for (const authority of ['[::1]:80', 'shop.test:']) {
      const r = await h2request(session, { ':authority': authority, ':path': '/host' });
      assert.equal(r.status, 200, authority);
      assert.equal(r.json<Echo>().headers.host, authority);
    }
  } finally {
    session.close();
  }
});

test('a :path with a fragment or a byte outside visible ASCII is a 400, as the HTTP/1.1 engine refuses that target; the upstream never sees it', async () => {
  const { h2 } = await gw(twoVersions());
  const session = await h2connect(h2.url);
  const before = stable.count + beta.count;
  try {
    // nghttp2 lets both through; forwarded, `/admin#x` is routed as that path while the upstream reads /admin.
    for (const path of ['/admin#x', '/public#/../admin', '/a\xffb']) {
      const r = await h2request(session, { ':authority': 'shop.test', ':path': path });
      assert.equal(r.status, 400, JSON.stringify(path));
      assert.match(String(r.json().reason), /visible ASCII, or a fragment/);
    }
    assert.equal(stable.count + beta.count, before, 'no request reached an upstream');
    assert.equal((await h2request(session, { ':authority': 'shop.test', ':path': '/' })).status, 200);
  } finally {
    session.close();
  }
});

test('a request body streams to the upstream, and a mirror copy goes to the mirror lane', async () => {
  const alpha = await up('alpha');
  const { h2 } = await gw(
    spec({
      services: { svc: service({ stable: [stable.url], alpha: [alpha.url] }) },
      routes: [route({ mirror: { lane: 'alpha', percent: 100 } })],
    }),
  );
  const session = await h2connect(h2.url);
  try {
    const body = Buffer.alloc(300_000, 'b');
    const r = await h2request(session, { ':authority': 'x.test', ':path': '/upload', 'content-length': String(body.length) }, body);
    assert.equal(r.status, 200);
    assert.equal(r.json<Echo>().bodyBytes, body.length);
    // The echo records bodyBytes when the copy's body has ended, a moment after its head arrived.
    await until('the mirror copy, body and all', () => alpha.received[0]?.bodyBytes !== undefined);
    assert.equal(alpha.received[0]!.headers['x-graylane-mirror'], '1');
    assert.equal(alpha.received[0]!.bodyBytes, body.length);
    assert.equal(alpha.received.length, 1, 'one copy');
  } finally {
    session.close();
  }
});

test('trailers of an HTTP/1.1 chunked upstream reach the HTTP/2 client; connection-specific fields never do', async () => {
  const chunky = await up('stable', 'chunky', (_req, res) => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      trailer: 'x-checksum, grpc-status',
      connection: 'x-hop',
      'x-hop': 'dropped',
      'keep-alive': 'timeout=5',
      upgrade: 'foo',
      'proxy-connection': 'x',
    });
    res.write('part one, ');
    res.addTrailers({ 'x-checksum': 'abc123', 'grpc-status': '0' });
    res.end('part two');
    return true;
  });
  const { g, h2 } = await gw(spec({ services: { svc: service({ stable: [chunky.url] }) } }));
  const session = await h2connect(h2.url);
  try {
    const r = await h2request(session, { ':authority': 'x.test', ':path': '/t' });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'part one, part two');
    assert.equal(r.trailers?.['x-checksum'], 'abc123');
    assert.equal(r.trailers?.['grpc-status'], '0');
    for (const name of ['connection', 'x-hop', 'keep-alive', 'upgrade', 'proxy-connection', 'transfer-encoding', 'trailer']) {
      assert.equal(r.headers[name], undefined, name);
    }
    // HTTP/1.1 clients are unchanged: the engine ends the chunked body without them.
    const one = await get(g, '/t');
    assert.equal(one.text, 'part one, part two');
  } finally {
    session.close();
  }
});

test('a whole body with its Content-Length leaves as HEADERS then DATA with END_STREAM (no empty DATA frame); with trailers, they follow it', async () => {
  // An h2c upstream that answers /trailers with a Content-Length body and trailers.
  const upstream = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  upstream.on('session', (session) => sessions.add(session));
  upstream.on('stream', (stream, headers) => {
    const trailers = headers[':path'] === '/trailers';
    stream.respond({ ':status': 200, 'content-length': 5 }, { waitForTrailers: trailers });
    if (trailers) stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sum': '42' }));
    stream.end('hello');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const h2origin = `h2c://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const { h2 } = await gw(spec({ services: { svc: service({ stable: [stable.url], h2: [h2origin] }) }, routes: [route({ match: { pathPrefix: '/trailers' }, rules: [{ lane: 'h2', percent: 100 }] }), route()] }));
  const peer = await connectRaw(h2.port);
  try {
    await peer.write(frame(T.HEADERS, END_HEADERS | END_STREAM, 1, literal(request('x.test', '/plain'))));
    await peer.write(frame(T.HEADERS, END_HEADERS | END_STREAM, 3, literal(request('x.test', '/trailers'))));
    const on = (stream: number) => peer.frames.filter((f) => f.stream === stream && (f.type === T.HEADERS || f.type === T.DATA));
    await until('both responses', () => on(1).some((f) => (f.flags & END_STREAM) !== 0) && on(3).some((f) => (f.flags & END_STREAM) !== 0));
    const shape = (stream: number) => on(stream).map((f) => `${f.type === T.HEADERS ? 'HEADERS' : `DATA(${f.length})`}${(f.flags & END_STREAM) !== 0 ? ' END_STREAM' : ''}`);
    // The HTTP/1.1 echo upstream's JSON body, whole in one DATA frame with END_STREAM.
    assert.deepEqual(shape(1).map((f) => f.replace(/\(\d+\)/, '')), ['HEADERS', 'DATA END_STREAM']);
    assert.deepEqual(shape(3), ['HEADERS', 'DATA(5)', 'HEADERS END_STREAM']);
    assert.equal(peer.resets.size, 0);
  } finally {
    peer.socket.destroy();
    // The gateway keeps its idle session to the upstream: closed here, or close() would wait for it.
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
});

test('a client that stops reading pauses the upstream (flow control), then gets every byte', async () => {
  const TOTAL = 64 << 20;
  let written = 0;
  const big = await up('stable', 'big', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TOTAL });
    const chunk = Buffer.alloc(64 << 10, 'z');
    const pump = (): void => {
      while (written < TOTAL) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return true;
  });
  const { h2 } = await gw(spec({ services: { svc: service({ stable: [big.url] }) } }));
  const session = await h2connect(h2.url);
  try {
    const stream = session.request({ ':path': '/big', ':authority': 'x.test' });
    let received = 0;
    let paused = false;
    stream.on('data', (c: Buffer) => {
      received += c.length;
      if (received >= 1 << 20 && !paused) {
        paused = true;
        stream.pause();
      }
    });
    await until('1 MiB received', () => received >= 1 << 20);
    await new Promise((r) => setTimeout(r, 1000));
    // Kernel buffers, undici's, the stream's and the 64 KiB window hold some: far from 64 MiB.
    assert.ok(written < 16 << 20, `the upstream wrote ${written} bytes to a client that read ${received}`);
    const ended = new Promise((r) => stream.once('end', r));
    stream.resume();
    await ended;
    assert.equal(received, TOTAL);
  } finally {
    session.close();
  }
});

test('a client that resets its stream aborts the upstream request', async () => {
  let closedEarly = false;
  const hang = await up('stable', 'hang', (req, res) => {
    res.writeHead(200);
    res.write('started');
    req.socket.once('close', () => (closedEarly = !res.writableEnded));
    return true;
  });
  const { g, h2 } = await gw(spec({ services: { svc: service({ stable: [hang.url] }) } }));
  const session = await h2connect(h2.url);
  try {
    const stream = session.request({ ':path': '/hang', ':authority': 'x.test' });
    await new Promise((r) => stream.once('data', r));
    stream.close(constants.NGHTTP2_CANCEL);
    await until('the upstream connection closed mid-response', () => closedEarly);
    await until('nothing in flight', () => g.inFlight() === 0);
  } finally {
    session.close();
  }
});

test('drain: GOAWAY to HTTP/2 clients, the stream in flight completes, the session closes', async () => {
  const slow = await up('stable', 'slow', (_req, res) => {
    setTimeout(() => res.end('late but whole'), 300);
    return true;
  });
  const { g, h2 } = await gatewayWithH2c(spec({ services: { svc: service({ stable: [slow.url] }) } }));
  const session = await h2connect(h2.url);
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
  const closed = new Promise((r) => session.once('close', r));
  const inFlight = h2request(session, { ':path': '/slow', ':authority': 'x.test' });
  await until('the request in flight', () => g.inFlight() === 1);
  const drained = g.close({ drainMs: 5000 });
  assert.equal(await goaway, constants.NGHTTP2_NO_ERROR);
  const r = await inFlight;
  assert.equal(r.status, 200);
  assert.equal(r.text, 'late but whole');
  await closed;
  await drained;
});

test('the access log shows the protocol', async () => {
  const lines: string[] = [];
  const { g, h2 } = await gw(twoVersions(), { accessLog: true, accessLogDestination: { write: (l: string) => void lines.push(l) } });
  const session = await h2connect(h2.url);
  try {
    await h2request(session, { ':authority': 'shop.test', ':path': '/logged' });
    await h2request(session, { ':authority': 'nowhere.test', ':path': '/unrouted' });
    await get(g, '/logged', { host: 'shop.test' });
  } finally {
    session.close();
  }
  await until('three access-log lines', () => lines.length === 3);
  const records = lines.map((l) => JSON.parse(l) as { protocol: string; path: string; status: number });
  assert.deepEqual(
    records.map((r) => [r.protocol, r.path, r.status]),
    [
      ['HTTP/2', '/logged', 200],
      ['HTTP/2', '/unrouted', 404],
      ['HTTP/1.1', '/logged', 200],
    ],
  );
});

test('an HTTP/1.1 request on an h2c listener is served as HTTP/1.1 (no preface: the HTTP/1.1 engine takes the connection)', async () => {
  const { h2 } = await gw(twoVersions());
  const reply = await new Promise<{ status: number; version: string; body: string }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: h2.port, path: '/plain', headers: { host: 'shop.test', 'x-beta': 'yes' } });
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.once('end', () => resolve({ status: res.statusCode!, version: res.httpVersion, body }));
    });
    req.once('error', reject);
  });
  assert.equal(reply.status, 200);
  assert.equal(reply.version, '1.1');
  const echo = JSON.parse(reply.body) as Echo;
  assert.equal(echo.url, '/plain');
  assert.equal(echo.version, 'beta', 'routed and marked as on any listener');
});

test('a trusted lane in baggage that decodes to CR LF (gRPC metadata over h2c) is ignored: the HTTP/1.1 upstream gets one lane line, the client no injected field', async () => {
  const recording = await startRecordingUpstream('stable');
  const beta = await up('beta');
  try {
    const { h2 } = await gw(spec({ services: { svc: service({ stable: [recording.url], beta: [beta.url] }) }, routes: [route({ trustLane: true })] }));
    const session = await h2connect(h2.url);
    try {
      const r = await h2request(session, { ':authority': 'shop.test', ':path': '/', baggage: 'graylane-lane=beta%0D%0AX-Injected:%20yes' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-injected'], undefined);
      assert.equal(r.headers['x-gray-lane'], 'stable');
    } finally {
      session.close();
    }
    assert.equal(recording.received.length, 1);
    const [request] = recording.received;
    assert.deepEqual(headerLinesOf(request!, 'x-injected'), []);
    assert.deepEqual(headerLinesOf(request!, 'x-gray-lane'), ['stable']);
  } finally {
    await recording.close();
  }
});

