/**
 * Long gRPC streams through graylane stay bounded in the gateway's memory (issue 15), over h2c and
 * over TLS+h2: a bidi stream of 10,000 messages, and a server stream of 32 MiB to a client that
 * stops reading for 2 s. After a 10,000-message bidi stream the trailers are those of the upstream,
 * field for field (raw node:http2 clients, through the gateway and directly). The gateway runs in a child process so its RSS is its own; the greeter
 * (grpc-js, h2c://) and the clients (grpc-js) run here. Without backpressure end to end the slow
 * reader's stream would pile up in the gateway (32 MiB, over the 20 MiB bound).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http2, { type IncomingHttpHeaders } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { h2connect } from '../http2/helpers.js';
import { service, route, spec } from '../gateway/helpers.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { makeCa } from '../support/tls.js';
import { sleep } from '../support/wait.js';
import { definition, greeterClient, startGreeter, type Greeter } from './greeter.js';

const MiB = 1 << 20;
let dir: TempDir;
let caPem: string;
let greeter: Greeter;
let child: ChildProcess;
let ports: { h2c: number; tls: number };
const clients: grpc.Client[] = [];

before(async () => {
  dir = await tempDir();
  const ca = makeCa(dir.path);
  caPem = ca.pem;
  const leaf = ca.issue('gateway', ['localhost']);
  greeter = await startGreeter('stable');
  const s = spec({ services: { svc: service({ stable: [`h2c://127.0.0.1:${greeter.port}`] }) }, routes: [route()] });
  child = fork(new URL('./fixtures/gateway-child.js', import.meta.url), [JSON.stringify(s), JSON.stringify({ cert: leaf.cert, key: leaf.key })], { stdio: 'inherit', execArgv: ['--expose-gc'] });
  ports = await new Promise((resolve, reject) => {
    child.once('message', (m: { h2c: number; tls: number }) => resolve(m));
    child.once('exit', (code) => reject(new Error(`gateway child exited with ${code}`)));
  });
});

after(async () => {
  for (const c of clients) c.close();
  if (child.exitCode === null) child.kill('SIGKILL');
  await greeter.close();
  await dir.remove();
});

function stats(): Promise<{ rss: number; cpuMs: number }> {
  return new Promise((resolve) => {
    child.once('message', (m: { rss: number; cpuMs: number }) => resolve(m));
    child.send('stats');
  });
}

const transports = [
  { name: 'h2c', client: () => greeterClient(`127.0.0.1:${ports.h2c}`), raw: () => ({ url: `http://127.0.0.1:${ports.h2c}`, opts: {} }) },
  {
    name: 'TLS+h2',
    client: () =>
      greeterClient(`127.0.0.1:${ports.tls}`, grpc.credentials.createSsl(Buffer.from(caPem)), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' }),
    raw: (): { url: string; opts: http2.SecureClientSessionOptions } => ({ url: `https://127.0.0.1:${ports.tls}`, opts: { ca: caPem, servername: 'localhost' } }),
  },
];

/**
 * A bidi Chat of `n` messages of 1 KiB over a raw node:http2 session (written with backpressure):
 * the trailers as they came, and the bytes echoed back.
 */
async function rawChat(url: string, opts: http2.SecureClientSessionOptions, n: number): Promise<{ trailers: IncomingHttpHeaders | null; echoed: number }> {
  const session = await h2connect(url, opts);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': definition.Chat.path, 'content-type': 'application/grpc', te: 'trailers' });
      let trailers: IncomingHttpHeaders | null = null;
      let echoed = 0;
      stream.on('trailers', (tr) => (trailers = tr));
      stream.on('data', (c: Buffer) => (echoed += c.length));
      stream.once('error', reject);
      stream.once('end', () => resolve({ trailers, echoed }));
      const message = Buffer.alloc(5 + 1024, 'b');
      message.writeUInt8(0, 0);
      message.writeUInt32BE(1024, 1);
      void (async () => {
        for (let i = 0; i < n; i++) if (!stream.write(message)) await once(stream, 'drain');
        stream.end();
      })().catch(reject);
    });
  } finally {
    session.close();
  }
}

const identity = (b: Buffer): Buffer => b;
const mib = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

/** Warms the client's connection and the gateway's upstream session, so growth measured is the stream's. */
async function warm(c: grpc.Client): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise<void>((resolve, reject) =>
      c.makeUnaryRequest(definition.Hello.path, identity, identity, Buffer.from('{}'), { deadline: Date.now() + 10_000 }, (err) => (err ? reject(err) : resolve())),
    );
  }
}

