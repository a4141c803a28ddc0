import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from './compile.js';
import { dispatch } from './dispatch.js';
import { explain } from './explain.js';
import { allUp, ctx, down, req, route, spec } from './test-fixtures.js';

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
