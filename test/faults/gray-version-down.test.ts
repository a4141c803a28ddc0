/**
 * The gray version falls away while its lane has traffic: its process dies, or a reload removes it.
 * A dead process is the version's own failure, and stays visible: passive health ejects dead
 * endpoints but never the version's last one, so the lane gets its errors (which is what fails a
 * rollout's analysis) rather than being moved to the fallback behind everyone's back; a service
 * that retries connect errors moves a request to another endpoint of the version while it has a
 * live one. A version removed by a reload is gone: its lane goes to the fallback from the next
 * request. Everyone else is not disturbed at any point.
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

test('the beta processes die: one endpoint is ejected, the last stays in, and the lane gets its 502s; nobody else notices', async () => {
  const stable = await upstream('stable');
  const beta = [await upstream('beta', 'beta-1'), await upstream('beta', 'beta-2')];
  const g = await start(grayConfig(stable, beta));
  assert.deepEqual(tally((await traffic(g)).beta, String), { beta: 10 });
  for (const b of beta) await b.close();
  const after = await traffic(g);
  assert.deepEqual(tally(after.beta, String), { 502: 10 }, 'the errors stay with the version that has them');
  assert.deepEqual(
    beta.map((b) => g.health.isUp(b.origin)),
    [false, true],
    'the first dead endpoint is ejected, the last one is kept',
  );
  assert.deepEqual(tally(after.stable, String), { stable: 10 });
});

test('one of two beta processes dies under retry (2 attempts, connect errors and resets): its lane is served by the other without a single error', async () => {
  const stable = await upstream('stable');
  const beta = [await upstream('beta', 'beta-1'), await upstream('beta', 'beta-2')];
  // A dying process resets its keep-alive connections and refuses new ones: both kinds are retried,
  // on the next endpoint in rotation.
  const g = await start(grayConfig(stable, beta, { retry: { attempts: 2, on: ['connect-error', 'reset'] } }));
  assert.deepEqual(tally((await traffic(g)).beta, String), { beta: 10 });
  await beta[0]!.close();
  const after = await traffic(g);
  assert.deepEqual(tally(after.beta, String), { beta: 10 });
  assert.equal(g.health.isUp(beta[0]!.origin), false);
  assert.deepEqual(tally(after.stable, String), { stable: 10 });
});

test('a fail-closed gray lane whose process dies gets its 502s, never the fallback', async () => {
  const stable = await upstream('stable');
  const beta = [await upstream('beta', 'beta-1')];
  const g = await start(grayConfig(stable, beta, { failClosed: ['beta'] }));
  await beta[0]!.close();
  const after = await traffic(g);
  assert.deepEqual(tally(after.beta, String), { 502: 10 });
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
