/**
 * HTTP/2 abuse is hostile input (docs/reliability.md): raw frames on a socket against a gateway in
 * a child process, whose CPU time and memory are measured. Each attack must end the session (or
 * the stream) and leave the gateway's CPU and RSS bounded, and reach the upstream no more than
 * the limits allow.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { constants } from 'node:http2';
import type { Spec } from '../../src/spec/types.js';
import { route, service, spec, startUpstream, type Upstream } from '../gateway/helpers.js';
import { until } from '../support/wait.js';
import { connectRaw, END_HEADERS, END_STREAM, frame, indexed, indexedLiteral, literal, request, T, type Peer } from './frames.js';
import { h2connect, h2request } from './helpers.js';

const MiB = 1 << 20;
const children: ChildProcess[] = [];
let upstream: Upstream;
/** Requests the upstream has open now, and the most it had at once. */
let open = 0;
let peak = 0;
before(async () => {
  upstream = await startUpstream('stable', 'held', (req, res) => {
    open++;
    peak = Math.max(peak, open);
    const done = (): void => void open--;
    res.once('close', done);
    // Requests with a body are held until their client goes (the concurrency test); others answered.
    if (req.headers['x-hold'] === '1') return true;
    res.end('ok');
    return true;
  });
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await upstream.close();
});

interface Child {
  port: number;
  stats(): Promise<{ rss: number; cpuMs: number }>;
}

async function childGateway(s: Spec): Promise<Child> {
  const child = fork(new URL('./fixtures/h2-gateway-child.js', import.meta.url), [JSON.stringify(s)], { stdio: 'inherit', execArgv: ['--expose-gc'] });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`gateway child exited with ${code}`)));
  });
  return {
    port,
    stats: () =>
      new Promise((resolve) => {
        child.once('message', (m: { rss: number; cpuMs: number }) => resolve(m));
        child.send('stats');
      }),
  };
}

const gatewaySpec = (): Spec => spec({ services: { svc: service({ stable: [upstream.url] }) }, routes: [route()] });

/** Runs `attack` against a fresh child gateway; returns its CPU and RSS growth, and asserts the gateway still serves. */
async function measure(name: string, attack: (c: Child) => Promise<void>, s: Spec = gatewaySpec()): Promise<{ cpuMs: number; rssMiB: number }> {
  const child = await childGateway(s);
  // Warm up (JIT, the upstream pool) so the figures are the attack's.
  const warm = await h2connect(`http://127.0.0.1:${child.port}`);
  for (let i = 0; i < 20; i++) await h2request(warm, { ':path': '/warm', ':authority': 'x.test' });
  warm.close();
  const before = await child.stats();
  await attack(child);
  const afterStats = await child.stats();
  // Still serving others.
  const session = await h2connect(`http://127.0.0.1:${child.port}`);
  assert.equal((await h2request(session, { ':path': '/after', ':authority': 'x.test' })).status, 200);
  session.close();
  const figures = { cpuMs: Math.round(afterStats.cpuMs - before.cpuMs), rssMiB: Math.round(((afterStats.rss - before.rss) / MiB) * 10) / 10 };
  console.log(`# ${name}: gateway CPU ${figures.cpuMs} ms, RSS growth ${figures.rssMiB} MiB`);
  return figures;
}

/** Writes `count` copies of what `make(i)` returns, in batches, until the server ends the connection. */
async function flood(peer: Peer, count: number, make: (i: number) => Buffer): Promise<number> {
  let sent = 0;
  for (let i = 0; i < count && !peer.closed; i += 100) {
    const batch: Buffer[] = [];
    for (let j = i; j < Math.min(count, i + 100); j++) batch.push(make(j));
    await peer.write(Buffer.concat(batch));
    sent = Math.min(count, i + 100);
  }
  return sent;
}

/** A HEADERS (a GET, END_STREAM) and RST_STREAM(CANCEL) pair on stream `id`: one rapid reset. */
const resetPair = (id: number): Buffer =>
  Buffer.concat([frame(T.HEADERS, END_HEADERS | END_STREAM, id, literal(request())), frame(T.RST_STREAM, 0, id, Buffer.from([0, 0, 0, constants.NGHTTP2_CANCEL]))]);

