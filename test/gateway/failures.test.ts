/**
 * What the gateway does when upstreams are missing, down, failing or hung: fallback, fail-closed
 * 503, passive ejection and return, 502/504 with JSON bodies.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { client, closedPort, gatewayFor, get, route, service, spec, startUpstream, tally, type Upstream } from './helpers.js';

const upstreams: Upstream[] = [];
const gateways: Gateway[] = [];
async function gw(...args: Parameters<typeof gatewayFor>): Promise<Gateway> {
  const g = await gatewayFor(...args);
  gateways.push(g);
  return g;
}
after(async () => {
  await Promise.all(gateways.map((g) => g.close({ drainMs: 100 })));
  await Promise.all(upstreams.map((u) => u.close()));
  await client.close();
});

let stable: Upstream;
let beta: Upstream;
before(async () => {
  stable = await startUpstream('stable');
  beta = await startUpstream('beta');
  upstreams.push(stable, beta);
});

const toBeta = [{ lane: 'beta', users: ['b'] }];

test('a lane whose version the service lacks falls back to the fallback version', async () => {
  const g = await gw(spec({ services: { svc: service({ stable: [stable.url] }) }, routes: [route({ rules: toBeta })] }));
  const r = await get(g, '/', { 'x-user-id': 'b' });
  assert.equal(r.status, 200);
  assert.equal(r.json().version, 'stable');
  assert.equal(r.json().headers['x-gray-lane'], 'beta', 'the lane travels on for full-link gray');
});

test("a version whose endpoints are all down (closed ports): one is ejected, the last stays in rotation, and its lane gets its 502s, never the fallback", async () => {
  const dead = [`http://127.0.0.1:${await closedPort()}`, `http://127.0.0.1:${await closedPort()}`];
  const g = await gw(
    spec({
      services: { svc: service({ stable: [stable.url], beta: dead }, { passiveHealth: { consecutiveFailures: 1, ejectMs: 60_000 } }) },
      routes: [route({ rules: toBeta })],
    }),
  );
  for (let i = 0; i < 12; i++) {
    const r = await get(g, '/', { 'x-user-id': 'b' });
    assert.equal(r.status, 502);
    assert.equal(r.json<{ error: string }>().error, 'bad_gateway');
  }
  // The first failure ejected the first endpoint; the second, the last one in rotation, stays in
  // and counts its failures.
  assert.deepEqual(
    g.health.entries().map((e) => [e.origin, e.ejections, e.failures]),
    [
      [new URL(dead[0]!).origin, 1, 0],
      [new URL(dead[1]!).origin, 0, 11],
    ],
  );
  assert.equal((await get(g, '/')).json().version, 'stable', 'other lanes are served');
});

test('a fail-closed lane gets 503 with JSON when its version is absent; when its only endpoint is down, that endpoint\'s 502s', async () => {
  const deadPort = await closedPort();
  const g = await gw(
    spec({
      services: {
        svc: service(
          { stable: [stable.url], beta: [`http://127.0.0.1:${deadPort}`] },
          { failClosed: ['beta', 'alpha'], passiveHealth: { consecutiveFailures: 1, ejectMs: 60_000 } },
        ),
      },
      routes: [route({ rules: [...toBeta, { lane: 'alpha', users: ['a'] }] })],
    }),
  );
  const absent = await get(g, '/', { 'x-user-id': 'a' });
  assert.equal(absent.status, 503);
  assert.equal(absent.headers['content-type'], 'application/json');
  assert.deepEqual(Object.keys(absent.json()), ['error', 'route', 'lane', 'reason']);
  assert.equal(absent.json<{ error: string; lane: string }>().error, 'no_endpoint');
  for (let i = 0; i < 3; i++) {
    const down = await get(g, '/', { 'x-user-id': 'b' });
    assert.equal(down.status, 502, 'its only endpoint is never ejected');
    assert.equal(down.json<{ version: string }>().version, 'beta');
  }
  assert.equal((await get(g, '/')).json().version, 'stable', 'other lanes are served');
});

test('passive health ejects an endpoint after N consecutive failures (5xx or refused) and takes it back after ejectMs', async () => {
  let now = 1_000_000;
  let failing = true;
  const flaky = await startUpstream('stable', 'flaky', (_req, res) => {
    if (!failing) return false;
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('boom');
    return true;
  });
  upstreams.push(flaky);
  const g = await gw(
    spec({
      services: { svc: service({ stable: [stable.url, flaky.url] }, { passiveHealth: { consecutiveFailures: 2, ejectMs: 30_000 } }) },
    }),
    { now: () => now },
  );
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await get(g, '/')).status);
  assert.deepEqual(statuses, [200, 500, 200, 500], 'round robin; 5xx answers pass through');
  assert.equal(g.health.isUp(flaky.origin), false);
  const during: string[] = [];
  for (let i = 0; i < 10; i++) during.push((await get(g, '/')).json().instance);
  assert.deepEqual(tally(during, (x) => x), { 'stable-1': 10 });
  failing = false;
  now += 30_000;
  const back: string[] = [];
  for (let i = 0; i < 4; i++) back.push((await get(g, '/')).json().instance);
  assert.deepEqual(tally(back, (x) => x), { 'stable-1': 2, flaky: 2 });
});

test('refused upstream is 502 and hung upstream is 504, each with a JSON body', async () => {
  const port = await closedPort();
  const hung = await startUpstream('hung', 'hung-1', () => true); // never answers
  upstreams.push(hung);
  const g = await gw(
    spec({
      timeouts: { connectMs: 1000, headersMs: 200, idleMs: 30_000, tunnelIdleMs: 3_600_000 },
      services: {
        refused: service({ stable: [`http://127.0.0.1:${port}`] }),
        hung: service({ stable: [hung.url] }),
      },
      routes: [
        route({ name: 'refused', match: { pathPrefix: '/refused' }, service: 'refused' }),
        route({ name: 'hung', match: { pathPrefix: '/hung' }, service: 'hung' }),
      ],
    }),
  );
  const refused = await get(g, '/refused');
  assert.equal(refused.status, 502);
  assert.equal(refused.headers['content-type'], 'application/json');
  assert.deepEqual(refused.json(), {
    error: 'bad_gateway',
    route: 'refused',
    version: 'stable',
    endpoint: `http://127.0.0.1:${port}`,
  });
  const timedOut = await get(g, '/hung');
  assert.equal(timedOut.status, 504);
  assert.deepEqual(timedOut.json(), { error: 'upstream_timeout', route: 'hung', version: 'stable', endpoint: hung.url });
});

test('an upstream that stalls mid-body past the idle timeout gets the client connection cut', async () => {
  const stall = await startUpstream('stall', 'stall-1', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial');
    return true; // never ends
  });
  upstreams.push(stall);
  const g = await gw(
    spec({ timeouts: { connectMs: 1000, headersMs: 5000, idleMs: 200, tunnelIdleMs: 3_600_000 }, services: { svc: service({ stable: [stall.url] }) } }),
  );
  await assert.rejects(get(g, '/'), (err: Error & { code?: string }) => {
    assert.match(String(err.code ?? err.message), /UND_ERR_SOCKET|ECONNRESET|other side closed|terminated/i);
    return true;
  });
});
