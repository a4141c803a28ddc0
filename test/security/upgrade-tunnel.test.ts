/**
 * Upgrade requests at the socket level: a connection becomes a raw tunnel only after the upstream
 * switches protocols with a 101 to a protocol the client asked for. Anything else is an ordinary
 * response, and the next request on the connection is routed, normalised, marked and logged like
 * any other (issue #19, item 1). Upgrades get the connect and headers timeouts of any request, and
 * an open tunnel is closed after `timeouts.tunnelIdle` without traffic (item 2).
 *
 * Both ends are raw TCP: the client writes bytes, each upstream records exactly what it received.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec } from '../gateway/helpers.js';
import { accessLogCollector, converse, parseResponses, startRawUpstream, type RawBehaviour, type RawUpstream } from './helpers.js';
import { sleep, until } from '../support/wait.js';

const WS_KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
const upgradeTo = (path: string, protocol = 'websocket') =>
  `GET ${path} HTTP/1.1\r\nHost: gw.test\r\nUpgrade: ${protocol}\r\nConnection: Upgrade\r\n${WS_KEY}\r\n`;
/** The example: a traversal to a route the first request's upstream must never see, a forged lane and X-Forwarded-For. */
const SMUGGLED = 'GET /public/../internal/secret HTTP/1.1\r\nHost: gw.test\r\nx-gray-lane: alpha\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';