test('rapid reset (CVE-2023-44487): a flood of HEADERS + RST_STREAM pairs is cut early, few reach the upstream, CPU and memory bounded', async () => {
  let before = 0;
  let reached = 0;
  let sent = 0;
  let peer: Peer | undefined;
  const f = await measure('rapid reset, 20000 HEADERS+RST_STREAM', async (c) => {
    before = upstream.count;
    peer = await connectRaw(c.port);
    sent = await flood(peer, 20_000, (i) => resetPair(2 * i + 1));
    await until('the gateway ends the session', () => peer!.closed, 20_000);
    reached = upstream.count - before;
  });
  console.log(`# rapid reset: ${sent} pairs written before the close, ${reached} requests reached the upstream, GOAWAY ${peer!.goaways.join(',') || `none read (${peer!.error})`}`);
  // Every GOAWAY says ENHANCE_YOUR_CALM. A flooding client may read none: the gateway closes with
  // unread bytes, so the close is a TCP reset, and a client that writes into it loses what it had
  // not read yet (the burst test below reads the code every time).
  assert.ok(peer!.goaways.every((code) => code === constants.NGHTTP2_ENHANCE_YOUR_CALM), `GOAWAY ${peer!.goaways.join(',')}`);
  if (peer!.goaways.length === 0) assert.match(String(peer!.error), /^(ECONNRESET|EPIPE)$/, 'no GOAWAY read only when the connection was reset');
  assert.ok(reached <= 300, `${reached} requests reached the upstream`);
  assert.ok(f.cpuMs < 5000, `${f.cpuMs} ms of CPU`);
  assert.ok(f.rssMiB < 40, `${f.rssMiB} MiB`);
});

test('rapid reset in one burst, then silence: the session ends with GOAWAY ENHANCE_YOUR_CALM', async () => {
  const child = await childGateway(gatewaySpec());
  const peer = await connectRaw(child.port);
  // More pairs than the rule needs (PREMATURE_RESET_STREAMS / 2 = 250 premature resets), in one
  // write; then the client only reads, so nothing it writes can race the close.
  const pairs = 400;
  await peer.write(Buffer.concat(Array.from({ length: pairs }, (_, i) => resetPair(2 * i + 1))));
  await until('the gateway ends the session', () => peer.closed, 20_000);
  assert.deepEqual(peer.goaways, [constants.NGHTTP2_ENHANCE_YOUR_CALM], `GOAWAY ${peer.goaways.join(',')}, error ${peer.error}`);
});

test('CONTINUATION flood: a header block that never ends is cut, memory bounded', async () => {
  let peer: Peer | undefined;
  let sent = 0;
  const f = await measure('CONTINUATION flood, 10000 frames of 4 KiB', async (c) => {
    peer = await connectRaw(c.port);
    await peer.write(frame(T.HEADERS, 0, 1, literal(request())));
    const block = literal([['x-filler', 'f'.repeat(4000)]]);
    sent = await flood(peer, 10_000, () => frame(T.CONTINUATION, 0, 1, block));
    await until('the gateway ends the session', () => peer!.closed, 20_000);
  });
  console.log(`# CONTINUATION: ${sent} frames written before the close, GOAWAY ${peer!.goaways.join(',') || 'none read (connection reset)'}`);
  // The GOAWAY may be lost to the TCP reset of a connection closed with unread bytes.
  assert.ok(!peer!.goaways.includes(constants.NGHTTP2_NO_ERROR), `GOAWAY ${peer!.goaways.join(',')}`);
  assert.ok(f.cpuMs < 5000, `${f.cpuMs} ms of CPU`);
  assert.ok(f.rssMiB < 40, `${f.rssMiB} MiB`);
});

