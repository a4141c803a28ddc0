import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrafficRecorder } from './recorder.js';

test('counts requests and errors (5xx and no response) per service and version within the window', () => {
  let now = 100_000;
  const w = new TrafficRecorder({ clock: () => now });
  w.record('a', 'beta', 200, 1, now - 30_000);
  w.record('a', 'beta', 503, 1, now - 20_000);
  w.record('a', 'beta', 0, 1, now - 10_000);
  w.record('a', 'beta', 404, 1, now);
  w.record('a', 'stable', 500, 1, now);
  w.record('b', 'beta', 500, 1, now);
  assert.deepEqual({ ...w.window('a', 'beta', 60_000), p50: 0, p90: 0, p99: 0 }, { requests: 4, errors: 2, p50: 0, p90: 0, p99: 0 });
  assert.equal(w.window('a', 'beta', 15_000).requests, 2, 'only the last 15 s');
  assert.equal(w.window('a', 'stable', 60_000).errors, 1);
  now += 59_000;
  assert.equal(w.window('a', 'beta', 60_000).requests, 1, 'older requests slide out');
  now += 1_000;
  assert.equal(w.window('a', 'beta', 60_000).requests, 0);
  now += 600_000;
  assert.equal(w.window('a', 'beta', 300_000).requests, 0, 'past the horizon everything is gone');
});

test('ring slots are reused: a slot from a previous lap starts from zero', () => {
  let now = 0;
  const w = new TrafficRecorder({ bucketMs: 1000, horizonMs: 10_000, clock: () => now });
  for (let t = 0; t < 50_000; t += 500) w.record('a', 'v', 200, 5, t);
  now = 49_999;
  assert.equal(w.window('a', 'v', 10_000).requests, 20);
  assert.equal(w.window('a', 'v', 999_999).requests, 20, 'a window longer than the horizon is cut to it');
});

test('percentiles come from the latency histogram within its bucket width', () => {
  const now = 10_000;
  const w = new TrafficRecorder({ clock: () => now });
  for (let i = 1; i <= 1000; i++) w.record('a', 'v', 200, i, now);
  const s = w.window('a', 'v', 60_000);
  for (const [got, want] of [[s.p50, 500], [s.p90, 900], [s.p99, 990]] as const) {
    assert.ok(Math.abs(got - want) / want < 0.08, `${got} ~ ${want}`);
  }
  const empty = w.window('a', 'nothing', 60_000);
  assert.ok(Number.isNaN(empty.p99));
  w.record('a', 'slow', 200, 10_000_000, now);
  assert.ok(w.window('a', 'slow', 60_000).p50 >= 500_000, 'very slow requests land in the last bucket');
});

test('a window with `since` counts nothing from before it: a bucket it shares with earlier traffic is left out whole', () => {
  let now = 100_500;
  const w = new TrafficRecorder({ bucketMs: 1000, clock: () => now });
  for (let i = 0; i < 5; i++) w.record('a', 'beta', 500, 1, 100_200); // the aborted attempt, 0.3 s before the retry
  const retry = 100_500;
  w.record('a', 'beta', 200, 1, 100_700); // the retry's first request shares that bucket
  assert.deepEqual([w.window('a', 'beta', 60_000).errors, w.window('a', 'beta', 60_000, retry).requests], [5, 0]);
  now = 101_500;
  for (let i = 0; i < 4; i++) w.record('a', 'beta', 200, 1, 101_100);
  const s = w.window('a', 'beta', 60_000, retry);
  assert.deepEqual([s.requests, s.errors], [4, 0], 'the next bucket counts');
  assert.equal(w.chanceSample('a', 'beta', 60_000, retry).requests, 0, 'the chance sample is cut the same way');

  // A bucket whose first request came after `since` is counted whole, the current one included.
  const w2 = new TrafficRecorder({ bucketMs: 1000, clock: () => 100_900 });
  for (let i = 0; i < 3; i++) w2.record('a', 'beta', 500, 1, 100_600);
  assert.deepEqual([w2.window('a', 'beta', 60_000, 100_500).errors, w2.window('a', 'beta', 60_000, 100_700).errors], [3, 0]);
  assert.equal(w2.window('a', 'beta', 60_000, 200_000).requests, 0, 'a `since` ahead of the clock: nothing');
});
