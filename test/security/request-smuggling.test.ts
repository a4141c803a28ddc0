/**
 * Request smuggling (CWE-444): a request whose body length the gateway and the upstream could read
 * differently, so that bytes the gateway took for a body become a second request upstream (or the
 * other way round). Each vector carries a second request `GET /smuggled`; the gateway must answer
 * 400 and close the connection, and the upstream must receive nothing at all.
 *
 * The gateway re-frames every request it forwards (undici writes its own Content-Length or chunked
 * encoding), so the upstream never parses the client's framing; what matters is that the gateway
 * itself never guesses. Node's parser (llhttp, strict) refuses each of these before the gateway's
 * handler runs; these tests keep it that way (an `insecureHTTPParser` or a lenient flag would fail
 * them).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec, startUpstream, type Upstream } from '../gateway/helpers.js';
import { raw, startRecordingUpstream, type RecordingUpstream } from './helpers.js';

let upstream: Upstream;
let gw: Gateway;
/** A gateway in front of an upstream that records the exact bytes of each request it receives. */
let rawUpstream: RecordingUpstream;
let rawGw: Gateway;
before(async () => {
  upstream = await startUpstream('stable');
  gw = await gatewayFor(spec({ services: { svc: service({ stable: [upstream.url] }) }, routes: [route()] }));
  rawUpstream = await startRecordingUpstream('stable');
  rawGw = await gatewayFor(spec({ services: { svc: service({ stable: [rawUpstream.url] }) }, routes: [route()] }));
});
after(async () => {
  await Promise.all([gw.close({ drainMs: 100 }), rawGw.close({ drainMs: 100 })]);
  await Promise.all([upstream.close(), rawUpstream.close()]);
});

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n';

