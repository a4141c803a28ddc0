/**
 * Which request lines the gateway serves, and how it keeps HTTP/1.0 semantics:
 * - HTTP/1.0 without `Connection: keep-alive` gets its response and the connection closed; with it,
 *   the connection stays open for the next request. The upstream is always spoken to in HTTP/1.1.
 * - A chunked upstream response reaches an HTTP/1.0 client as a close-delimited body (HTTP/1.0 has
 *   no chunked coding), byte for byte.
 * - Only origin-form targets (`/path?query`) are routed: absolute-form (`GET http://host/ ...`, a
 *   forward-proxy request), asterisk-form (`OPTIONS *`) and CONNECT are refused, so no route can be
 *   chosen by one host while the upstream sees another.
 * - One Host header, exactly: none (HTTP/1.1) or two are 400 (RFC 9112 §3.2).
 * - Request lines of other versions (`HTTP/2.0` spoken as HTTP/1, HTTP/0.9) are 505.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec, startUpstream, type Upstream } from '../gateway/helpers.js';
import { raw } from './helpers.js';

let upstream: Upstream;
let admin: Upstream;
let chunked: Upstream;
let gw: Gateway;
before(async () => {
  upstream = await startUpstream('stable');
  admin = await startUpstream('admin');
  chunked = await startUpstream('chunked', 'chunked-1', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }); // no Content-Length: chunked to HTTP/1.1 peers
    res.write('hello, ');
    setTimeout(() => res.end('world'), 20);
    return true;
  });
  gw = await gatewayFor(
    spec({
      services: {
        svc: service({ stable: [upstream.url] }),
        admin: service({ stable: [admin.url] }),
        chunked: service({ stable: [chunked.url] }),
      },
      routes: [
        route({ name: 'admin', match: { host: 'admin.example' }, service: 'admin' }),
        route({ name: 'chunked', match: { pathPrefix: '/chunked' }, service: 'chunked' }),
        route({ name: 'main', match: { host: 'www.example' } }),
      ],
    }),
  );
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await Promise.all([upstream.close(), admin.close(), chunked.close()]);
});

function receivedSince(u: Upstream, n: number) {
  return u.received.slice(n);
}

test('HTTP/1.0 without keep-alive: one response, then the gateway closes the connection', async () => {
  const n = upstream.received.length;
  const r = await raw(gw, 'GET /one HTTP/1.0\r\nHost: www.example\r\n\r\n');
  assert.equal(r.responses.length, 1);
  assert.equal(r.responses[0]!.status, 200);
  assert.ok(r.closedByServer);
  assert.notEqual(r.responses[0]!.headers.connection, 'keep-alive');
  const [echo] = receivedSince(upstream, n);
  assert.equal(echo!.url, '/one');
  assert.equal(echo!.headers.connection, 'keep-alive', 'the upstream leg is HTTP/1.1 keep-alive whatever the client spoke');
});

test('HTTP/1.0 with Connection: keep-alive: the connection serves the next request too', async () => {
  const n = upstream.received.length;
  const r = await raw(
    gw,
    'GET /a HTTP/1.0\r\nHost: www.example\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nHost: www.example\r\nConnection: keep-alive\r\n\r\n',
    { responses: 2 },
  );
  assert.deepEqual(
    r.responses.map((x) => [x.status, x.headers.connection]),
    [
      [200, 'keep-alive'],
      [200, 'keep-alive'],
    ],
  );
  assert.ok(!r.closedByServer);
  assert.deepEqual(
    receivedSince(upstream, n).map((e) => e.url),
    ['/a', '/b'],
  );
});

test('a chunked upstream response reaches an HTTP/1.0 client as a close-delimited body, byte for byte', async () => {
  const r = await raw(gw, 'GET /chunked HTTP/1.0\r\nHost: www.example\r\n\r\n');
  assert.ok(r.closedByServer, 'the close delimits the body');
  assert.equal(r.responses.length, 1);
  assert.equal(r.responses[0]!.headers['transfer-encoding'], undefined, 'no chunked coding towards HTTP/1.0');
  assert.equal(r.responses[0]!.body, 'hello, world');
});

const REFUSED_TARGETS: [string, string][] = [
  ['absolute-form naming another host', 'GET http://admin.example/secret HTTP/1.1\r\nHost: www.example\r\n\r\n'],
  ['absolute-form naming the same host', 'GET http://www.example/x HTTP/1.1\r\nHost: www.example\r\n\r\n'],
  ['asterisk-form', 'OPTIONS * HTTP/1.1\r\nHost: www.example\r\n\r\n'],
];

for (const [name, bytes] of REFUSED_TARGETS) {
  test(`${name} is 400 bad_request with a JSON reason; no upstream sees it`, async () => {
    const n = upstream.received.length + admin.received.length;
    const r = await raw(gw, bytes, { responses: 1 });
    assert.equal(r.responses[0]!.status, 400);
    assert.deepEqual(JSON.parse(r.responses[0]!.body), { error: 'bad_request', reason: 'the request target must be a path' });
    assert.equal(upstream.received.length + admin.received.length, n);
  });
}

test('CONNECT is not served: the connection is closed without a tunnel', async () => {
  const n = upstream.received.length + admin.received.length;
  const r = await raw(gw, `CONNECT 127.0.0.1:${upstream.port} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.ok(r.closedByServer);
  assert.ok(!r.responses.some((x) => x.status === 200), r.text);
  assert.equal(upstream.received.length + admin.received.length, n);
});

test('an HTTP/1.1 request without Host is 400 (Node), with two Host headers 400 (the gateway); neither is routed', async () => {
  const n = upstream.received.length + admin.received.length;
  const none = await raw(gw, 'GET / HTTP/1.1\r\n\r\n');
  assert.equal(none.responses[0]!.status, 400);
  // The first Host would pick the `main` route, the second the `admin` one: refuse rather than choose.
  const two = await raw(gw, 'GET /secret HTTP/1.1\r\nHost: www.example\r\nHost: admin.example\r\n\r\n', { responses: 1 });
  assert.equal(two.responses[0]!.status, 400);
  assert.equal(JSON.parse(two.responses[0]!.body).reason, 'more than one Host header');
  assert.equal(upstream.received.length + admin.received.length, n);
});

test('an HTTP/2.0 request line spoken over HTTP/1 and an HTTP/0.9 request are 505', async () => {
  const n = upstream.received.length;
  for (const bytes of ['GET / HTTP/2.0\r\nHost: www.example\r\n\r\n', 'GET /\r\n\r\n']) {
    const r = await raw(gw, bytes);
    assert.equal(r.responses[0]!.status, 505, JSON.stringify(r.text));
  }
  assert.equal(upstream.received.length, n);
});

test('unknown and lower-case methods, and HTTP/1.2 or HTTP/3.0 request lines, are 400 from the parser', async () => {
  for (const bytes of ['FOO / HTTP/1.1\r\nHost: a\r\n\r\n', 'get / HTTP/1.1\r\nHost: a\r\n\r\n', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 'GET / HTTP/3.0\r\nHost: a\r\n\r\n']) {
    const r = await raw(gw, bytes);
    assert.equal(r.responses[0]!.status, 400, bytes);
    assert.ok(r.closedByServer);
  }
});
