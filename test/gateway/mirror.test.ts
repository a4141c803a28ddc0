/**
 * Mirroring: copies reach the mirror lane's version, the main responses are untouched, and a slow or
 * down mirror neither delays nor fails the main requests.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { client, closedPort, gatewayFor, get, route, service, spec, startUpstream, type Upstream } from './helpers.js';
import { until } from '../support/wait.js';

const upstreams: Upstream[] = [];
const gateways: Gateway[] = [];
async function up(...args: Parameters<typeof startUpstream>): Promise<Upstream> {
  const u = await startUpstream(...args);
  upstreams.push(u);
  return u;
}
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

test('the mirror lane receives exactly its share of copies; main responses are untouched', async () => {
  const stable = await up('stable');
  const shadow = await up('shadow');
  const g = await gw(
    spec({
      services: { svc: service({ stable: [stable.url], shadow: [shadow.url] }) },
      routes: [route({ mirror: { lane: 'shadow', percent: 25 } })],
    }),
  );
  for (let i = 0; i < 100; i++) {
    const r = await get(g, `/item/${i}?q=${i}`, { 'x-user-id': `u${i}` });
    assert.equal(r.status, 200);
    assert.equal(r.json().version, 'stable');
    assert.equal(r.json().headers['x-graylane-mirror'], undefined);
    assert.equal(r.headers['x-gray-lane'], 'stable');
  }
  await until('25 mirror copies sent', () => g.mirror.sent === 25, 5000);
  assert.deepEqual({ ...g.mirror }, { sent: 25, dropped: 0, failed: 0 });
  assert.equal(stable.received.length, 100);
  assert.equal(shadow.received.length, 25);
  for (const copy of shadow.received) {
    assert.equal(copy.headers['x-graylane-mirror'], '1');
    assert.equal(copy.headers['x-gray-lane'], 'shadow');
    const i = Number(copy.url.slice('/item/'.length, copy.url.indexOf('?')));
    assert.equal(copy.url, `/item/${i}?q=${i}`);
    assert.equal(copy.headers['x-user-id'], `u${i}`);
  }
});

test('a request body is copied when small enough; a larger one is dropped from mirroring only', async () => {
  const stable = await up('stable');
  const shadow = await up('shadow');
  const g = await gw(
    spec({
      mirror: { maxConcurrent: 16, maxBodyBytes: 1000 },
      services: { svc: service({ stable: [stable.url], shadow: [shadow.url] }) },
      routes: [route({ mirror: { lane: 'shadow', percent: 100 } })],
    }),
  );
  const small = await get(g, '/post', { 'content-type': 'text/plain' }, { method: 'POST', body: 'x'.repeat(1000) });
  assert.equal(small.json().bodyBytes, 1000);
  await until('one mirror copy sent', () => g.mirror.sent === 1, 5000);
  assert.equal(shadow.received[0]!.bodyBytes, 1000);
  assert.equal(shadow.received[0]!.method, 'POST');
  const large = await get(g, '/post', {}, { method: 'POST', body: 'y'.repeat(1001) });
  assert.equal(large.status, 200);
  assert.equal(large.json().bodyBytes, 1001, 'the main request is untouched');
  assert.equal(g.mirror.dropped, 1);
  assert.equal(shadow.received.length, 1);
});

test('a hung mirror does not delay the main requests, and copies over maxConcurrent are dropped', async () => {
  const stable = await up('stable');
  const hung = await up('shadow', 'hung', () => true); // accepts, never answers
  const g = await gw(
    spec({
      mirror: { maxConcurrent: 4, maxBodyBytes: 1000 },
      timeouts: { connectMs: 1000, headersMs: 60_000, idleMs: 60_000, tunnelIdleMs: 3_600_000 },
      services: { svc: service({ stable: [stable.url], shadow: [hung.url] }) },
      routes: [route({ mirror: { lane: 'shadow', percent: 100 } })],
    }),
  );
  for (let i = 0; i < 20; i++) {
    const r = await get(g, '/');
    assert.equal(r.status, 200);
    assert.equal(r.json().version, 'stable');
  }
  await until('four copies at the hung mirror', () => hung.received.length === 4, 5000);
  assert.deepEqual({ ...g.mirror }, { sent: 0, dropped: 16, failed: 0 });
});

test('a down mirror counts failures and never fails the main request', async () => {
  const stable = await up('stable');
  const g = await gw(
    spec({
      services: { svc: service({ stable: [stable.url], shadow: [`http://127.0.0.1:${await closedPort()}`] }) },
      routes: [route({ mirror: { lane: 'shadow', percent: 100 } })],
    }),
  );
  for (let i = 0; i < 10; i++) assert.equal((await get(g, '/')).status, 200);
  await until('10 mirror copies failed', () => g.mirror.failed === 10, 5000);
  assert.deepEqual({ ...g.mirror }, { sent: 0, dropped: 0, failed: 10 });
  assert.equal(g.health.isUp(`http://127.0.0.1:0`), true);
  assert.equal(g.health.entries().length, 0, 'copies do not feed passive health');
});

test('no copy when the mirror lane has no version of its own, or serves the main request itself', async () => {
  const stable = await up('stable');
  const shadow = await up('shadow');
  const noShadow = await gw(
    spec({
      services: { svc: service({ stable: [stable.url] }) },
      routes: [route({ mirror: { lane: 'shadow', percent: 100 } })],
    }),
  );
  for (let i = 0; i < 5; i++) assert.equal((await get(noShadow, '/')).status, 200);
  assert.deepEqual({ ...noShadow.mirror }, { sent: 0, dropped: 5, failed: 0 });
  assert.equal(stable.received.length, 5, 'the fallback is not sent copies of its own traffic');

  const g = await gw(
    spec({
      services: { svc: service({ stable: [stable.url], shadow: [shadow.url] }) },
      routes: [route({ rules: [{ lane: 'shadow', users: ['s'] }], mirror: { lane: 'shadow', percent: 100 } })],
    }),
  );
  assert.equal((await get(g, '/', { 'x-user-id': 's' })).json().version, 'shadow');
  assert.deepEqual({ ...g.mirror }, { sent: 0, dropped: 1, failed: 0 });
  assert.equal(shadow.received.length, 1);
});