/** Vectors: name -> bytes. Each is a POST (or GET) whose framing is ambiguous or malformed. */
const VECTORS: Record<string, string> = {
  'CL.TE: Content-Length and Transfer-Encoding together': `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  'TE.CL: Transfer-Encoding before Content-Length': `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n${SMUGGLED}`,
  'two different Content-Length headers': `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd${SMUGGLED}`,
  'two equal Content-Length headers': `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd${SMUGGLED}`,
  'Content-Length as a list': `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nabcd${SMUGGLED}`,
  'Content-Length with a sign': `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd${SMUGGLED}`,
  'Content-Length in hex': `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\nabcd${SMUGGLED}`,
  'negative Content-Length': `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n${SMUGGLED}`,
  'Transfer-Encoding: chunked, identity': `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n4\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`,
  'Transfer-Encoding: identity (not chunked last)': `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 4\r\n\r\nabcd${SMUGGLED}`,
  'Transfer-Encoding with a space before the colon': `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`,
  'two Transfer-Encoding headers, chunked first': `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n4\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`,
  'Transfer-Encoding value folded onto the next line (obs-fold)': `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 4\r\n\r\nabcd${SMUGGLED}`,
  'obs-fold in an ordinary header': `GET / HTTP/1.1\r\nHost: a\r\nX-Note: one\r\n two\r\n\r\n${SMUGGLED}`,
  'bare LF line endings': `GET / HTTP/1.1\nHost: a\n\n${SMUGGLED}`,
  'a bare LF hiding a lane header inside another line': `GET / HTTP/1.1\r\nHost: a\nx-gray-lane: beta\r\n\r\n${SMUGGLED}`,
  'a bare CR inside a header value': `GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\rb\r\n\r\n${SMUGGLED}`,
  'a control byte in a header value': `GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\x01b\r\n\r\n${SMUGGLED}`,
  'NUL in a header value': `GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\x00b\r\n\r\n${SMUGGLED}`,
  'NUL in the request target': `GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n${SMUGGLED}`,
  'a space in a header name': `GET / HTTP/1.1\r\nHost: a\r\nX Note: b\r\n\r\n${SMUGGLED}`,
  'Transfer-Encoding in an HTTP/1.0 request': `POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\nabcd${SMUGGLED}`,
};

/**
 * Malformed chunk framing: the head is valid, so the request may already be on its way upstream
 * when the bad chunk arrives. The gateway then aborts it: the upstream never sees a complete
 * request, and never the one behind it.
 */
const BODY_VECTORS: Record<string, string> = {
  'a chunk size that is not hex': `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4x\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`,
  'chunk lines ended by bare LF': `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\nabcd\n0\n\n${SMUGGLED}`,
  'a chunk size overflowing 64 bits': `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000004\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`,
};

for (const [name, bytes] of Object.entries(VECTORS)) {
  test(`smuggling: ${name} -> 400, connection closed, nothing reaches the upstream`, async () => {
    const before = upstream.received.length;
    const r = await raw(gw, bytes);
    assert.equal(r.responses.length, 1, `one answer, got: ${JSON.stringify(r.text)}`);
    assert.equal(r.responses[0]!.status, 400);
    assert.ok(r.closedByServer, 'the connection is closed after the 400');
    assert.deepEqual(upstream.received.slice(before), [], 'the upstream received nothing');
  });
}

for (const [name, bytes] of Object.entries(BODY_VECTORS)) {
  test(`smuggling: ${name} -> 400, connection closed, the upstream request (if started) is aborted`, async () => {
    const before = upstream.received.length;
    const r = await raw(gw, bytes);
    assert.equal(r.responses.length, 1, `one answer, got: ${JSON.stringify(r.text)}`);
    assert.equal(r.responses[0]!.status, 400);
    assert.ok(r.closedByServer, 'the connection is closed after the 400');
    const got = upstream.received.slice(before);
    assert.ok(got.length <= 1);
    assert.ok(got.every((e) => e.url === '/' && e.bodyBytes === undefined), `no complete or smuggled request: ${JSON.stringify(got)}`);
  });
}

test('control: a well-framed body followed by a pipelined request is two requests, each with its own body', async () => {
  const before = upstream.received.length;
  const r = await raw(gw, 'POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcdGET /second HTTP/1.1\r\nHost: a\r\n\r\n', { responses: 2 });
  assert.deepEqual(
    r.responses.map((x) => x.status),
    [200, 200],
  );
  const got = upstream.received.slice(before);
  assert.deepEqual(
    got.map((e) => [e.method, e.url, e.bodyBytes]),
    [
      ['POST', '/first', 4],
      ['GET', '/second', 0],
    ],
  );
});

test('control: a chunked body with an extension and a trailer reaches the upstream as exactly its bytes, re-framed', async () => {
  const before = upstream.received.length;
  const r = await raw(gw, 'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n2\r\nef\r\n0\r\nX-Trailer: t\r\n\r\n', {
    responses: 1,
  });
  assert.equal(r.responses[0]!.status, 200);
  const [echo] = upstream.received.slice(before);
  assert.equal(echo!.bodyBytes, 6);
  assert.equal(echo!.headers['x-trailer'], undefined, 'a trailer does not become a header');
  assert.ok(echo!.headers['content-length'] === '6' || echo!.headers['transfer-encoding'] === 'chunked', 'the gateway frames the body itself');
});

/**
 * Transfer codings other than chunked (RFC 9112 §6.1). llhttp accepts codings before the final
 * `chunked`, removes only the chunking and hands over the still-coded bytes, which the gateway then
 * forwarded as a plain body. A server that does not understand a coding answers 501 and closes the
 * connection: what follows is framed by a coding it cannot read.
 */
const CODINGS: Record<string, string> = {
  // llhttp lets an unknown coding alone through to the handler, which then answered before the
  // parser failed on the body (a 400): now the gateway refuses it first.
  xchunked: 'Transfer-Encoding: xchunked\r\n',
  'gzip, chunked': 'Transfer-Encoding: gzip, chunked\r\n',
  'GZIP,Chunked': 'Transfer-Encoding: GZIP,Chunked\r\n',
  'deflate , chunked': 'Transfer-Encoding: deflate , chunked\r\n',
  'identity, chunked': 'Transfer-Encoding: identity, chunked\r\n',
  'x-custom, chunked': 'Transfer-Encoding: x-custom, chunked\r\n',
  'gzip and chunked on two lines': 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n',
  'gzip and chunked on two lines, names in other cases': 'transfer-encoding: gzip\r\nTRANSFER-ENCODING: chunked\r\n',
  'an empty line, then gzip, chunked': 'Transfer-Encoding: \r\nTransfer-Encoding: gzip, chunked\r\n',
};

for (const [name, te] of Object.entries(CODINGS)) {
  test(`transfer coding ${name}: 501, the connection closed, nothing reaches the upstream`, async () => {
    const before = rawUpstream.received.length;
    const r = await raw(rawGw, `POST /coded HTTP/1.1\r\nHost: a\r\n${te}\r\n4\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`);
    assert.equal(r.responses.length, 1, `one answer, got: ${JSON.stringify(r.text)}`);
    assert.equal(r.responses[0]!.status, 501);
    const body = JSON.parse(r.responses[0]!.body) as { error: string; reason: string };
    assert.equal(body.error, 'not_implemented');
    assert.match(body.reason, /Transfer-Encoding/);
    assert.equal(r.responses[0]!.headers.connection, 'close');
    assert.ok(r.closedByServer, 'the connection is closed after the 501, not reused for the request behind it');
    assert.deepEqual(rawUpstream.received.slice(before), [], 'the upstream received nothing');
  });
}

const CHUNKED_TWICE: Record<string, string> = {
  'chunked, chunked': 'Transfer-Encoding: chunked, chunked\r\n',
  'chunked on two lines': 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n',
};

for (const [name, te] of Object.entries(CHUNKED_TWICE)) {
  test(`transfer coding ${name}: 400, the connection closed, nothing reaches the upstream`, async () => {
    const before = rawUpstream.received.length;
    const r = await raw(rawGw, `POST /twice HTTP/1.1\r\nHost: a\r\n${te}\r\n4\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`);
    assert.equal(r.responses.length, 1, `one answer, got: ${JSON.stringify(r.text)}`);
    assert.equal(r.responses[0]!.status, 400);
    assert.ok(r.closedByServer);
    assert.deepEqual(rawUpstream.received.slice(before), []);
  });
}

const CHUNKED_ALONE: Record<string, string> = {
  CHUNKED: 'Transfer-Encoding: CHUNKED\r\n',
  'chunked with spaces around it': 'Transfer-Encoding:   chunked \r\n',
  'an empty list element, then chunked': 'Transfer-Encoding: ,chunked\r\n',
  'an empty line, then chunked': 'Transfer-Encoding: \r\nTransfer-Encoding: chunked\r\n',
};

for (const [name, te] of Object.entries(CHUNKED_ALONE)) {
  test(`control: transfer coding ${name} is chunked alone: the body arrives re-framed and the connection serves the next request`, async () => {
    const before = rawUpstream.received.length;
    const r = await raw(rawGw, `POST /plain HTTP/1.1\r\nHost: a\r\n${te}\r\n4\r\nabcd\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n`, {
      responses: 2,
    });
    assert.deepEqual(
      r.responses.map((x) => x.status),
      [200, 200],
      r.text,
    );
    const got = rawUpstream.received.slice(before);
    assert.deepEqual(
      got.map((x) => [x.line, x.body]),
      [
        ['POST /plain HTTP/1.1', 'abcd'],
        ['GET /next HTTP/1.1', ''],
      ],
    );
    assert.ok(
      got[0]!.headerLines.every((h) => !/^transfer-encoding:.*(gzip|,)/i.test(h)),
      `the client's Transfer-Encoding is not passed on: ${JSON.stringify(got[0]!.headerLines)}`,
    );
  });
}