function answer(socket: net.Socket, status: string, body: string, extra = ''): void {
  socket.write(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
}
/** Answers 200 `<name>:<request line>` and keeps the connection, whatever the request asked for. */
const plain =
  (name: string): RawBehaviour =>
  (socket, head) =>
    answer(socket, '200 OK', `${name}:${head.split('\r\n')[0]}`);
/** Switches to `protocol` when asked for it (echoing bytes from then on), answers 200 otherwise. */
const switching =
  (protocol: string, name: string): RawBehaviour =>
  (socket, head) => {
    if (!new RegExp(`\\r\\nupgrade: *${protocol}`, 'i').test(head)) return answer(socket, '200 OK', `${name}:${head.split('\r\n')[0]}`);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${protocol}\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n`);
    return 'tunnel';
  };

/** Far more than socket buffers hold: the answer must be written with backpressure. */
const BIG = 8 * 1024 * 1024;
const log = accessLogCollector();
const up: Record<string, RawUpstream> = {};
let g: Gateway;

before(async () => {
  up.pub = await startRawUpstream(plain('pub'));
  up.internal = await startRawUpstream(plain('internal'));
  up.ws = await startRawUpstream(switching('websocket', 'ws'));
  up.h2c = await startRawUpstream(switching('h2c', 'h2c'));
  // Switches to a protocol nobody asked for, to any request.
  up.rogue = await startRawUpstream((socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: rogue/1\r\nConnection: Upgrade\r\n\r\n');
    return 'tunnel';
  });
  up.slow = await startRawUpstream((socket, head) => void setTimeout(() => answer(socket, '200 OK', `slow:${head.split('\r\n')[0]}`), 300));
  up.hang = await startRawUpstream(() => {});
  up.big = await startRawUpstream((socket) => answer(socket, '200 OK', 'x'.repeat(BIG)));
  const names = ['internal', 'ws', 'h2c', 'rogue', 'slow', 'hang', 'big'];
  g = await gatewayFor(
    spec({
      timeouts: { connectMs: 1000, headersMs: 600, idleMs: 30_000, tunnelIdleMs: 700 },
      services: Object.fromEntries(
        Object.entries(up).map(([name, u]) => [name, service({ stable: [u.url] }, { passiveHealth: { consecutiveFailures: 1000, ejectMs: 1000 } })]),
      ),
      routes: [
        ...names.map((name) => route({ name, match: { pathPrefix: `/${name}` }, service: name })),
        route({ name: 'pub', service: 'pub' }),
      ],
    }),
    { accessLog: true, accessLogDestination: log },
  );
});
after(async () => {
  await g.close({ drainMs: 100 });
  await Promise.all(Object.values(up).map((u) => u.close()));
});

/** Request lines an upstream received, over all its connections. */
function requestLines(u: RawUpstream): string[] {
  return u.received.join('').match(/^[A-Z]+ \S+ HTTP\/1\.[01]$/gm) ?? [];
}

const responsesIn = (n: number) => (text: string) => parseResponses(text, false).length >= n;

for (const pipelined of [false, true]) {
  test(`an upgrade answered 200 is an ordinary response: the next request is routed, normalised and marked (${pipelined ? 'pipelined' : 'after the answer'})`, async () => {
    const pubBefore = requestLines(up.pub!).length;
    // Upstream connections are kept alive and reused: compare what arrived since, not connections.
    const internalBefore = up.internal!.received.join('').length;
    const c = await converse(g.address.port);
    if (pipelined) c.write(upgradeTo('/hello') + SMUGGLED);
    else {
      c.write(upgradeTo('/hello'));
      await c.until(responsesIn(1));
      c.write(SMUGGLED);
    }
    const text = await c.until(responsesIn(2));
    c.destroy();
    const [first, second] = parseResponses(text, false);
    assert.equal(first?.status, 200);
    assert.equal(first?.body, 'pub:GET /hello HTTP/1.1');
    assert.equal(second?.status, 200);
    assert.equal(second?.body, 'internal:GET /internal/secret HTTP/1.1', 'the second request went where routing sends it');

    assert.deepEqual(requestLines(up.pub!).slice(pubBefore), ['GET /hello HTTP/1.1'], 'the first upstream got the upgrade request and nothing else');
    const seen = up.internal!.received.join('').slice(internalBefore);
    assert.match(seen, /^GET \/internal\/secret HTTP\/1\.1\r\n/);
    assert.match(seen, /\r\nx-gray-lane: stable\r\n/i, 'the decided lane, not the forged one');
    assert.doesNotMatch(seen, /alpha/);
    assert.match(seen, /\r\nx-forwarded-for: 6\.6\.6\.6, 127\.0\.0\.1\r\n/i);

    await until('the /internal/secret line in the access log', () => log.records.some((r) => r.path === '/internal/secret' && r.status === 200 && r.route === 'internal'), 5000);
    const hello = log.records.filter((r) => r.path === '/hello');
    assert.deepEqual(
      hello.map((r) => r.status),
      [200],
      'the access log has the real status of the upgrade request',
    );
    log.records.length = 0;
  });
}

test('a large ordinary answer to an upgrade request is written whole (backpressure on the raw connection), then the connection goes on', async () => {
  const c = await converse(g.address.port);
  c.write(upgradeTo('/big/x'));
  await c.until((t) => t.length > BIG, 20_000);
  c.write(SMUGGLED);
  const text = await c.until(responsesIn(2), 5000);
  c.destroy();
  const [first, second] = parseResponses(text, false);
  assert.equal(first?.status, 200);
  assert.equal(first?.body.length, BIG);
  assert.equal(second?.body, 'internal:GET /internal/secret HTTP/1.1');
});

test('a 101 to a protocol the client did not ask for is a 502, never a tunnel; the connection goes on', async () => {
  const c = await converse(g.address.port);
  c.write(upgradeTo('/rogue/x'));
  await c.until(responsesIn(1));
  c.write(SMUGGLED);
  const text = await c.until(responsesIn(2));
  c.destroy();
  const [first, second] = parseResponses(text, false);
  assert.equal(first?.status, 502);
  assert.equal(JSON.parse(first!.body).error, 'bad_gateway');
  assert.equal(second?.body, 'internal:GET /internal/secret HTTP/1.1');
  assert.deepEqual(requestLines(up.rogue!), ['GET /rogue/x HTTP/1.1']);
  assert.doesNotMatch(up.rogue!.received.join(''), /secret/);
});

test('a 101 to a request that asked for no upgrade is a 502; the connection goes on', async () => {
  const c = await converse(g.address.port);
  c.write('GET /rogue/plain HTTP/1.1\r\nHost: gw.test\r\n\r\n');
  await c.until(responsesIn(1));
  c.write(SMUGGLED);
  const text = await c.until(responsesIn(2));
  c.destroy();
  const [first, second] = parseResponses(text, false);
  assert.equal(first?.status, 502);
  assert.equal(second?.body, 'internal:GET /internal/secret HTTP/1.1');
  assert.doesNotMatch(up.rogue!.received.join(''), /secret/);
});

test('Upgrade: h2c is not tunnelled: served as a plain HTTP/1.1 request without Upgrade and HTTP2-Settings', async () => {
  const c = await converse(g.address.port);
  c.write(
    'GET /h2c/x HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n' + SMUGGLED,
  );
  const text = await c.until(responsesIn(2));
  c.destroy();
  const [first, second] = parseResponses(text, false);
  assert.equal(first?.status, 200);
  assert.equal(first?.body, 'h2c:GET /h2c/x HTTP/1.1', 'the upstream answered a plain request');
  assert.equal(second?.body, 'internal:GET /internal/secret HTTP/1.1');
  const seen = up.h2c!.received.join('');
  assert.doesNotMatch(seen, /upgrade|http2-settings/i);
  assert.doesNotMatch(seen, /secret/);
});

test('Upgrade: h2c, websocket upgrades to websocket only', async () => {
  const c = await converse(g.address.port);
  c.write(upgradeTo('/ws/both', 'h2c, websocket'));
  await c.until((t) => t.includes('\r\n\r\n'));
  c.write('ping');
  const text = await c.until((t) => t.includes('echo:ping'));
  c.destroy();
  assert.match(text, /^HTTP\/1\.1 101 /);
  const seen = up.ws!.received.find((r) => r.includes('/ws/both'))!;
  assert.match(seen, /\r\nupgrade: websocket\r\n/i);
  assert.doesNotMatch(seen, /h2c/i);
});

test('an upgrade request with a body is served without upgrade, its body intact, and the connection goes on', async () => {
  const c = await converse(g.address.port);
  c.write(
    'POST /ws/form HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\n\r\nhello' + SMUGGLED,
  );
  const text = await c.until(responsesIn(2));
  c.destroy();
  const [first, second] = parseResponses(text, false);
  assert.equal(first?.status, 200);
  assert.equal(first?.body, 'ws:POST /ws/form HTTP/1.1');
  assert.equal(second?.body, 'internal:GET /internal/secret HTTP/1.1');
  const seen = up.ws!.received.find((r) => r.includes('/ws/form'))!;
  assert.match(seen, /\r\ncontent-length: 5\r\n\r\nhello$/i);
  assert.doesNotMatch(seen, /upgrade/i);
});

test('a 101 is passed on and bytes flow both ways; the access log records 101 when the tunnel closes', async () => {
  const c = await converse(g.address.port);
  c.write(upgradeTo('/ws/chat'));
  const head = await c.until((t) => t.includes('\r\n\r\n'));
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(head, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
  c.write('hello');
  await c.until((t) => t.includes('echo:hello'));
  const seen = up.ws!.received.find((r) => r.includes('/ws/chat'))!;
  assert.match(seen, /\r\nconnection: upgrade\r\n/i);
  assert.match(seen, /\r\nx-gray-lane: stable\r\n/i);
  assert.ok(seen.endsWith('\r\n\r\nhello'), 'the tunnel carries the bytes as sent');
  assert.equal(log.records.filter((r) => r.path === '/ws/chat').length, 0, 'the line is written when the tunnel closes');
  c.destroy();
  await until('the access log line of /ws/chat', () => log.records.some((r) => r.path === '/ws/chat'), 5000);
  assert.equal(log.records.find((r) => r.path === '/ws/chat')?.status, 101);
});

test('an upgrade pipelined behind a slow response waits for it: the 101 comes after the whole earlier response', async () => {
  const c = await converse(g.address.port);
  c.write('GET /slow/1 HTTP/1.1\r\nHost: gw.test\r\n\r\n' + upgradeTo('/ws/late'));
  const text = await c.until((t) => /HTTP\/1\.1 101 [^]*\r\n\r\n/.test(t));
  const first = parseResponses(text, false)[0];
  assert.equal(first?.body, 'slow:GET /slow/1 HTTP/1.1');
  assert.ok(text.indexOf('HTTP/1.1 101') > text.indexOf('slow:GET /slow/1'), 'no byte of the 101 inside the earlier response');
  c.write('ping');
  await c.until((t) => t.includes('echo:ping'));
  c.destroy();
});

test('an upgrade to an upstream that accepts and never answers gets 504 after timeouts.headers, and its upstream connection is closed', async () => {
  const clients = await Promise.all(Array.from({ length: 10 }, () => converse(g.address.port)));
  const started = performance.now();
  for (const [i, c] of clients.entries()) c.write(upgradeTo(`/hang/${i}`));
  const texts = await Promise.all(clients.map((c) => c.until(responsesIn(1), 5000)));
  const elapsed = performance.now() - started;
  for (const text of texts) {
    const [r] = parseResponses(text, false);
    assert.equal(r?.status, 504);
    assert.equal(JSON.parse(r!.body).error, 'upstream_timeout');
  }
  assert.ok(elapsed >= 550, `answered after the headers timeout (${elapsed} ms)`);
  await until('the hung upstream connections closed', () => up.hang!.open === 0, 3000);
  // The client connection is still good for a request.
  clients[0]!.write('GET /internal/after-timeout HTTP/1.1\r\nHost: gw.test\r\n\r\n');
  const text = await clients[0]!.until(responsesIn(2));
  assert.equal(parseResponses(text, false)[1]?.body, 'internal:GET /internal/after-timeout HTTP/1.1');
  for (const c of clients) c.destroy();
  await until('ten 504 lines for /hang/ in the access log', () => log.records.filter((r) => r.path.startsWith('/hang/') && r.status === 504).length === 10, 5000);
});

test('an open tunnel is kept while bytes flow and closed on both sides after timeouts.tunnelIdle of silence', async () => {
  const c = await converse(g.address.port);
  c.write(upgradeTo('/ws/idle'));
  await c.until((t) => t.includes('\r\n\r\n'));
  const upstreamSide = up.ws!.received.findIndex((r) => r.includes('/ws/idle'));
  // 8 x 250 ms = 2 s of traffic, each gap well under the 700 ms idle timeout.
  let lastByte = 0;
  for (let i = 0; i < 8; i++) {
    if (i > 0) await sleep(250);
    c.write(`b${i};`);
    await c.until((t) => t.includes(`echo:b${i};`));
    lastByte = performance.now();
  }
  assert.equal(c.closed, false, 'a busy tunnel is not idle');
  await c.until(() => false, 4000).catch(() => {});
  assert.equal(c.closed, true, 'closed after the idle timeout');
  const waited = performance.now() - lastByte;
  assert.ok(waited >= 600 && waited < 4000, `closed after ${waited} ms of silence`);
  await until('the upstream side of the tunnel closed', () => up.ws!.closed[upstreamSide] === true, 3000);
  await until('the 101 line of /ws/idle in the access log', () => log.records.some((r) => r.path === '/ws/idle' && r.status === 101), 5000);
});
