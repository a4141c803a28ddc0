/**
 * The gray version falls away while its lane has traffic: its process dies, or a reload removes it.
 * The lane's requests go to the service's fallback: after one failed request per dead endpoint
 * (which ejects it), or with none at all when the service retries connect errors; a fail-closed
 * lane gets 503 instead. Everyone else is not disturbed at any point.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../../src/routing/index.js';
import type { Gateway } from '../../src/gateway/server.js';
import type { ServiceSpec, Spec } from '../../src/spec/types.js';
import { gatewayFor, get, route, service, spec, startUpstream, tally, type Upstream } from '../gateway/helpers.js';

const closers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const c of closers) await c.close();
});

async function upstream(version: string, instance?: string): Promise<Upstream> {
  const u = await startUpstream(version, instance);
  closers.push(u);
  return u;
}

function grayConfig(stable: Upstream, beta: Upstream[], over: Partial<ServiceSpec> = {}): Spec {
  return spec({
    services: { svc: service({ stable: [stable.url], beta: beta.map((b) => b.url) }, { passiveHealth: { consecutiveFailures: 1, ejectMs: 60_000 }, ...over }) },
    routes: [route({ rules: [{ lane: 'beta', users: ['b1', 'b2'] }] })],
  });
}

async function start(s: Spec): Promise<Gateway> {
  const g = await gatewayFor(s);
  closers.push({ close: () => g.close({ drainMs: 100 }) });
  return g;
}

/** 20 requests alternating between a beta user and a stable user; the version (or status) of each. */
async function traffic(g: Gateway): Promise<{ beta: string[]; stable: string[] }> {
  const beta: string[] = [];
  const stable: string[] = [];
  for (let i = 0; i < 10; i++) {
    const b = await get(g, '/', { 'x-user-id': i % 2 ? 'b1' : 'b2' });
    beta.push(b.status === 200 ? b.json().version : String(b.status));
    const s = await get(g, '/', { 'x-user-id': `s${i}` });
    stable.push(s.status === 200 ? s.json().version : String(s.status));
  }
  return { beta, stable };
}

test('the beta process dies: its lane gets one 502 per dead endpoint, then the fallback; nobody else notices', async () => {
  const stable = await upstream('stable');
  const beta = [await upstream('beta', 'beta-1'), await upstream('beta', 'beta-2')];
  const g = await start(grayConfig(stable, beta));
  assert.deepEqual(tally((await traffic(g)).beta, String), { beta: 10 });
  for (const b of beta) await b.close();
  const after = await traffic(g);
  assert.deepEqual(tally(after.beta, String), { 502: 2, stable: 8 }, 'one failure per endpoint ejects it');
  assert.deepEqual(tally(after.stable, String), { stable: 10 });
});

test('the beta processes die under retry (2 attempts, connect errors and resets): the lane moves to the fallback without a single error', async () => {
  const stable = await upstream('stable');
  const beta = [await upstream('beta', 'beta-1'), await upstream('beta', 'beta-2')];
  // A dying process resets its keep-alive connections and refuses new ones: both kinds are retried.
  // The first retry goes to the other beta endpoint (dead too, not yet known); the second, with both
  // ejected, to the fallback.
  const g = await start(grayConfig(stable, beta, { retry: { attempts: 2, on: ['connect-error', 'reset'] } }));
  assert.deepEqual(tally((await traffic(g)).beta, String), { beta: 10 });
  for (const b of beta) await b.close();
  const after = await traffic(g);
  assert.deepEqual(tally(after.beta, String), { stable: 10 });
  assert.deepEqual(tally(after.stable, String), { stable: 10 });
});

test('a fail-closed gray lane whose process dies gets 503 no_endpoint, never the fallback', async () => {
  const stable = await upstream('stable');
  const beta = [await upstream('beta', 'beta-1')];
  const g = await start(grayConfig(stable, beta, { failClosed: ['beta'] }));
  await beta[0]!.close();
  const after = await traffic(g);
  assert.deepEqual(tally(after.beta, String), { 502: 1, 503: 9 });
  assert.deepEqual(tally(after.stable, String), { stable: 10 });
});

test('a reload that removes the beta version sends its lane to the fallback from the next request, without errors', async () => {
  const stable = await upstream('stable');
  const beta = [await upstream('beta', 'beta-1')];
  const s = grayConfig(stable, beta);
  const g = await start(s);
  assert.deepEqual(tally((await traffic(g)).beta, String), { beta: 10 });
  g.swap(compile({ ...s, services: { svc: service({ stable: [stable.url] }) } }));
  const after = await traffic(g);
  assert.deepEqual(tally(after.beta, String), { stable: 10 });
  assert.deepEqual(tally(after.stable, String), { stable: 10 });
});
