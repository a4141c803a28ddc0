/**
 * Bodies stream through the gateway in both directions in constant memory, and a client that goes
 * away aborts the upstream request.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { Readable } from 'node:stream';
import { request } from 'undici';
import type { Spec } from '../../src/spec/types.js';
import type { Gateway } from '../../src/gateway/server.js';
import { client, gatewayFor, route, service, spec, startUpstream, type Upstream } from './helpers.js';
import { until } from '../support/wait.js';

const MiB = 1 << 20;
const upstreams: Upstream[] = [];
const gateways: Gateway[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all(gateways.map((g) => g.close({ drainMs: 100 })));
  await Promise.all(upstreams.map((u) => u.close()));
  await client.close();
});

/** A gateway in a child process, so its memory can be measured alone. */
async function childGateway(s: Spec): Promise<{ port: number; rss(): Promise<number> }> {
  const child = fork(new URL('./fixtures/gateway-child.js', import.meta.url), [JSON.stringify(s)], { stdio: 'inherit' });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`gateway child exited with ${code}`)));
  });
  return {
    port,
    rss: () =>
      new Promise<number>((resolve) => {
        child.once('message', (m: { rss: number }) => resolve(m.rss));
        child.send('rss');
      }),
  };
}

/** `total` bytes in 64 KiB chunks of one reused buffer; `progress.sent` counts what was handed out. */
function generated(total: number, progress: { sent: number }): Readable {
  const chunk = Buffer.alloc(64 * 1024, 'g');
  return Readable.from(
    (function* () {
      while (progress.sent < total) {
        const n = Math.min(chunk.length, total - progress.sent);
        progress.sent += n;
        yield n === chunk.length ? chunk : chunk.subarray(0, n);
      }
    })(),
    { objectMode: false },
  );
}

test('a 200 MiB upload and a 100 MiB download stream through a gateway process without its memory growing with them', async () => {
  const UP = 200 * MiB;
  const DOWN = 100 * MiB;
  const progress = { sent: 0 };
  let clientSentAtFirstChunk = -1;
  const sink = await startUpstream('stable', 'sink', (req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': DOWN });
      const chunk = Buffer.alloc(64 * 1024, 'd');
      let left = DOWN;
      const pump = () => {
        while (left > 0) {
          left -= chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return true;
    }
    let received = 0;
    req.on('data', (c: Buffer) => {
      if (clientSentAtFirstChunk === -1 && progress.sent > 0) clientSentAtFirstChunk = progress.sent;
      received += c.length;
    });
    req.on('end', () => res.end(JSON.stringify({ received })));
    return true;
  });
  upstreams.push(sink);
  const gw = await childGateway(spec({ services: { svc: service({ stable: [sink.url] }) } }));
  const url = `http://127.0.0.1:${gw.port}/upload`;
  // Warm up (pools, JIT), then take the baseline.
  await (await request(url, { method: 'POST', body: 'warm', dispatcher: client })).body.text();
  const baseline = await gw.rss();
  let peak = baseline;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await gw.rss());
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  const up = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(UP) },
    body: generated(UP, progress),
    dispatcher: client,
  });
  assert.equal(up.statusCode, 200);
  assert.deepEqual(await up.body.json(), { received: UP });
  assert.ok(clientSentAtFirstChunk < UP / 2, `the upstream saw the first chunk after ${clientSentAtFirstChunk} bytes were sent`);

  const down = await request(url, { dispatcher: client });
  let downloaded = 0;
  for await (const c of down.body) downloaded += (c as Buffer).length;
  assert.equal(downloaded, DOWN);

  sampling = false;
  await sampler;
  // Measured: ~60 MiB whatever the body size (50 or 400 MiB: garbage collection lag of socket
  // buffers); a gateway that buffered the upload would grow by at least its 200 MiB.
  const growth = (peak - baseline) / MiB;
  assert.ok(growth < 128, `gateway RSS grew by ${growth.toFixed(1)} MiB while 300 MiB went through`);
});

test('a client that goes away aborts the upstream request', async () => {
  let upstreamSawClose = false;
  const slow = await startUpstream('stable', 'slow', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part');
    res.on('close', () => (upstreamSawClose = !res.writableEnded));
    void req;
    return true; // never ends by itself
  });
  upstreams.push(slow);
  const g = await gatewayFor(spec({ services: { svc: service({ stable: [slow.url] }) }, routes: [route()] }));
  gateways.push(g);
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: g.address.port, path: '/' }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => {});
    req.setTimeout(5000, () => reject(new Error('no first chunk')));
  });
  await until('the upstream to see the close', () => upstreamSawClose, 5000);
  await until('no request in flight', () => g.inFlight() === 0, 5000);
});
