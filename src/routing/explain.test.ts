import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from './compile.js';
import { dispatch } from './dispatch.js';
import { explain } from './explain.js';
import { bucketOf } from './hash.js';
import { allUp, ctx, down, req, route, spec } from '../../test/support/routing.js';

const theSpec = () =>
  spec({
    laneAliases: ['x-mse-tag'],
    routes: [
      route({
        name: 'prod',
        match: { host: 'prod.example.com' },
        rules: [
          { name: 'staff', lane: 'alpha1', users: ['1001'], headers: { set: { 'x-staff': '1' } } },
          { lane: 'beta', path: { contains: '/new-checkout' } },
        ],
        split: { stable: 3, beta: 1 },
        mirror: { lane: 'beta', percent: 5 },
      }),
      route({ name: 'anon', match: { host: 'anon.example.com' }, visitorCookie: { name: 'v', maxAgeMs: 1 }, rules: [{ lane: 'beta', percent: 50 }] }),
    ],
  });

test('explain: the route, rule, lane, version, endpoint and why', () => {
  const snap = compile(theSpec());
  assert.deepEqual(explain(snap, req({ 'x-user-id': '1001' }), allUp, ctx()), {
    route: 'prod',
    service: 'svc',
    lane: 'alpha1',
    by: 'staff',
    reason: 'rule staff matched: user in list (1 id) -> lane alpha1',
    version: 'stable',
    endpoint: 'http://127.0.0.1:9001',
    fellBack: true,
    dispatchReason: 'the service has no version for this lane: fallback served',
    headers: { set: { 'x-staff': '1' } },
    mirror: { lane: 'beta', percent: 5 },
    checks: [{ step: 'staff', lane: 'alpha1', matched: true, checks: [{ condition: 'user in list (1 id)', holds: true }] }],
  });
});

test('explain gives the same answer as mark + dispatch on the same snapshot state', () => {
  const viaExplain = compile(theSpec());
  const direct = compile(theSpec());
  const health = down('http://127.0.0.1:9101');
  for (let i = 0; i < 12; i++) {
    const r = req({ 'x-user-id': `u${i}` }, i % 3 === 0 ? '/new-checkout' : '/');
    const e = explain(viaExplain, r, health, ctx());
    const route = direct.matchRoute(r.host, r.path)!;
    const m = route.mark(r, ctx());
    const d = dispatch(route.service, m.lane, health);
    assert.deepEqual([e.lane, e.by, e.reason, e.version, e.endpoint, e.fellBack, e.dispatchReason], [m.lane, m.by, m.reason, d.version, d.endpoint?.url, d.fellBack, d.reason]);
  }
});

test('explain: no route matches', () => {
  const e = explain(compile(theSpec()), req({}, '/x', '', 'nowhere.example.com'), allUp, ctx());
  assert.equal(e.route, null);
  assert.equal(e.lane, null);
  assert.equal(e.reason, 'no route matches host nowhere.example.com and path /x (404)');
});

test('explain reports lane headers an untrusted route ignores, and a visitor id it would set', () => {
  const snap = compile(theSpec());
  const e = explain(snap, req({ 'x-gray-lane': 'beta', 'x-mse-tag': 'beta', baggage: 'graylane-lane=beta' }), allUp, ctx());
  assert.deepEqual(e.ignoredLaneHeaders, ['x-gray-lane', 'x-mse-tag', 'baggage (graylane-lane)']);
  assert.notEqual(e.lane, 'beta');
  const anon = explain(snap, req({}, '/', '', 'anon.example.com'), allUp, ctx());
  assert.equal(anon.setVisitorId, 'visitor-1');
});

const versionSpec = () =>
  spec({
    routes: [
      route({
        name: 'app',
        salt: 'app-salt',
        rules: [
          {
            name: 'ios-new',
            lane: 'alpha',
            header: { name: 'x-platform', equals: 'ios' },
            appVersion: { from: { kind: 'header', name: 'user-agent' }, pattern: 'MyApp/([0-9.]+)', range: '>=2.3' },
          },
          { name: 'new-app', lane: 'beta', appVersion: { from: { kind: 'header', name: 'x-app-version' }, range: '>=2.3.0' } },
          { name: 'ten', lane: 'beta', percent: 10 },
        ],
        canary: [{ lane: 'alpha', byHeader: 'x-canary', weight: 20 }],
        split: { stable: 1, beta: 1 },
        stickySplit: true,
      }),
    ],
  });

