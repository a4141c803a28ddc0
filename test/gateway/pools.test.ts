/**
 * Upstream pools outlive snapshots: an origin that leaves the config keeps its pool for a grace
 * period (a quick revert keeps its connections), then the pool is closed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { PoolSet } from '../../src/gateway/pools.js';
import { startUpstream, type Upstream } from './helpers.js';
import { until } from '../support/wait.js';

const upstreams: Upstream[] = [];
after(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
});

async function hit(pools: PoolSet, origin: string): Promise<void> {
  const r = await pools.get(origin).request({ path: '/', method: 'GET' });
  await r.body.text();
}

test('a pool whose origin left the config is closed after the grace period, unless the origin comes back', async () => {
  const a = await startUpstream('a');
  const b = await startUpstream('b');
  upstreams.push(a, b);
  const pools = new PoolSet({ connectTimeoutMs: 1000, graceMs: 50 });
  await hit(pools, a.origin);
  await hit(pools, b.origin);
  assert.deepEqual(pools.origins().sort(), [a.origin, b.origin].sort());

  // b leaves, then comes back before the grace period is over: its pool (and connection) stays.
  pools.retain(new Set([a.origin]), 1000);
  pools.retain(new Set([a.origin, b.origin]), 1000);
  // a leaves for good.
  pools.retain(new Set([b.origin]), 1000);
  await until('the idle pool of a dropped', () => !pools.origins().includes(a.origin), 5000);
  assert.deepEqual(pools.origins(), [b.origin]);
  await hit(pools, b.origin);
  assert.equal(b.connections, 1, 'b kept its keep-alive connection');
  await pools.close();
});

test('a changed connect timeout replaces the pools (the timeout is fixed per pool)', async () => {
  const a = await startUpstream('a');
  upstreams.push(a);
  const pools = new PoolSet({ connectTimeoutMs: 1000 });
  const first = pools.get(a.origin);
  pools.retain(new Set([a.origin]), 1000);
  assert.equal(pools.get(a.origin), first);
  pools.retain(new Set([a.origin]), 2000);
  assert.notEqual(pools.get(a.origin), first);
  await hit(pools, a.origin);
  await pools.close();
});