for (const t of transports) {
  test(`${t.name}: a bidi stream of 10,000 messages completes, echoed in order, with the gateway's RSS growth under 20 MiB`, async () => {
    const c = t.client();
    clients.push(c);
    await warm(c);
    const start = await stats();
    const N = 10_000;
    let peak = 0;
    const received = await new Promise<{ count: number; inOrder: boolean; status: grpc.StatusObject }>((resolve, reject) => {
      let count = 0;
      let inOrder = true;
      const call = c.makeBidiStreamRequest(definition.Chat.path, identity, identity, new grpc.Metadata(), { deadline: Date.now() + 60_000 });
      call.on('data', (m: Buffer) => {
        if (m.readUInt32BE(0) !== count) inOrder = false;
        count++;
      });
      call.on('error', reject);
      call.on('status', (status) => call.once('end', () => resolve({ count, inOrder, status })));
      // Written with backpressure; the gateway's RSS sampled every 1000 messages.
      void (async () => {
        for (let i = 0; i < N; i++) {
          const m = Buffer.alloc(1024, 'b');
          m.writeUInt32BE(i, 0);
          if (!call.write(m)) await new Promise((r) => call.once('drain', r));
          if (i % 1000 === 999) peak = Math.max(peak, (await stats()).rss - start.rss);
        }
        call.end();
      })().catch(reject);
    });
    const end = await stats();
    const growth = Math.max(peak, end.rss - start.rss);
    console.log(`# ${t.name} bidi ${N} x 1 KiB: gateway RSS growth ${mib(growth)} MiB (peak sampled), CPU ${Math.round(end.cpuMs - start.cpuMs)} ms`);
    assert.equal(received.status.code, grpc.status.OK);
    assert.equal(received.count, N);
    assert.ok(received.inOrder, 'echoed in order');
    assert.deepEqual(received.status.metadata.get('x-served-by'), ['stable']);
    assert.ok(growth < 20 * MiB, `gateway RSS grew ${mib(growth)} MiB`);
  });

  test(`${t.name}: after a bidi stream of 10,000 messages, the trailers are the upstream's, field for field (raw HTTP/2, direct and through the gateway)`, async () => {
    const N = 10_000;
    const direct = await rawChat(`http://127.0.0.1:${greeter.port}`, {}, N);
    const via = await rawChat(t.raw().url, t.raw().opts, N);
    assert.equal(direct.echoed, N * (5 + 1024));
    assert.equal(via.echoed, direct.echoed, 'every message echoed through the gateway');
    assert.ok(direct.trailers !== null && direct.trailers['grpc-status'] === '0', 'the upstream ended with trailers, status OK');
    assert.deepEqual(via.trailers, direct.trailers);
  });

  test(`${t.name}: a server stream of 32 MiB to a client that stops reading for 2 s: the upstream is held back, everything arrives, RSS growth under 20 MiB`, async () => {
    const c = t.client();
    clients.push(c);
    await warm(c);
    const start = await stats();
    const COUNT = 2048;
    const SIZE = 16 * 1024;
    const writtenBefore = greeter.written;
    let count = 0;
    let bytes = 0;
    let heldAt: number[] = [];
    let peak = 0;
    const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
      const call = c.makeServerStreamRequest(definition.Hellos.path, identity, identity, Buffer.from(JSON.stringify({ count: COUNT, size: SIZE })), new grpc.Metadata(), { deadline: Date.now() + 60_000 });
      call.on('data', (m: Buffer) => {
        count++;
        bytes += m.length;
        if (count === 1) {
          // Stop reading: grpc-js stops asking for messages, its window closes, and the gateway
          // must stop reading the upstream rather than buffer the rest.
          call.pause();
          void (async () => {
            for (let s = 0; s < 4; s++) {
              await sleep(500);
              heldAt.push(greeter.written - writtenBefore);
              peak = Math.max(peak, (await stats()).rss - start.rss);
            }
            call.resume();
          })().catch(reject);
        }
      });
      call.on('error', reject);
      call.on('status', (s) => call.once('end', () => resolve(s)));
    });
    const end = await stats();
    const after = end.rss - start.rss;
    console.log(`# ${t.name} server stream ${COUNT} x 16 KiB, reader paused 2 s: upstream wrote ${heldAt.join(' -> ')} messages while paused, gateway RSS growth ${mib(peak)} MiB while paused (peak sampled), ${mib(after)} MiB after the 32 MiB went through`);
    assert.equal(status.code, grpc.status.OK);
    assert.equal(count, COUNT);
    assert.equal(bytes, COUNT * SIZE);
    // Held back: at most a few MiB of windows and buffers (not 32), and no progress in the last second.
    assert.ok(heldAt[3]! < COUNT / 4, `the upstream wrote ${heldAt[3]} of ${COUNT} messages while the client read none`);
    assert.equal(heldAt[3], heldAt[1], 'the upstream made no progress while the client did not read');
    // While the client reads nothing is when a gateway that buffers would grow: bounded there.
    // After the stream has gone through at full speed, RSS also holds pages the allocator kept
    // (a GC ran; glibc does not return them at once), so that figure is bounded by the stream.
    assert.ok(peak < 20 * MiB, `gateway RSS grew ${mib(peak)} MiB while the client read nothing`);
    assert.ok(after < 32 * MiB, `gateway RSS grew ${mib(after)} MiB: as much as the whole stream`);
  });
}

