import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResponseDetail } from '../gateway/observer.js';
import { TrafficRecorder } from '../traffic/index.js';
import { countersBatch, WorkerTraffic } from './traffic.js';

const LANES: ReadonlySet<string> = new Set(['stable', 'beta']);
const detail = (lane: string): ResponseDetail => ({ route: { name: 'main' }, lane, assignment: 'chance', upstreamFailure: null });
const NO_EXTRA = { mirror: { sent: 0, dropped: 0, failed: 0 }, inFlight: 0, health: [] };

test('the primary sums its workers: batches replace each other, a restarted worker is a new run, an exited one stays counted', () => {
  let now = 1_000_000;
  const sum = new WorkerTraffic({ clock: () => now });
  const w1 = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  const w2 = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  for (let i = 0; i < 10; i++) w1.recordResponse('web', 'beta', i < 4 ? 500 : 200, 5, detail('beta'));
  for (let i = 0; i < 6; i++) w2.recordResponse('web', 'beta', 200, 50, detail('beta'));
  sum.add(1, countersBatch(w1, 'w1', NO_EXTRA));
  sum.add(2, countersBatch(w2, 'w2', { ...NO_EXTRA, mirror: { sent: 2, dropped: 1, failed: 0 }, inFlight: 3 }));
  // Cumulative batches: sending the same totals again counts nothing twice.
  now += 250;
  sum.add(1, countersBatch(w1, 'w1', NO_EXTRA));
  assert.equal(sum.requestsOf('web', 'beta'), 16);
  const series = [...sum.requestSeries()];
  assert.deepEqual(series.map((s) => [s.route, s.version, s.lane, [...s.byClass].join(',')]), [['main', 'beta', 'beta', '0,12,0,0,4']]);
  const v = [...sum.versions()][0]!;
  assert.deepEqual([v.requests, v.errors], [16, 4]);
  assert.equal(v.promBuckets.reduce((a, b) => a + b, 0), 16, 'the Prometheus histogram adds up over workers');
  assert.deepEqual(sum.mirror(), { sent: 2, dropped: 1, failed: 0 });
  assert.deepEqual([sum.window('web', 'beta', 60_000).requests, sum.window('web', 'beta', 60_000).errors], [16, 4], 'analysis sees both workers');

  // Worker 1 killed: what it sent stays; its replacement (a new recorder, a new start) adds to it.
  sum.exited(1);
  assert.equal(sum.requestsOf('web', 'beta'), 16, 'counters never go down when a worker exits');
  now += 1000;
  const w1b = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  w1b.recordResponse('web', 'beta', 503, 5, detail('beta'));
  sum.add(1, countersBatch(w1b, 'w1', NO_EXTRA));
  assert.equal(sum.requestsOf('web', 'beta'), 17);
  assert.equal([...sum.versions()][0]!.errors, 5);
  assert.deepEqual([sum.window('web', 'beta', 60_000).requests, sum.window('web', 'beta', 60_000).errors], [17, 5]);

  // The sum as clustered mode publishes it: one document, from the primary's start.
  const doc = sum.toDocument('primary');
  assert.equal(doc.startedAt, 1_000_000);
  assert.deepEqual([doc.versions.web!.beta!.requests, doc.versions.web!.beta!.errors], [17, 5]);
  assert.equal(doc.versions.web!.beta!.latency.reduce((a, [, n]) => a + n, 0), 17);
});

test('batches every 250 ms keep one sample per second, and windows still end at the newest batch', () => {
  let now = 0;
  const sum = new WorkerTraffic({ clock: () => now, horizonMs: 60_000 });
  const w = new TrafficRecorder({ clock: () => now });
  // 10 minutes of one request per 250 ms batch: without the grain that is 2400 samples.
  for (let i = 0; i < 2400; i++) {
    now += 250;
    w.record('web', 'beta', 200, 1, now);
    sum.add(1, countersBatch(w, 'w1', NO_EXTRA));
  }
  // The window ends at the newest batch; its start is the newest kept sample at or before now - 10 s,
  // at most one grain (1 s: 4 batches) earlier.
  const ten = sum.window('web', 'beta', 10_000).requests;
  assert.ok(ten >= 40 && ten <= 44, `10 s of 4 per second, to the newest batch, within a grain: ${ten}`);
  const minute = sum.window('web', 'beta', 60_000).requests;
  assert.ok(minute >= 240 && minute <= 244, `${minute}`);
  // The newest batch counts at once, though it is within a grain of the sample before it.
  now += 100;
  w.record('web', 'beta', 200, 1, now);
  sum.add(1, countersBatch(w, 'w1', NO_EXTRA));
  assert.equal(sum.window('web', 'beta', 600_000).requests, minute + 1);
});

test("builtin compare's sample is summed over workers, and travels on in the primary's document", () => {
  let now = 1_000_000;
  const sum = new WorkerTraffic({ clock: () => now });
  const w1 = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  const w2 = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  sum.add(1, countersBatch(w1, 'w1', NO_EXTRA));
  sum.add(2, countersBatch(w2, 'w2', NO_EXTRA));
  now += 1000;
  for (let i = 0; i < 6; i++) w1.recordResponse('web', 'beta', i === 0 ? 500 : 200, 5, detail('beta'));
  for (let i = 0; i < 3; i++) w1.recordResponse('web', 'beta', 500, 5, { ...detail('beta'), assignment: 'targeted' });
  for (let i = 0; i < 4; i++) w2.recordResponse('web', 'beta', 200, 5, detail('beta'));
  sum.add(1, countersBatch(w1, 'w1', NO_EXTRA));
  sum.add(2, countersBatch(w2, 'w2', NO_EXTRA));
  const s = sum.chanceSample('web', 'beta', 60_000);
  assert.deepEqual([s.requests, s.errors], [10, 1]);
  assert.deepEqual([sum.window('web', 'beta', 60_000).requests, sum.window('web', 'beta', 60_000).errors], [13, 4]);
  const doc = sum.toDocument('gw').versions.web!.beta!;
  assert.deepEqual([doc.requests, doc.chance?.requests, doc.chance?.errors], [13, 10, 1]);
});
