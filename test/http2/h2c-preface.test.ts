/**
 * An `h2c` listener serves HTTP/2 with prior knowledge and HTTP/1.1 on one port, as Envoy's
 * `codec_type: AUTO` does (src/gateway/preface.ts): a connection that opens with the HTTP/2 preface
 * (RFC 9113 §3.4) is HTTP/2, any other is HTTP/1.1, and the bytes read to decide reach the engine
 * that takes the connection. Raw sockets on 127.0.0.1, so the bytes' arrival in pieces is the test's
 * to choose; curl, fetch and @grpc/grpc-js on the same port.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { Gateway } from '../../src/gateway/server.js';
import type { Spec } from '../../src/spec/types.js';
import { route, service, spec, startUpstream, type Echo, type Upstream } from '../gateway/helpers.js';
import { definition, greeterClient, SERVICE, startGreeter, type Greeter } from '../grpc/greeter.js';
import { sleep, until } from '../support/wait.js';
import { connectRaw, END_HEADERS, END_STREAM, frame, literal, PREFACE, request, T } from './frames.js';
import { gatewayWithH2c, h2connect, h2request, type Listener } from './helpers.js';

const run = promisify(execFile);
let upstream: Upstream;
let greeter: Greeter;
const gateways: Gateway[] = [];
const clients: grpc.Client[] = [];

before(async () => {
  [upstream, greeter] = await Promise.all([startUpstream('stable'), startGreeter('stable')]);
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(gateways.map((g) => g.close({ drainMs: 100 })));
  await Promise.all([upstream.close(), greeter.close()]);
});

/** gRPC calls to the greeter (h2c://), anything else to the HTTP/1.1 upstream. */
const mixed = (over: Partial<Spec> = {}): Spec =>
  spec({
    services: { svc: service({ stable: [upstream.url] }), greeter: service({ stable: [`h2c://127.0.0.1:${greeter.port}`] }) },
    routes: [route({ name: 'grpc', service: 'greeter', match: { pathPrefix: `${SERVICE}/` } }), route()],
    ...over,
  });

async function h2cListener(s: Spec = mixed()): Promise<{ g: Gateway; h2: Listener }> {
  const both = await gatewayWithH2c(s);
  gateways.push(both.g);
  return both;
}

/** Writes `parts` on a new connection, `gapMs` apart (each its own TCP segment: no Nagle), and returns all it read until the gateway closed. */
async function exchange(port: number, parts: Buffer[], gapMs = 15): Promise<{ reply: string; closedMs: number }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const started = Date.now();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) await sleep(gapMs);
    socket.write(parts[i]!);
  }
  const timer = setTimeout(() => socket.destroy(), 15_000);
  const closedMs = await closed;
  clearTimeout(timer);
  return { reply: Buffer.concat(chunks).toString('latin1'), closedMs };
}

const http1 = (path: string, close = true): Buffer =>
  Buffer.from(`GET ${path} HTTP/1.1\r\nHost: shop.test\r\n${close ? 'Connection: close\r\n' : ''}\r\n`, 'latin1');