test('explain shows the app version read, the version parsed from it or why none, and the comparison', () => {
  const snap = compile(versionSpec());
  const e = explain(snap, req({ 'x-platform': 'ios', 'user-agent': 'MyApp/2.4 (iPhone; iOS 17.2)', 'x-app-version': '2.4.0.1234' }), allUp, ctx());
  assert.equal(e.lane, 'alpha');
  assert.deepEqual(e.checks, [
    {
      step: 'ios-new',
      lane: 'alpha',
      matched: true,
      checks: [
        { condition: 'header x-platform equals "ios"', holds: true },
        { condition: 'app version (header user-agent ~ /MyApp/([0-9.]+)/) >=2.3', holds: true, value: 'MyApp/2.4 (iPhone; iOS 17.2)', version: '2.4.0', detail: 'read "MyApp/2.4 (iPhone; iOS 17.2)": version 2.4.0 satisfies >=2.3' },
      ],
    },
  ]);

  const old = explain(snap, req({ 'x-platform': 'ios', 'user-agent': 'Mozilla/5.0', 'x-app-version': 'latest', 'x-user-id': 'u1' }), allUp, ctx());
  const [ios, app] = old.checks!;
  assert.deepEqual(ios!.checks[1], {
    condition: 'app version (header user-agent ~ /MyApp/([0-9.]+)/) >=2.3',
    holds: false,
    value: 'Mozilla/5.0',
    problem: '/MyApp/([0-9.]+)/ finds no version in it',
    detail: 'read "Mozilla/5.0": /MyApp/([0-9.]+)/ finds no version in it',
  });
  assert.deepEqual(app!.checks, [
    { condition: 'app version (header x-app-version) >=2.3.0', holds: false, value: 'latest', problem: 'not a version: expected a number at character 1', detail: 'read "latest": not a version: expected a number at character 1' },
  ]);

  const absent = explain(snap, req({ 'x-user-id': 'u1' }), allUp, ctx());
  assert.deepEqual(absent.checks![1]!.checks, [{ condition: 'app version (header x-app-version) >=2.3.0', holds: false, value: null, problem: 'no header x-app-version', detail: 'no header x-app-version' }]);

  const beta = explain(snap, req({ 'x-app-version': 'v2.4.0-beta.1+77', 'x-user-id': 'u1' }), allUp, ctx());
  assert.equal(beta.checks![1]!.checks[0]!.detail, 'read "v2.4.0-beta.1+77": version 2.4.0 (tag -beta.1 ignored) satisfies >=2.3.0');

  const below = explain(snap, req({ 'x-app-version': '2.2.9.9999', 'x-user-id': 'u1' }), allUp, ctx());
  assert.deepEqual(below.checks![1]!.checks, [{ condition: 'app version (header x-app-version) >=2.3.0', holds: false, value: '2.2.9.9999', version: '2.2.9.9999', detail: 'read "2.2.9.9999": version 2.2.9.9999 does not satisfy >=2.3.0' }]);
});

test('explain shows the percent bucket of the user and each threshold it was compared with', () => {
  const snap = compile(versionSpec());
  // Find users on either side of the 10% and 20% thresholds, by the documented hash.
  const ids = Array.from({ length: 400 }, (_, i) => `user-${i}`);
  const inTen = ids.find((id) => bucketOf('app-salt', id) < 1000)!;
  const inCanary = ids.find((id) => bucketOf('app-salt', id) >= 1000 && bucketOf('app-salt', id) < 2000)!;
  const outside = ids.find((id) => bucketOf('app-salt', id) >= 5000)!;

  const a = explain(snap, req({ 'x-user-id': inTen }), allUp, ctx());
  assert.equal(a.lane, 'beta');
  assert.deepEqual(a.bucket, { value: bucketOf('app-salt', inTen), from: `identity ${JSON.stringify(inTen)}` });
  assert.deepEqual(a.checks!.at(-1), {
    step: 'ten',
    lane: 'beta',
    matched: true,
    checks: [{ condition: 'percent 10 (bucket < 1000)', holds: true, bucket: bucketOf('app-salt', inTen), threshold: 1000, detail: `bucket ${bucketOf('app-salt', inTen)} < 1000: in` }],
  });

  const b = explain(snap, req({ 'x-user-id': inCanary }), allUp, ctx());
  assert.equal(b.lane, 'alpha');
  assert.deepEqual(b.checks!.slice(2), [
    { step: 'ten', lane: 'beta', matched: false, checks: [{ condition: 'percent 10 (bucket < 1000)', holds: false, bucket: bucketOf('app-salt', inCanary), threshold: 1000, detail: `bucket ${bucketOf('app-salt', inCanary)} >= 1000: out` }] },
    {
      step: 'canary[0]',
      lane: 'alpha',
      matched: true,
      checks: [
        { condition: 'header x-canary is "always"', holds: false, detail: 'absent' },
        { condition: 'weight 20/100 (bucket < 2000)', holds: true, bucket: bucketOf('app-salt', inCanary), threshold: 2000, detail: `bucket ${bucketOf('app-salt', inCanary)} < 2000: in` },
      ],
    },
  ]);

  const c = explain(snap, req({ 'x-user-id': outside }), allUp, ctx());
  const split = c.checks!.at(-1)!;
  assert.equal(split.step, 'split');
  assert.equal(split.checks[0]!.bucket, bucketOf('app-salt', outside));
  assert.match(split.checks[0]!.condition, /sticky split stable:1 beta:1 \(buckets 5000..9999\) -> lane stable/);

  // An anonymous visitor: the bucket of the visitor id the gateway would set.
  const anon = explain(snap, req({}), allUp, ctx());
  assert.equal(anon.bucket!.from, 'random (no identity, no visitor cookie)');
});

test('explain with a trace marks exactly as mark without one', () => {
  const viaExplain = compile(versionSpec());
  const direct = compile(versionSpec());
  const versions = ['2.4', '2.2', 'v3.0.0-beta.1', 'latest', '', '2.3.0.1'];
  for (let i = 0; i < 60; i++) {
    const headers = { 'x-user-id': `u${i}`, 'x-app-version': versions[i % versions.length]!, 'x-platform': i % 4 === 0 ? 'ios' : 'android', 'user-agent': `MyApp/2.${i % 5}` };
    const r = req(headers);
    const e = explain(viaExplain, r, allUp, ctx());
    const m = direct.matchRoute(r.host, r.path)!.mark(r, ctx());
    assert.deepEqual([e.lane, e.by, e.reason], [m.lane, m.by, m.reason], JSON.stringify(headers));
  }
});