for (const [name, make] of [
  ['SETTINGS', () => frame(T.SETTINGS, 0, 0)],
  ['PING', (i: number) => frame(T.PING, 0, 0, Buffer.alloc(8, i & 0xff))],
] as const) {
  test(`${name} flood from a client that never reads the ACKs: the session ends, memory bounded`, async () => {
    let peer: Peer | undefined;
    const f = await measure(`${name} flood, 200000 frames, ACKs unread`, async (c) => {
      peer = await connectRaw(c.port);
      peer.socket.pause();
      await Promise.race([flood(peer, 200_000, make), peer.done]);
      peer.socket.resume();
      await until('the gateway ends the session', () => peer!.closed, 20_000);
    });
    assert.ok(peer!.goaway === null || peer!.goaway === constants.NGHTTP2_ENHANCE_YOUR_CALM, `GOAWAY ${peer!.goaway}`);
    assert.ok(f.cpuMs < 5000, `${f.cpuMs} ms of CPU`);
    assert.ok(f.rssMiB < 40, `${f.rssMiB} MiB`);
  });
}

test('an HPACK bomb (one 4 KB table entry referenced 4000 times: 16 MB of fields from 4 KB) is refused before routing', async () => {
  let reached = -1;
  let peer: Peer | undefined;
  const f = await measure('HPACK bomb, 50 streams of 16 MB decoded each', async (c) => {
    const before = upstream.count;
    peer = await connectRaw(c.port);
    for (let s = 0; s < 50 && !peer.closed; s++) {
      const id = 2 * s + 1;
      const block = Buffer.concat([literal(request()), s === 0 ? indexedLiteral('x-bomb', 'b'.repeat(4000)) : Buffer.alloc(0), ...Array.from({ length: 4000 }, () => indexed(62))]);
      await peer.write(frame(T.HEADERS, END_HEADERS | END_STREAM, id, block));
    }
    await until('every stream answered or the session ended', () => peer!.closed || [...peer!.resets.values()].reduce((a, b) => a + b, 0) + peer!.headers >= 50, 20_000);
    reached = upstream.count - before;
  });
  console.log(`# HPACK bomb: resets ${JSON.stringify([...peer!.resets])}, responses ${peer!.headers}, GOAWAY ${peer!.goaways.join(',')}`);
  assert.equal(reached, 0, 'no bombed request reached the upstream');
  assert.ok(f.cpuMs < 5000, `${f.cpuMs} ms of CPU`);
  assert.ok(f.rssMiB < 40, `${f.rssMiB} MiB`);
  peer!.socket.destroy();
});

test('more streams than limits.maxConcurrentStreams are refused (REFUSED_STREAM), the upstream never sees more at once, and a client that keeps on loses the session', async () => {
  peak = 0;
  let peer: Peer | undefined;
  const base = gatewaySpec();
  const limited = { ...base, limits: { maxUrlBytes: 8192, maxHeaderBytes: 16_384, maxHeaders: 100, headersTimeoutMs: 10_000, maxConcurrentStreams: 20 } };
  const f = await measure(
    '100 streams held open (limit 20), then 2000 more',
    async (c) => {
      peer = await connectRaw(c.port);
      const headers = literal([...request('x.test', '/', 'POST'), ['x-hold', '1']]);
      // Streams whose bodies never end: each stays open at the upstream (undici sends a request
      // with a streamed body once its first bytes come).
      const open1 = (i: number): Buffer => Buffer.concat([frame(T.HEADERS, END_HEADERS, 2 * i + 1, headers), frame(T.DATA, 0, 2 * i + 1, Buffer.from('x'))]);
      await flood(peer, 100, open1);
      await until('the upstream holds the 20 streams let through', () => open === 20);
      await until('80 refused', () => peer!.resets.get(constants.NGHTTP2_REFUSED_STREAM) === 80);
      assert.equal(peer.closed, false, 'a client over the limit now and then keeps its session');
      await flood(peer, 2000, (i) => open1(100 + i));
      await until('the gateway ends the session', () => peer!.closed);
      await until('the upstream requests are aborted', () => open === 0);
    },
    limited,
  );
  console.log(`# concurrency: peak ${peak} requests at the upstream, resets ${JSON.stringify([...peer!.resets])}, GOAWAY ${peer!.goaways.join(',')}`);
  assert.equal(peak, 20, 'never more than maxConcurrentStreams at the upstream');
  assert.ok(f.rssMiB < 40, `${f.rssMiB} MiB`);
});
