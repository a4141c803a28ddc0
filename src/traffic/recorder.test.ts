import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResponseDetail } from '../gateway/observer.js';
import { OTHER_LANE, TrafficRecorder } from './recorder.js';
import { latencyBucket } from './latency.js';
import { SampledTotals } from './document.js';

/** The lanes a config names (src/metrics/lanes.ts computes them from a snapshot). */
const LANES: ReadonlySet<string> = new Set(['stable', 'beta', 'alpha', 'shadow']);

const detail = (
  route: string,
  lane: string,
  upstreamFailure: ResponseDetail['upstreamFailure'] = null,
  assignment: ResponseDetail['assignment'] = 'chance',
): ResponseDetail => ({
  route: { name: route },
  lane,
  assignment,
  upstreamFailure,
});


test('requests are counted by route, version, lane and status class; latency and failures by version', () => {
  const c = new TrafficRecorder({ knownLanes: () => LANES });
  c.recordResponse('web', 'stable', 200, 3, detail('main', 'stable'));
  c.recordResponse('web', 'stable', 204, 0.5, detail('main', 'stable'));
  c.recordResponse('web', 'stable', 404, 2, detail('main', 'stable'));
  c.recordResponse('web', 'beta', 500, 12, detail('main', 'beta'));
  c.recordResponse('web', 'beta', 502, 40, detail('main', 'beta', 'bad_gateway'));
  c.recordResponse('web', 'beta', 504, 31_000, detail('main', 'beta', 'upstream_timeout'));
  c.recordResponse('web', 'stable', 499, 1, detail('trusted', 'stable'));

  const series = [...c.requestSeries()].map((s) => [s.route, s.version, s.lane, [...s.byClass].join(',')]);
  assert.deepEqual(series, [
    ['main', 'stable', 'stable', '0,2,0,1,0'],
    ['main', 'beta', 'beta', '0,0,0,0,3'],
    ['trusted', 'stable', 'stable', '0,0,0,1,0'],
  ]);
  const beta = c.versionTraffic('web', 'beta');
  assert.equal(beta.requests, 3);
  assert.equal(beta.errors, 3);
  assert.equal(beta.upstreamErrors, 1);
  assert.equal(beta.upstreamTimeouts, 1);
  // 12 ms -> le 0.025; 40 ms -> le 0.05; 31 s -> +Inf.
  assert.deepEqual([...beta.promBuckets], [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(c.requestsOf('web', 'stable'), 4);
  assert.equal(c.requestsOf('web', 'nope'), 0);
});

test('lanes the config does not name are counted as one label, however many a client makes up', () => {
  let asked = 0;
  const c = new TrafficRecorder({
    knownLanes: () => {
      asked++;
      return LANES;
    },
  });
  for (let i = 0; i < 1000; i++) c.recordResponse('web', 'stable', 200, 1, detail('trusted', `user-${i}`));
  c.recordResponse('web', 'beta', 200, 1, detail('trusted', 'beta'));
  c.recordResponse('web', 'beta', 200, 1, detail('trusted', 'beta'));
  const series = [...c.requestSeries()];
  assert.deepEqual(
    series.map((s) => [s.lane, s.byClass[1]]),
    [
      [OTHER_LANE, 1000],
      ['beta', 2],
    ],
  );
  // A known lane is looked up in the config once, then served from its own series.
  assert.equal(asked, 1001);
});

test('requests alternating between versions, routes and lanes each land in their own series; a lane that becomes known gets its own', () => {
  const known = new Set(['stable', 'beta']);
  const c = new TrafficRecorder({ knownLanes: () => known });
  const plan: [string, string, string][] = [];
  for (let i = 0; i < 60; i++) {
    // Runs of the same answer and changes of one key at a time: what the last-answer cache sees.
    const version = i % 7 < 4 ? 'stable' : 'canary';
    const route = i % 11 < 8 ? 'main' : 'other';
    const lane = i % 5 === 0 ? 'beta' : 'stable';
    plan.push([route, version, lane]);
    c.recordResponse(i % 13 === 0 ? 'api' : 'web', version, 200, 1, detail(route, lane));
  }
  const expected = new Map<string, number>();
  for (const [route, version, lane] of plan) expected.set(`${route} ${version} ${lane}`, (expected.get(`${route} ${version} ${lane}`) ?? 0) + 1);
  const got = new Map([...c.requestSeries()].map((s) => [`${s.route} ${s.version} ${s.lane}`, s.byClass[1]]));
  assert.deepEqual(got, expected);
  assert.equal(c.requestsOf('api', 'stable') + c.requestsOf('api', 'canary'), plan.filter((_, i) => i % 13 === 0).length);

  // An unknown lane is counted as other, twice in a row; once the config names it (a reload), its own.
  c.recordResponse('web', 'stable', 200, 1, detail('main', 'gamma'));
  c.recordResponse('web', 'stable', 200, 1, detail('main', 'gamma'));
  known.add('gamma');
  c.recordResponse('web', 'stable', 200, 1, detail('main', 'gamma'));
  const lanes = new Map([...c.requestSeries()].filter((s) => s.route === 'main' && s.version === 'stable').map((s) => [s.lane, s.byClass[1]]));
  assert.equal(lanes.get(OTHER_LANE), 2);
  assert.equal(lanes.get('gamma'), 1);
});

test('one count feeds every reader: the window, the Prometheus series and the published totals', () => {
  let now = 1_000_000;
  const a = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  const b = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  const ms = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89];
  for (let i = 0; i < ms.length; i++) {
    a.recordResponse('web', 'beta', i < 3 ? 503 : 200, ms[i]!, detail('main', 'beta'));
    b.recordResponse('web', 'beta', 200, ms[i]! * 10, detail('main', 'beta'));
  }
  assert.equal(a.recorded, 10);
  const own = a.window('web', 'beta', 60_000);
  assert.deepEqual([own.requests, own.errors], [10, 3]);
  assert.equal(a.versionTraffic('web', 'beta').promBuckets.reduce((x, y) => x + y, 0), 10);
  assert.equal([...a.requestSeries()][0]!.byClass[4], 3);

  // A reader of both documents, taken now and 30 s later with nothing new, sees what each window sees.
  const sum = new SampledTotals(300_000, () => now);
  sum.add('a', a.toDocument('a'));
  sum.add('b', b.toDocument('b'));
  now += 30_000;
  sum.add('a', a.toDocument('a'));
  sum.add('b', b.toDocument('b'));
  const both = sum.window('web', 'beta', 60_000);
  const theirs = b.window('web', 'beta', 60_000);
  assert.deepEqual([both.requests, both.errors], [20, 3]);
  assert.equal(both.p99, theirs.p99, 'the same fine histogram on both sides: percentiles agree to the bucket');
  assert.equal(sum.window('web', 'beta', 10_000).requests, 0, 'nothing was counted in the last 10 s');
  assert.equal(sum.live, 2);
});

test('a window of published totals with `since` starts at each source\'s last document at or before it', () => {
  let now = 1_000_000;
  const a = new TrafficRecorder({ clock: () => now });
  const sum = new SampledTotals(300_000, () => now);
  for (let i = 0; i < 5; i++) a.recordResponse('web', 'beta', 503, 1, detail('main', 'beta'));
  sum.add('a', a.toDocument('a'));
  const since = now + 500;
  now += 1000;
  for (let i = 0; i < 3; i++) a.recordResponse('web', 'beta', 200, 1, detail('main', 'beta'));
  sum.add('a', a.toDocument('a'));
  now += 1000;
  const w = sum.window('web', 'beta', 60_000, since);
  assert.deepEqual([w.requests, w.errors], [3, 0]);
  assert.deepEqual([sum.window('web', 'beta', 60_000).errors, sum.chanceSample('web', 'beta', 60_000, since).errors], [5, 0]);
  const later = new SampledTotals(300_000, () => now);
  later.add('a', a.toDocument('a'));
  assert.equal(later.window('web', 'beta', 60_000, since).requests, 8, 'a reader with no document from before `since` counts a source started in the window from its start');
});

test('the chance sample counts only requests marking drew at random, over the same window, with their latencies', () => {
  let now = 100_000;
  const r = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  r.record('a', 'beta', 200, 10, now - 30_000, detail('main', 'beta', null, 'chance'));
  r.record('a', 'beta', 503, 300, now - 20_000, detail('main', 'beta', null, 'targeted'));
  r.record('a', 'beta', 502, 50, now, detail('main', 'beta', null, 'chance'));
  r.record('a', 'beta', 200, 1, now, null);
  const s = r.chanceSample('a', 'beta', 60_000);
  assert.equal(s.requests, 2, 'the targeted request and the one without detail are left out');
  assert.equal(s.errors, 1);
  assert.equal(s.histogram.reduce((a, b) => a + b, 0), 2);
  assert.equal(s.histogram[latencyBucket(10)], 1);
  assert.equal(s.histogram[latencyBucket(50)], 1);
  assert.equal(r.window('a', 'beta', 60_000).requests, 4, 'the ordinary window still counts all of them');
  assert.equal(r.chanceSample('a', 'beta', 15_000).requests, 1, 'only the last 15 s');
  assert.equal(r.chanceSample('a', 'nope', 60_000).requests, 0);
  now += 61_000;
  assert.equal(r.chanceSample('a', 'beta', 60_000).requests, 0, 'slides out like the window');
});

test('a weighted outcome counts as `count` requests alike, in one step: totals, latency, window, route series', () => {
  let now = 5_000_000;
  const weighted = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  const one = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  weighted.recordResponses('web', 'beta', 503, 20, detail('main', 'beta', null, 'targeted'), 1000);
  weighted.recordResponses('web', 'beta', 200, 4, detail('main', 'beta', null, 'targeted'), 7);
  for (let i = 0; i < 1000; i++) one.recordResponse('web', 'beta', 503, 20, detail('main', 'beta', null, 'targeted'));
  for (let i = 0; i < 7; i++) one.recordResponse('web', 'beta', 200, 4, detail('main', 'beta', null, 'targeted'));
  now += 10;
  const [w, o] = [[...weighted.versions()][0]!, [...one.versions()][0]!];
  assert.deepEqual([w.requests, w.errors, [...w.promBuckets], [...w.histogram]], [o.requests, o.errors, [...o.promBuckets], [...o.histogram]]);
  assert.equal(w.requests, 1007);
  assert.ok(Math.abs(w.latencySumSeconds - o.latencySumSeconds) < 1e-9);
  assert.deepEqual(weighted.window('web', 'beta', 60_000), one.window('web', 'beta', 60_000));
  assert.deepEqual([...weighted.requestSeries()].map((s) => [...s.byClass]), [[0, 7, 0, 0, 1000]]);
  assert.equal(weighted.recorded, 1007);
});

test('the chance totals travel in the document: summed over sources, targeted requests left out, old writers without them add nothing', () => {
  let now = 100_000;
  const a = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  const b = new TrafficRecorder({ knownLanes: () => LANES, clock: () => now });
  const sum = new SampledTotals(300_000, () => now);
  sum.add('a', a.toDocument('a'));
  sum.add('b', b.toDocument('b'));
  now += 1000;
  for (let i = 0; i < 10; i++) a.recordResponse('web', 'beta', i < 2 ? 500 : 200, 10, detail('main', 'beta', null, 'chance'));
  for (let i = 0; i < 5; i++) a.recordResponse('web', 'beta', 500, 900, detail('main', 'beta', null, 'targeted'));
  for (let i = 0; i < 4; i++) b.recordResponse('web', 'beta', 200, 10, detail('main', 'beta', null, 'chance'));
  const doc = a.toDocument('a');
  assert.equal(doc.versions.web!.beta!.requests, 15);
  assert.deepEqual([doc.versions.web!.beta!.chance!.requests, doc.versions.web!.beta!.chance!.errors], [10, 2]);
  sum.add('a', doc);
  sum.add('b', b.toDocument('b'));
  // A writer of an older graylane: totals, no chance totals.
  const old = b.toDocument('old');
  delete old.versions.web!.beta!.chance;
  sum.add('old', { ...old, startedAt: now - 500 });
  const s = sum.chanceSample('web', 'beta', 60_000);
  assert.deepEqual([s.requests, s.errors], [14, 2]);
  assert.equal(s.histogram.reduce((x, y) => x + y, 0), 14, 'their latencies, none of the targeted 900 ms');
  assert.deepEqual(s.histogram, a.chanceSample('web', 'beta', 60_000).histogram.map((n, i) => n + b.chanceSample('web', 'beta', 60_000).histogram[i]!));
  assert.equal(sum.window('web', 'beta', 60_000).requests, 15 + 4 + 4, 'the window counts every request');
  assert.equal(sum.chanceSample('web', 'stable', 60_000).requests, 0);
});