test('transfer coding gzip, chunked pipelined behind a request in flight: 200, then 501, then closed; the request behind it never reaches the upstream', async () => {
  const before = rawUpstream.received.length;
  const r = await raw(
    rawGw,
    `GET /first HTTP/1.1\r\nHost: a\r\n\r\nPOST /coded HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`,
  );
  assert.deepEqual(
    r.responses.map((x) => x.status),
    [200, 501],
    r.text,
  );
  assert.ok(r.closedByServer);
  assert.deepEqual(
    rawUpstream.received.slice(before).map((x) => x.line),
    ['GET /first HTTP/1.1'],
  );
});

test('transfer coding gzip, chunked pipelined behind a request in flight, then an Upgrade: no tunnel is opened, the connection closes after the 501', async () => {
  const before = rawUpstream.received.length;
  const upgrade = 'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  const r = await raw(
    rawGw,
    `GET /first HTTP/1.1\r\nHost: a\r\n\r\nPOST /coded HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n${upgrade}`,
  );
  assert.deepEqual(
    r.responses.map((x) => x.status),
    [200, 501],
    r.text,
  );
  assert.ok(r.closedByServer);
  assert.deepEqual(
    rawUpstream.received.slice(before).map((x) => x.line),
    ['GET /first HTTP/1.1'],
  );
});