/** The HTTP/1.1 responses in `reply`, one after the other (the upstream's are framed by Content-Length). */
function responses(reply: string): { status: string; body: string }[] {
  const out: { status: string; body: string }[] = [];
  for (let at = 0; at < reply.length; ) {
    const end = reply.indexOf('\r\n\r\n', at);
    assert.ok(end > 0, `a response head at byte ${at}: ${JSON.stringify(reply.slice(at, at + 40))}`);
    const head = reply.slice(at, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    out.push({ status: head.slice(0, head.indexOf('\r\n')), body: reply.slice(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return out;
}
const statusLines = (reply: string): string[] => responses(reply).map((r) => r.status);

test('the HTTP/2 preface written one byte at a time: the connection is HTTP/2, its request served', async () => {
  const { h2 } = await h2cListener();
  const before = upstream.count;
  const peer = await connectRaw(h2.port, false);
  peer.socket.setNoDelay(true);
  try {
    for (const byte of PREFACE) {
      await peer.write(Buffer.from([byte]));
      await sleep(3);
    }
    await peer.write(Buffer.concat([frame(T.SETTINGS, 0, 0), frame(T.HEADERS, END_HEADERS | END_STREAM, 1, literal(request('shop.test', '/bytewise')))]));
    await until('a response HEADERS frame', () => peer.headers === 1 || peer.closed);
    assert.equal(peer.headers, 1);
    assert.equal(upstream.count - before, 1);
    assert.equal(upstream.received.at(-1)!.url, '/bytewise');
  } finally {
    peer.socket.destroy();
  }
});

test('an HTTP/1.1 request split at each of bytes 1..23 is served as HTTP/1.1, no byte lost', async () => {
  const { h2 } = await h2cListener();
  for (let at = 1; at <= 23; at++) {
    const path = `/split-${at}`;
    const req = http1(path);
    const { reply } = await exchange(h2.port, [req.subarray(0, at), req.subarray(at)]);
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200 OK'], `split at ${at}: ${reply.slice(0, 80)}`);
    assert.equal(upstream.received.at(-1)!.url, path, `split at ${at}`);
  }
});

test('a request that starts as the preface and leaves it (PRI * HTTP/1.1, or at its 23rd byte) goes to the HTTP/1.1 engine, whichever byte it parts at', async () => {
  const { h2 } = await h2cListener();
  const before = upstream.count;
  const leaves = [
    // Parts from the preface at byte 11 ("1" for "2"): the engine refuses the PRI method's `*` target.
    Buffer.from('PRI * HTTP/1.1\r\nHost: shop.test\r\n\r\n', 'latin1'),
    // Parts at the 23rd byte: the whole 24 are compared, not the request line.
    Buffer.concat([PREFACE.subarray(0, 23), Buffer.from('X', 'latin1')]),
  ];
  for (const bytes of leaves) {
    for (const at of [1, 3, 11, 22, 23]) {
      const { reply } = await exchange(h2.port, [bytes.subarray(0, at), bytes.subarray(at)]);
      assert.match(reply, /^HTTP\/1\.1 4\d\d /, `${JSON.stringify(bytes.toString('latin1'))} split at ${at}: an HTTP/1.1 refusal, got ${JSON.stringify(reply.slice(0, 40))}`);
    }
  }
  assert.equal(upstream.count, before, 'nothing forwarded');
});

test('two pipelined HTTP/1.1 requests in one segment on an h2c listener are both answered, in order', async () => {
  const { h2 } = await h2cListener();
  const { reply } = await exchange(h2.port, [Buffer.concat([http1('/first', false), http1('/second')])]);
  assert.deepEqual(statusLines(reply), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
  assert.deepEqual(
    responses(reply).map((r) => (JSON.parse(r.body) as Echo).url),
    ['/first', '/second'],
  );
});

test('a client that sends 3 bytes of the preface and stops is cut at limits.headersTimeout; one that closes first is just closed', async () => {
  const limits = { maxUrlBytes: 8192, maxHeaderBytes: 16_384, maxHeaders: 100, headersTimeoutMs: 400, maxConcurrentStreams: 100 };
  const { h2 } = await h2cListener(mixed({ limits }));
  const silent = await exchange(h2.port, [Buffer.from('PRI', 'latin1')]);
  assert.equal(silent.reply, '', 'nothing answered');
  assert.ok(silent.closedMs >= 350 && silent.closedMs < 3000, `closed after ${silent.closedMs} ms`);
  // A FIN after a prefix of the preface: no request came, nothing to answer. (The default head
  // timeout, 10 s, so a close before it is the FIN's doing on a loaded machine too.)
  const { h2: patient } = await h2cListener();
  const socket = net.connect(patient.port, '127.0.0.1');
  const started = Date.now();
  const got: Buffer[] = [];
  socket.on('data', (c: Buffer) => got.push(c));
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.end('PRI * HT');
  await new Promise<void>((resolve) => socket.once('close', resolve));
  assert.equal(Buffer.concat(got).length, 0);
  assert.ok(Date.now() - started < 5000, `closed after ${Date.now() - started} ms, before the head timeout`);
});

test('a TLS ClientHello on an h2c port (an https:// client on the wrong port) is refused at once with a 400, not held for the head timeout', async () => {
  const { h2 } = await h2cListener();
  // A ClientHello record's first bytes (handshake, TLS 1.0 record version, length), then a body
  // without CR or LF: nothing in it ever ends a head.
  const hello = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03]), Buffer.alloc(200, 0x42)]);
  const { reply, closedMs } = await exchange(h2.port, [hello]);
  assert.match(reply, /^HTTP\/1\.1 400 /, reply);
  assert.match(reply, /the method is not a token/);
  // The default head timeout is 10 s: a close well before it is the refusal's doing.
  assert.ok(closedMs < 5000, `closed after ${closedMs} ms`);
  // A method that goes wrong after a few good bytes is refused as soon as the bad byte is here.
  const late = await exchange(h2.port, [Buffer.from('GET\x16 / HTTP/1.1', 'latin1')]);
  assert.match(late.reply, /^HTTP\/1\.1 400 /, late.reply);
  assert.ok(late.closedMs < 5000, `closed after ${late.closedMs} ms`);
});

test('a drain closes connections that have not said what they speak', async () => {
  const { g, h2 } = await h2cListener();
  gateways.splice(gateways.indexOf(g), 1);
  const pending = exchange(h2.port, [Buffer.from('PRI * HTTP/2', 'latin1')]);
  await sleep(100);
  const started = Date.now();
  await g.close({ drainMs: 5000 });
  assert.ok(Date.now() - started < 2000, `close took ${Date.now() - started} ms (the head timeout is 10 s)`);
  assert.equal((await pending).reply, '');
});

test('curl --http2-prior-knowledge and curl over HTTP/1.1 (and --http2, which asks for Upgrade: h2c) on the same port', async () => {
  const { h2 } = await h2cListener();
  const curl = async (flag: string, path: string): Promise<string> => {
    const { stdout } = await run('curl', ['-sS', flag, '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '-H', 'host: shop.test', `${h2.url}${path}`]);
    return stdout;
  };
  assert.equal(await curl('--http2-prior-knowledge', '/curl-h2'), '2 200');
  assert.equal(upstream.received.at(-1)!.url, '/curl-h2');
  assert.equal(await curl('--http1.1', '/curl-h1'), '1.1 200');
  assert.equal(upstream.received.at(-1)!.url, '/curl-h1');
  // Upgrade: h2c is not honoured (websocket.ts): answered over HTTP/1.1.
  assert.equal(await curl('--http2', '/curl-upgrade'), '1.1 200');
  assert.equal(upstream.received.at(-1)!.url, '/curl-upgrade');
});

test('gRPC (@grpc/grpc-js), node:http2 and fetch on the same h2c port, at once', async () => {
  const { h2 } = await h2cListener();
  const c = greeterClient(`127.0.0.1:${h2.port}`);
  clients.push(c);
  const grpcCall = new Promise<{ version: string }>((resolve, reject) => {
    c.makeUnaryRequest(definition.Hello.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from('{"name":"a"}'), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, v) =>
      err ? reject(err) : resolve(JSON.parse(v!.toString()) as { version: string }),
    );
  });
  const session = await h2connect(h2.url);
  try {
    const [grpcReply, h2Reply, fetched] = await Promise.all([
      grpcCall,
      h2request(session, { ':authority': 'shop.test', ':path': '/from-h2' }),
      fetch(`${h2.url}/from-fetch`),
    ]);
    assert.equal(grpcReply.version, 'stable');
    assert.equal(h2Reply.status, 200);
    assert.equal(h2Reply.json<Echo>().url, '/from-h2');
    assert.equal(fetched.status, 200);
    assert.equal(((await fetched.json()) as Echo).url, '/from-fetch');
  } finally {
    session.close();
  }
});
