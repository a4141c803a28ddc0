/**
 * Slow clients: a request head dribbled a byte at a time (slowloris) is cut by limits.headersTimeout
 * with 408, however steadily the bytes come; a request body that stalls, or a response the client
 * stopped reading, is cut by timeouts.idle. Other clients keep being served meanwhile, and nothing
 * incomplete is passed on as if it were whole.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Gateway } from '../../src/gateway/server.js';
import { client, gatewayFor, get, route, service, spec, startUpstream, type Upstream } from '../gateway/helpers.js';
import { raw } from './helpers.js';
import { sleep, until } from '../support/wait.js';

let upstream: Upstream;
let gw: Gateway;
before(async () => {
  upstream = await startUpstream('stable');
  gw = await gatewayFor(
    spec({
      services: { svc: service({ stable: [upstream.url] }) },
      routes: [route()],
      timeouts: { connectMs: 1000, headersMs: 5000, idleMs: 500, tunnelIdleMs: 3_600_000 },
      limits: { maxUrlBytes: 8192, maxHeaderBytes: 16_384, maxHeaders: 100, headersTimeoutMs: 1000, maxConcurrentStreams: 100 },
    }),
  );
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await upstream.close();
  await client.close();
});

/** Normal requests, one after the other, until `done` resolves; returns their statuses. */
async function normalTrafficUntil(done: Promise<unknown>): Promise<number[]> {
  let finished = false;
  void done.then(() => (finished = true));
  const statuses: number[] = [];
  while (!finished) {
    statuses.push((await get(gw, '/normal')).status);
    await sleep(20);
  }
  return statuses;
}

test('slowloris: heads dribbled one byte per 100 ms are cut with 408 by the headers timeout, while other clients are served', async () => {
  const n = upstream.received.length;
  // 20 connections, each a byte every 100 ms for up to 10 s: far past the 1 s headers timeout
  // (Node checks it every second), and never a complete head.
  const dribble = ['GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: ', ...Array.from({ length: 100 }, () => 'a')];
  const slow = Array.from({ length: 20 }, () => raw(gw, '', { chunks: dribble, gapMs: 100, waitMs: 15_000 }));
  const all = Promise.all(slow);
  const normal = await normalTrafficUntil(all);
  const results = await all;
  for (const r of results) {
    assert.ok(r.closedByServer, 'the gateway closed the slow connection');
    assert.equal(r.responses[0]?.status, 408, JSON.stringify(r.text));
  }
  assert.ok(normal.length > 0);
  assert.deepEqual([...new Set(normal)], [200], 'every normal request meanwhile was served');
  assert.ok(
    upstream.received.slice(n).every((e) => e.url === '/normal'),
    'no part of a slow head reached the upstream',
  );
});

test('a request body that stalls is cut by the idle timeout; the upstream never sees it complete; others are served', async () => {
  const n = upstream.received.length;
  // 10 of the 1000 announced bytes, then silence.
  const stalled = raw(gw, 'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n0123456789', { waitMs: 15_000 });
  const normal = await normalTrafficUntil(stalled);
  const r = await stalled;
  assert.ok(r.closedByServer, 'the gateway closed the stalled upload');
  assert.ok(!r.responses.some((x) => x.status === 200));
  assert.deepEqual([...new Set(normal)], [200]);
  const uploads = upstream.received.slice(n).filter((e) => e.url === '/upload');
  assert.ok(uploads.every((e) => e.bodyBytes === undefined), 'the upstream request was aborted, never completed');
});

test('an idle keep-alive connection between requests is not taken for a slowloris', async () => {
  // One request, then 2.5 s of silence (over twice the headers timeout), then another on the same connection.
  const first = 'GET /ka1 HTTP/1.1\r\nHost: a\r\n\r\n';
  const r = await raw(gw, '', { chunks: [first, 'GET /ka2 HTTP/1.1\r\nHost: a\r\n\r\n'], gapMs: 2500, responses: 2, waitMs: 10_000 });
  assert.deepEqual(
    r.responses.map((x) => x.status),
    [200, 200],
  );
});

test('a client that stops reading a response is cut by the idle timeout; the upstream response is aborted', async () => {
  // 64 MiB, written as fast as the gateway takes it: far more than socket buffers hold.
  let upstreamAborted = false;
  const big = await startUpstream('big', 'big-1', (_req, res) => {
    const chunk = Buffer.alloc(64 * 1024, 97);
    let sent = 0;
    const pump = (): void => {
      while (sent < 1024) {
        sent++;
        if (!res.write(chunk)) return; // 'drain' calls pump again
      }
      res.end();
    };
    res.on('drain', pump);
    res.on('close', () => (upstreamAborted = !res.writableFinished));
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    pump();
    return true;
  });
  const g = await gatewayFor(
    spec({ services: { svc: service({ stable: [big.url] }) }, routes: [route()], timeouts: { connectMs: 1000, headersMs: 5000, idleMs: 500, tunnelIdleMs: 3_600_000 } }),
  );
  const socket = connect(g.address.port, '127.0.0.1');
  try {
    socket.pause(); // reads nothing more than Node's first buffer: the gateway's writes back up
    socket.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
    await until('the upstream request aborted', () => upstreamAborted, 10_000);
    await until('no request in flight', () => g.inFlight() === 0, 5000);
    assert.equal((await get(g, '/after')).status, 200, 'the gateway serves others afterwards');
  } finally {
    socket.destroy();
    await g.close({ drainMs: 100 });
    await big.close();
  }
});

test('an error answer to a request whose body is not read yet closes the connection', async () => {
  // A target over maxUrlBytes is answered 414 before routing, while the client has sent 10 of the
  // 1000 bytes it announced: keeping the connection would mean waiting for the other 990.
  const r = await raw(gw, `POST /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n0123456789`, { waitMs: 15_000 });
  assert.equal(r.responses[0]?.status, 414);
  assert.equal(r.responses[0]?.headers.connection, 'close');
  assert.ok(r.closedByServer, 'the gateway closed the connection');
});
