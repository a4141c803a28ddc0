import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResponseDetail } from '../gateway/observer.js';
import { SlidingWindow } from '../rollout/window.js';
import { compile } from '../routing/index.js';
import { parseSpec } from '../spec/index.js';
import { knownLanes } from './lanes.js';
import { combineObservers } from './observers.js';
import { routesOf } from './overview.js';
import { OTHER_LANE, TrafficCounters } from './traffic.js';

const SPEC = parseSpec(
  `
services:
  web:
    versions:
      stable: [http://127.0.0.1:9001]
      beta: [http://127.0.0.1:9002]
  shadow:
    versions:
      stable: [http://127.0.0.1:9101]
      alpha: [http://127.0.0.1:9102]
      shadow: [http://127.0.0.1:9103]
routes:
  - name: trusted
    match: { host: trusted.test }
    service: web
    trustLane: true
  - name: main
    match: { host: shop.example.com, pathPrefix: /checkout }
    service: web
    rules:
      - { name: testers, lane: beta, header: { name: x-beta, equals: "1" } }
      - { lane: alpha, users: ["7", "12"], percent: 10 }
    canary:
      - { lane: beta, byHeader: x-canary, weight: 5 }
    split: { stable: 90, beta: 10 }
    mirror: { lane: shadow, percent: 5 }
`,
  'inline.yaml',
);

const detail = (route: string, lane: string, upstreamFailure: ResponseDetail['upstreamFailure'] = null): ResponseDetail => ({
  route: { name: route },
  lane,
  upstreamFailure,
});

test('requests are counted by route, version, lane and status class; latency and failures by version', () => {
  const snapshot = compile(SPEC);
  const c = new TrafficCounters({ knownLanes: () => knownLanes(snapshot) });
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
  const beta = c.versionSeries('web', 'beta');
  assert.equal(beta.requests, 3);
  assert.equal(beta.errors, 3);
  assert.equal(beta.upstreamErrors, 1);
  assert.equal(beta.upstreamTimeouts, 1);
  // 12 ms -> le 0.025; 40 ms -> le 0.05; 31 s -> +Inf.
  assert.deepEqual([...beta.latency], [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(c.requestsOf('web', 'stable'), 4);
  assert.equal(c.requestsOf('web', 'nope'), 0);
});

test('lanes the config does not name are counted as one label, however many a client makes up', () => {
  const snapshot = compile(SPEC);
  let asked = 0;
  const c = new TrafficCounters({
    knownLanes: () => {
      asked++;
      return knownLanes(snapshot);
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

test('known lanes: every version and lane the config and the rollout overlays name', () => {
  const lanes = knownLanes(compile(SPEC, { services: { web: { split: { stable: 80, green: 20 } } } }));
  assert.deepEqual([...lanes].sort(), ['alpha', 'beta', 'green', 'shadow', 'stable']);
});

test('combineObservers reports every request to each observer', () => {
  const window = new SlidingWindow({ clock: () => 5000 });
  const counters = new TrafficCounters();
  const both = combineObservers(window, counters);
  both.recordResponse('web', 'beta', 503, 2, detail('main', 'beta'));
  both.recordResponse('web', 'beta', 200, 2, detail('main', 'beta'));
  assert.equal(window.window('web', 'beta', 1000).requests, 2);
  assert.equal(window.window('web', 'beta', 1000).errors, 1);
  assert.equal(counters.versionSeries('web', 'beta').requests, 2);
});

test('routes are described in the words explain uses, rollout rules and split first', () => {
  const routes = routesOf(compile(SPEC, { services: { web: { split: { stable: 70, beta: 30 }, rules: [{ name: 'rollout-header', lane: 'beta', header: { name: 'x-canary-user', equals: 'yes' } }] } } }));
  const main = routes[1]!;
  assert.equal(main.match, 'host shop.example.com, path prefix /checkout');
  assert.deepEqual(main.rules, [
    { name: 'rollout-header', lane: 'beta', when: 'header x-canary-user equals "yes"', source: 'rollout' },
    { name: 'testers', lane: 'beta', when: 'header x-beta equals "1"', source: 'route' },
    { name: 'rules[1]', lane: 'alpha', when: 'user in list (2 ids) and percent 10 (bucket < 1000)', source: 'route' },
  ]);
  assert.deepEqual(main.canary, ['header x-canary "always" (or "never" to skip), else 5 of 100 requests -> lane beta']);
  assert.deepEqual(main.split, { weights: { stable: 70, beta: 30 }, source: 'rollout', sticky: false });
  assert.deepEqual(main.mirror, { lane: 'shadow', percent: 5 });
  assert.equal(routes[0]!.match, 'host trusted.test');
  assert.equal(routes[0]!.trustLane, true);
  // A rollout's split applies to every route of its service.
  assert.deepEqual(routes[0]!.split, { weights: { stable: 70, beta: 30 }, source: 'rollout', sticky: false });
  assert.equal(routesOf(compile(SPEC))[0]!.split, null);
});
