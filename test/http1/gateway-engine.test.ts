/**
 * graylane's HTTP/1.1 engine is the gateway's request path on every listener (issue #13): raw bytes
 * in, bytes out. A head the engine refuses is answered by the gateway's own JSON error naming the
 * rule broken (Node's http.Server answered a bare `400 Bad Request` without a body), on the main
 * listener and on the mesh listener alike; a slow head gets `408 request_timeout`; a connection
 * serves its next request after an ordinary answer and never after a refusal.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec, startUpstream, type Upstream } from '../gateway/helpers.js';
import { raw, startRawUpstream } from '../security/helpers.js';

let upstream: Upstream;
let gw: Gateway;
before(async () => {
  upstream = await startUpstream('stable');
  gw = await gatewayFor(
    spec({
      limits: { maxUrlBytes: 8192, maxHeaderBytes: 16_384, maxHeaders: 100, headersTimeoutMs: 1000, maxConcurrentStreams: 100 },
      mesh: { listen: '127.0.0.1:0' },
      services: { svc: service({ stable: [upstream.url] }) },
      routes: [route()],
    }),
    { mesh: {} },
  );
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await upstream.close();
});

const NUL_IN_VALUE = 'GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\x00b\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n';

for (const listener of ['main', 'mesh'] as const) {
  test(`${listener} listener: a refused head gets the gateway's JSON error naming the rule, then the connection closes`, async () => {
    const port = listener === 'main' ? gw.address.port : gw.meshAddress!.port;
    const n = upstream.received.length;
    const r = await raw(port, NUL_IN_VALUE);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0]!.status, 400);
    assert.equal(r.responses[0]!.headers['content-type'], 'application/json');
    assert.equal(r.responses[0]!.headers.connection, 'close');
    assert.deepEqual(JSON.parse(r.responses[0]!.body), { error: 'bad_request', reason: 'a header field value has a control byte' });
    assert.ok(r.closedByServer, 'nothing after a refused head is read');
    assert.equal(upstream.received.length, n, 'the upstream saw nothing, not even the request behind it');
  });
}

test('a head not complete within limits.headersTimeout is 408 request_timeout, in JSON', async () => {
  const r = await raw(gw, '', { chunks: ['GET / HTTP/1.1\r\n', 'Host: a\r\n'], gapMs: 100, waitMs: 4000 });
  assert.equal(r.responses.length, 1, r.text);
  assert.equal(r.responses[0]!.status, 408);
  assert.equal(JSON.parse(r.responses[0]!.body).error, 'request_timeout');
  assert.ok(r.closedByServer);
});

test('an ordinary answer of the gateway keeps the connection: a 404 then a proxied request on it', async () => {
  const other = await gatewayFor(spec({ services: { svc: service({ stable: [upstream.url] }) }, routes: [route({ match: { host: 'known.example' } })] }));
  try {
    const r = await raw(other, 'GET /x HTTP/1.1\r\nHost: unknown.example\r\n\r\nGET /y HTTP/1.1\r\nHost: known.example\r\n\r\n', { responses: 2 });
    assert.deepEqual(
      r.responses.map((x) => x.status),
      [404, 200],
      r.text,
    );
    assert.equal(r.closedByServer, false);
  } finally {
    await other.close({ drainMs: 0 });
  }
});

test('a stalled upload pipelined behind a request waiting for its upstream is cut by the idle timeout', async () => {
  // `/hang` is never answered (the headers timeout, 5 s, is far away); the upload behind it sends
  // 10 of its 100 bytes and stops. The idle timeout (500 ms) must see the stalled upload, not
  // spare the connection because the first request is only waiting for its upstream.
  const hang = await startRawUpstream((socket, head) => {
    if (head.startsWith('POST')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const g = await gatewayFor(
    spec({
      timeouts: { connectMs: 1000, headersMs: 5000, idleMs: 500, tunnelIdleMs: 3_600_000 },
      services: { svc: service({ stable: [hang.url] }) },
      routes: [route()],
    }),
  );
  try {
    const started = performance.now();
    const r = await raw(g, 'GET /hang HTTP/1.1\r\nHost: a\r\n\r\nPOST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789', { waitMs: 4000 });
    const waited = performance.now() - started;
    assert.ok(r.closedByServer, 'the connection is cut');
    assert.ok(waited < 3000, `cut after ${Math.round(waited)} ms, not at the 5 s headers timeout`);
  } finally {
    await g.close({ drainMs: 0 });
    await hang.close();
  }
});

test('a POST whose small body came with its head, pipelined with a GET in one write: the upstream gets the body byte for byte and both are answered in order', async () => {
  const up = await startRawUpstream((socket, head) => {
    const path = /^\w+ (\S+)/.exec(head)![1]!;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
  });
  const other = await gatewayFor(spec({ services: { svc: service({ stable: [up.url] }) }, routes: [route()] }));
  try {
    const body = 'hello world\r\n\r\nGET /not-a-request HTTP/1.1\r\n\r\n';
    const r = await raw(other, `POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}GET /g HTTP/1.1\r\nHost: a\r\n\r\n`, { responses: 2 });
    assert.deepEqual(r.responses.map((x) => [x.status, x.body]), [[200, '/p'], [200, '/g']]);
    const received = up.received.join('');
    const post = received.indexOf('POST /p HTTP/1.1\r\n');
    assert.ok(post !== -1, received);
    const bodyAt = received.indexOf('\r\n\r\n', post) + 4;
    assert.equal(received.slice(bodyAt, bodyAt + body.length), body, 'the body as sent, head-like bytes in it included');
    assert.match(received, /GET \/g HTTP\/1\.1\r\n/);
    assert.equal(received.split('GET /not-a-request').length, 2, 'the head-like bytes in the body went up once, as body');
  } finally {
    await other.close({ drainMs: 100 });
    await up.close();
  }
});

test('bodies that are not whole in the first read still stream: one split across writes, one over 64 KiB, one behind Expect: 100-continue', async () => {
  const up = await startUpstream('stable');
  const other = await gatewayFor(spec({ services: { svc: service({ stable: [up.url] }) }, routes: [route()] }));
  try {
    const split = await raw(other, '', { chunks: ['POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n12345', '67890'], gapMs: 50 });
    assert.equal(split.responses[0]!.status, 200, split.text);
    assert.equal(split.responses[0]!.headers['x-body-bytes'], '10');
    const big = 'x'.repeat(100 * 1024);
    const large = await raw(other, `POST /l HTTP/1.1\r\nHost: a\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n${big}`);
    assert.equal(large.responses[0]!.headers['x-body-bytes'], String(big.length), large.text.slice(0, 300));
    const expect = await raw(other, '', { chunks: ['POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', 'abc'], gapMs: 100 });
    assert.match(expect.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    assert.equal(expect.responses.at(-1)!.headers['x-body-bytes'], '3');
  } finally {
    await other.close({ drainMs: 100 });
    await up.close();
  }
});
