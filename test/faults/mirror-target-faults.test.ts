/**
 * The mirror target is slow, down or resetting: the main traffic does not see it. Every main
 * request (GETs and POSTs with bodies, 8 at a time) is answered 200 by the main version with its
 * body intact; the copies fail or are dropped at the maxConcurrent bound, and only count.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { closedPort, gatewayFor, get, route, service, spec, startUpstream, type Upstream } from '../gateway/helpers.js';
import { startFaulty } from './helpers.js';

const closers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const c of closers) await c.close();
});

let stable: Upstream;

async function gatewayMirroringTo(mirrorUrl: string): Promise<Gateway> {
  stable ??= await startUpstream('stable');
  if (!closers.includes(stable)) closers.push(stable);
  const g = await gatewayFor(
    spec({
      timeouts: { connectMs: 500, headersMs: 2000, idleMs: 30_000, tunnelIdleMs: 3_600_000 },
      mirror: { maxConcurrent: 4, maxBodyBytes: 1 << 20 },
      services: { svc: service({ stable: [stable.url], shadow: [mirrorUrl] }) },
      routes: [route({ mirror: { lane: 'shadow', percent: 100 } })],
    }),
  );
  closers.push({ close: () => g.close({ drainMs: 100 }) });
  return g;
}

/** 200 requests, 8 at a time, half of them POSTs with a 2 KiB body; returns how many were not a clean 200 from stable. */
async function mainTraffic(g: Gateway): Promise<{ errors: string[]; total: number }> {
  const errors: string[] = [];
  let next = 0;
  const body = 'x'.repeat(2048);
  const worker = async (): Promise<void> => {
    while (next < 200) {
      const i = next++;
      const post = i % 2 === 1;
      try {
        const r = await get(g, `/m/${i}`, post ? { 'content-type': 'text/plain' } : {}, post ? { method: 'POST', body } : {});
        const echo = r.json();
        if (r.status !== 200 || echo.version !== 'stable' || (post && echo.bodyBytes !== body.length)) errors.push(`${i}: ${r.status} ${r.text.slice(0, 80)}`);
      } catch (err) {
        errors.push(`${i}: ${String(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { errors, total: 200 };
}

test('mirror target hangs (never answers): main traffic has zero errors; copies beyond 4 in flight are dropped', async () => {
  const hung = await startFaulty(() => {});
  closers.push(hung);
  const g = await gatewayMirroringTo(hung.url);
  const { errors } = await mainTraffic(g);
  assert.deepEqual(errors, []);
  assert.ok(g.mirror.dropped > 0, `copies were dropped at the bound: ${JSON.stringify(g.mirror)}`);
  assert.ok(hung.requests <= 4 + g.mirror.failed, `at most maxConcurrent copies held at once (${hung.requests} received)`);
});

test('mirror target down (connection refused): main traffic has zero errors; the copies count as failed', async () => {
  const g = await gatewayMirroringTo(`http://127.0.0.1:${await closedPort()}`);
  const { errors } = await mainTraffic(g);
  assert.deepEqual(errors, []);
  assert.ok(g.mirror.failed > 0, JSON.stringify(g.mirror));
  assert.equal(g.mirror.sent, 0);
});

test('mirror target resets every copy: main traffic has zero errors', async () => {
  const rude = await startFaulty((socket) => socket.resetAndDestroy());
  closers.push(rude);
  const g = await gatewayMirroringTo(rude.url);
  const { errors } = await mainTraffic(g);
  assert.deepEqual(errors, []);
  assert.ok(g.mirror.failed > 0, JSON.stringify(g.mirror));
  assert.equal(g.health.isUp(rude.origin), true, 'copies never count against passive health');
});
