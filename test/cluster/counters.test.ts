import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResponseDetail } from '../../src/gateway/observer.js';
import { publishCounters, watchClusterMetrics } from '../../src/cluster/counters.js';
import { TrafficRecorder } from '../../src/traffic/index.js';
import { startTcpProxy } from '../support/etcd.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { Connections, etcdForFile, freshPrefix } from './helpers.js';
import { until } from '../support/wait.js';

const etcd = etcdForFile();

const DETAIL: ResponseDetail = { route: { name: 'main' }, lane: 'stable', assignment: 'chance', upstreamFailure: null };

/** Records the same responses into several recorders: gateways publishing, and one local reference. */
function record(targets: TrafficRecorder[], service: string, version: string, n: number, status: number, ms: number): void {
  for (let i = 0; i < n; i++) for (const t of targets) t.recordResponse(service, version, status, ms + i * 0.5, DETAIL);
}

test('counters: two gateways publish, the controller sums them; percentiles match a single window fed the same traffic', async () => {
  const server = await etcd();
  const conns = new Connections();
  const prefix = freshPrefix();
  try {
    const metrics = watchClusterMetrics(conns.open(server.endpoint, prefix));
    await metrics.ready();
    const reference = new TrafficRecorder();
    const g1 = new TrafficRecorder();
    const g2 = new TrafficRecorder();
    const p1 = publishCounters(conns.open(server.endpoint, prefix), g1, { gatewayId: 'g1', intervalMs: 100 });
    const p2 = publishCounters(conns.open(server.endpoint, prefix), g2, { gatewayId: 'g2', intervalMs: 100 });

    record([g1, reference], 'whoami', 'beta', 10, 200, 5);
    record([g1, reference], 'whoami', 'beta', 2, 503, 7);
    record([g2, reference], 'whoami', 'beta', 30, 200, 50);
    record([g2, reference], 'whoami', 'beta', 1, 0, 900);
    record([g2, reference], 'whoami', 'stable', 5, 200, 3);

    await until('both gateways summed', () => metrics.window('whoami', 'beta', 60_000).requests === 43);
    assert.deepEqual(metrics.window('whoami', 'beta', 60_000), reference.window('whoami', 'beta', 60_000));
    assert.deepEqual(metrics.window('whoami', 'stable', 60_000), reference.window('whoami', 'stable', 60_000));
    assert.equal(metrics.window('whoami', 'beta', 60_000).errors, 3);
    assert.equal(metrics.gateways, 2);
    const none = metrics.window('whoami', 'alpha', 60_000);
    assert.equal(none.requests, 0);
    assert.ok(Number.isNaN(none.p50));

    // A gateway shutting down withdraws its key; what it served still counts in the window.
    await p2.close();
    await until('g2 gone', () => metrics.gateways === 1);
    assert.equal(metrics.window('whoami', 'beta', 60_000).requests, 43);
    record([g1], 'whoami', 'beta', 7, 200, 5);
    await until('g1 goes on', () => metrics.window('whoami', 'beta', 60_000).requests === 50);
    await p1.close();
    await metrics.close();
  } finally {
    conns.closeAll();
  }
});

test('counters: a window is latest minus the sample from that long ago, per gateway', async () => {
  const server = await etcd();
  const conns = new Connections();
  const prefix = freshPrefix();
  let now = 1_000_000;
  const clock = (): number => now;
  try {
    const metrics = watchClusterMetrics(conns.open(server.endpoint, prefix), { clock });
    await metrics.ready();
    const totals = new TrafficRecorder({ clock }); // started at t = 1,000,000
    const pub = publishCounters(conns.open(server.endpoint, prefix), totals, { gatewayId: 'g', intervalMs: 0 });

    now += 10_000;
    record([totals], 'svc', 'beta', 10, 200, 5);
    await pub.flush(); // sample at +10 s: 10 requests
    await until('first sample', () => metrics.window('svc', 'beta', 300_000).requests === 10);
    now += 60_000;
    record([totals], 'svc', 'beta', 4, 500, 5);
    await pub.flush(); // sample at +70 s: 14 requests
    await until('second sample', () => metrics.window('svc', 'beta', 300_000).requests === 14);

    now += 1_000; // the controller asks at +71 s
    assert.equal(metrics.window('svc', 'beta', 60_000).requests, 4, 'since the sample at +10 s');
    assert.equal(metrics.window('svc', 'beta', 60_000).errors, 4);
    assert.equal(metrics.window('svc', 'beta', 120_000).requests, 14, 'the gateway started inside the window: from zero');
    now += 120_000;
    assert.equal(metrics.window('svc', 'beta', 60_000).requests, 0, 'nothing new in the last minute');
    await pub.close();
    await metrics.close();
  } finally {
    conns.closeAll();
  }
});

test('counters: with etcd out of reach the controller says so instead of reporting zero traffic', async () => {
  const server = await etcd();
  const proxy = await startTcpProxy(server.endpoint);
  const conns = new Connections();
  const prefix = freshPrefix();
  try {
    const metrics = watchClusterMetrics(conns.open(proxy.endpoint, prefix), { staleAfterMs: 200 });
    await metrics.ready();
    assert.equal(metrics.window('svc', 'beta', 60_000).requests, 0);
    proxy.cut();
    await until('the stale error', () => {
      try {
        metrics.window('svc', 'beta', 60_000);
        return false;
      } catch (e) {
        return e instanceof StoreUnavailableError;
      }
    });
    proxy.restore();
    await until('current again', () => {
      try {
        return metrics.window('svc', 'beta', 60_000).requests === 0;
      } catch {
        return false;
      }
    });
    await metrics.close();
  } finally {
    conns.closeAll();
    await proxy.close();
  }
});
