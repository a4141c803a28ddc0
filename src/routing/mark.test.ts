import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NginxCanary, RouteSpec } from '../spec/types.js';
import { compile } from './compile.js';
import { bucketOf } from './hash.js';
import type { CompiledRoute, MarkContext, RequestView, Status } from './types.js';
import { ctx, req, route, spec } from '../../test/support/routing.js';

/** The compiled route of a one-route spec. */
function only(r: Partial<RouteSpec>, status?: Status, laneAliases: string[] = []): CompiledRoute {
  return compile(spec({ routes: [route(r)], laneAliases }), status).routes[0]!;
}

function lanes(r: CompiledRoute, n: number, request: RequestView = req(), c: MarkContext = ctx()): string[] {
  return Array.from({ length: n }, () => r.mark(request, c).lane);
}

const users = (n: number) => Array.from({ length: n }, (_, i) => `user-${i + 1}`);

// ---- 1. trusted lanes ---------------------------------------------------------------------------

test('trusted: the lane header, then alias headers, then baggage', () => {
  const r = only({ trustLane: true }, undefined, ['X-MSE-Tag', 'x-opensergo-traffic']);
  const c = ctx();
  assert.deepEqual(r.mark(req({ 'x-gray-lane': 'beta', 'x-mse-tag': 'alpha' }), c), {
    lane: 'beta',
    assignment: 'targeted',
    by: 'trusted',
    reason: 'trusted lane from lane header x-gray-lane',
  });
  const alias = r.mark(req({ 'x-mse-tag': 'alpha', baggage: 'graylane-lane=beta' }), c);
  assert.equal(alias.lane, 'alpha');
  assert.equal(alias.reason, 'trusted lane from alias header x-mse-tag');
  assert.equal(r.mark(req({ 'x-opensergo-traffic': 'gray' }), c).lane, 'gray');
  const bag = r.mark(req({ baggage: 'foo=1,graylane-lane=beta;prop=x' }), c);
  assert.equal(bag.lane, 'beta');
  assert.equal(bag.by, 'trusted');
  assert.equal(bag.reason, 'trusted lane from baggage member graylane-lane');
});

test('trusted: values are trimmed, the first of a joined list is taken, empty ones ignored', () => {
  const r = only({ trustLane: true, split: { stable: 1 } });
  assert.equal(r.mark(req({ 'x-gray-lane': '  beta ' }), ctx()).lane, 'beta');
  assert.equal(r.mark(req({ 'x-gray-lane': 'alpha, beta' }), ctx()).lane, 'alpha');
  assert.equal(r.mark(req({ 'x-gray-lane': ' ', baggage: 'graylane-lane=alpha' }), ctx()).lane, 'alpha');
  assert.equal(r.mark(req({ 'x-gray-lane': 'x'.repeat(200) }), ctx()).by, 'split');
});

test('untrusted routes ignore the lane header, aliases and baggage', () => {
  const r = only({ trustLane: false }, undefined, ['x-mse-tag']);
  const m = r.mark(req({ 'x-gray-lane': 'beta', 'x-mse-tag': 'beta', baggage: 'graylane-lane=beta' }), ctx());
  assert.equal(m.lane, 'stable');
  assert.equal(m.by, 'default');
});

test('a trusted lane wins over a pinned lane; a pinned lane wins over rules', () => {
  const r = only({ trustLane: true, lane: 'alpha1', rules: [{ lane: 'beta', percent: 100 }] });
  assert.equal(r.mark(req({ 'x-gray-lane': 'beta' }), ctx()).by, 'trusted');
  const pinned = r.mark(req(), ctx());
  assert.deepEqual(pinned, { lane: 'alpha1', assignment: 'targeted', by: 'pinned', reason: 'route pins lane alpha1' });
});

// ---- 3. rules -----------------------------------------------------------------------------------

test('rules: first match wins, in declared order; a lane the service lacks still marks', () => {
  const r = only({
    rules: [
      { lane: 'alpha', users: ['1001'] },
      { lane: 'beta', path: { contains: '/new' } },
      { lane: 'feature-x', header: { name: 'x-feature', equals: 'x' } },
    ],
  });
  const m = (h: Record<string, string>, p = '/') => r.mark(req(h, p), ctx());
  assert.equal(m({ 'x-user-id': '1001' }, '/new').by, 'rules[0]');
  assert.equal(m({ 'x-user-id': '1002' }, '/new').by, 'rules[1]');
  assert.equal(m({ 'x-feature': 'x' }).lane, 'feature-x');
  assert.equal(m({}).by, 'default');
});

test('overlay rules run before the route rules and are named rollout.rules[i]', () => {
  const status: Status = {
    services: { svc: { rules: [{ lane: 'beta', header: { name: 'x-rollout', equals: '1' } }] } },
  };
  const r = only({ rules: [{ lane: 'alpha', header: { name: 'x-rollout', present: true } }] }, status);
  const m = r.mark(req({ 'x-rollout': '1' }), ctx());
  assert.equal(m.lane, 'beta');
  assert.equal(m.by, 'rollout.rules[0]');
  assert.equal(r.mark(req({ 'x-rollout': '2' }), ctx()).by, 'rules[0]');
});

test('the traefik-plugin design: users -> alpha, app version -> beta, percent, keyword', () => {
  const r = only({
    rules: [
      { lane: 'alpha', users: ['1001', '1002'] },
      { lane: 'beta', appVersion: { from: { kind: 'header', name: 'x-app-version' }, range: '>=2.3.0' } },
      { lane: 'beta', path: { contains: '/new-checkout' } },
      { lane: 'alpha1', percent: 10 },
    ],
  });
  assert.equal(r.mark(req({ 'x-user-id': '1002', 'x-app-version': '3.0.0' }), ctx()).lane, 'alpha');
  assert.equal(r.mark(req({ 'x-user-id': '7', 'x-app-version': '2.3.1' }), ctx()).lane, 'beta');
  assert.equal(r.mark(req({ 'x-user-id': '7' }, '/new-checkout'), ctx()).lane, 'beta');
  const sticky = users(2000).filter((id) => bucketOf('salt-1', id) < 1000);
  for (const id of sticky.slice(0, 50)) assert.equal(r.mark(req({ 'x-user-id': id }), ctx()).lane, 'alpha1', id);
});

test('rings: alpha 1% and beta 10% on one route nest (alpha users are inside the 10%)', () => {
  const ring = only({ rules: [{ lane: 'alpha', percent: 1 }, { lane: 'beta', percent: 10 }] });
  const betaAlone = only({ rules: [{ lane: 'beta', percent: 10 }] });
  const count: Record<string, number> = {};
  const N = 100_000;
  for (const id of users(N)) {
    const lane = ring.mark(req({ 'x-user-id': id }), ctx()).lane;
    count[lane] = (count[lane] ?? 0) + 1;
    if (lane === 'alpha') assert.equal(betaAlone.mark(req({ 'x-user-id': id }), ctx()).lane, 'beta', id);
  }
  assert.ok(Math.abs((count.alpha! / N) * 100 - 1) <= 0.2, `alpha ${count.alpha}`);
  // beta's 10% counts the alpha ring: beta itself gets the next 9%.
  assert.ok(Math.abs((count.beta! / N) * 100 - 9) <= 0.5, `beta ${count.beta}`);
});

// ---- 4. ingress-nginx canaries ------------------------------------------------------------------

function canaryRoute(canary: NginxCanary[], extra: Partial<RouteSpec> = {}): CompiledRoute {
  return only({ canary, ...extra });
}

test('canary precedence: header always/never beats cookie, cookie always/never beats weight', () => {
  const r = canaryRoute([{ lane: 'canary', byHeader: 'X-Canary', byCookie: 'canary', weight: 100 }]);
  const by = (h: Record<string, string>) => r.mark(req(h), ctx()).by;
  assert.equal(by({ 'x-canary': 'always', cookie: 'canary=never' }), 'canary[0].header');
  assert.equal(by({ 'x-canary': 'never', cookie: 'canary=always' }), 'default');
  assert.equal(by({ 'x-canary': 'other', cookie: 'canary=always' }), 'canary[0].cookie');
  assert.equal(by({ cookie: 'canary=always' }), 'canary[0].cookie');
  assert.equal(by({ cookie: 'canary=never' }), 'default');
  assert.equal(by({ cookie: 'canary=other' }), 'canary[0].weight');
  assert.equal(by({}), 'canary[0].weight');
});

test('canary byHeaderValue / byHeaderPattern: as in ingress-nginx, always/never are then ordinary values', () => {
  const value = canaryRoute([{ lane: 'canary', byHeader: 'x-canary', byHeaderValue: 'yes', byCookie: 'c' }]);
  const v = (h: Record<string, string>) => value.mark(req(h), ctx()).by;
  assert.equal(v({ 'x-canary': 'yes' }), 'canary[0].header');
  assert.equal(v({ 'x-canary': 'always' }), 'default');
  assert.equal(v({ 'x-canary': 'never', cookie: 'c=always' }), 'canary[0].cookie');
  const pattern = canaryRoute([{ lane: 'canary', byHeader: 'x-canary', byHeaderPattern: '^v2' }]);
  assert.equal(pattern.mark(req({ 'x-canary': 'v2-mobile' }), ctx()).by, 'canary[0].header');
  assert.equal(pattern.mark(req({ 'x-canary': 'v1' }), ctx()).by, 'default');
});

test('canary never skips only that canary: the next ring is still evaluated', () => {
  const r = canaryRoute([
    { lane: 'alpha', byHeader: 'x-alpha' },
    { lane: 'beta', byHeader: 'x-beta' },
  ]);
  const m = r.mark(req({ 'x-alpha': 'never', 'x-beta': 'always' }), ctx());
  assert.equal(m.lane, 'beta');
  assert.equal(m.by, 'canary[1].header');
});

test('canary weight is sticky by the identity bucket (out of weightTotal)', () => {
  const r = canaryRoute([{ lane: 'canary', weight: 30 }]);
  let n = 0;
  for (const id of users(10_000)) {
    const lane = r.mark(req({ 'x-user-id': id }), ctx()).lane;
    assert.equal(lane, bucketOf('salt-1', id) < 3000 ? 'canary' : 'stable', id);
    if (lane === 'canary') n++;
  }
  assert.ok(n > 2800 && n < 3200, String(n));
  const total = canaryRoute([{ lane: 'canary', weight: 1, weightTotal: 1000 }]);
  for (const id of users(3000)) {
    assert.equal(total.mark(req({ 'x-user-id': id }), ctx()).lane === 'canary', bucketOf('salt-1', id) < 10, id);
  }
});

test('canary weight without identity or visitor cookie: a random draw per request', () => {
  const r = canaryRoute([{ lane: 'canary', weight: 10 }]);
  const c = ctx([0.05, 0.5, 0.0999, 0.1]);
  assert.deepEqual(lanes(r, 4, req(), c), ['canary', 'stable', 'canary', 'stable']);
  assert.equal(c.randomCalls, 4);
});

// ---- 5. split -----------------------------------------------------------------------------------

test('split: smooth WRR, exactly 300/100 over 400 and interleaved', () => {
  const r = only({ split: { stable: 3, beta: 1 } });
  const seq = lanes(r, 400);
  assert.deepEqual(seq.slice(0, 8), ['stable', 'stable', 'beta', 'stable', 'stable', 'stable', 'beta', 'stable']);
  assert.equal(seq.filter((l) => l === 'beta').length, 100);
  assert.equal(r.mark(req(), ctx()).by, 'split');
});

test('overlay split replaces the route split, also on routes without one', () => {
  const status: Status = { services: { svc: { split: { stable: 1, beta: 1 } } } };
  const a = only({ split: { stable: 3, beta: 1 } }, status);
  assert.deepEqual(lanes(a, 4), ['stable', 'beta', 'stable', 'beta']);
  assert.match(a.mark(req(), ctx()).reason, /^rollout split/);
  const b = only({}, status);
  assert.deepEqual(lanes(b, 2), ['stable', 'beta']);
});

test('a split with only zero weights marks nothing: default', () => {
  assert.equal(only({ split: { stable: 0, beta: 0 } }).mark(req(), ctx()).by, 'default');
});

test('sticky split: bucket ranges, non-fallback lanes first; widening keeps its users', () => {
  const narrow = only({ stickySplit: true, split: { stable: 3, beta: 1 } });
  const wide = only({ stickySplit: true, split: { stable: 1, beta: 1 } });
  let kept = 0;
  for (const id of users(5000)) {
    const b = bucketOf('salt-1', id);
    const lane = narrow.mark(req({ 'x-user-id': id }), ctx()).lane;
    assert.equal(lane, b < 2500 ? 'beta' : 'stable', id);
    assert.equal(narrow.mark(req({ 'x-user-id': id }), ctx()).lane, lane, 'same answer every time');
    if (lane === 'beta') {
      assert.equal(wide.mark(req({ 'x-user-id': id }), ctx()).lane, 'beta', `${id} kept after widening`);
      kept++;
    }
  }
  assert.ok(kept > 1000);
  assert.match(narrow.mark(req({ 'x-user-id': 'user-1' }), ctx()).reason, /^sticky split/);
});

test('sticky split with no identity and no visitor cookie uses the WRR', () => {
  const r = only({ stickySplit: true, split: { stable: 3, beta: 1 } });
  assert.deepEqual(lanes(r, 4), ['stable', 'stable', 'beta', 'stable']);
});

// ---- 6. default and anonymous stickiness ---------------------------------------------------------

test('default: the service fallback', () => {
  assert.deepEqual(only({}).mark(req(), ctx()), {
    lane: 'stable',
    assignment: 'chance',
    by: 'default',
    reason: 'no rule, canary or split marked the request: service fallback lane stable',
  });
});

test('visitor cookie: minted when a decision needs an identity, then sticky by it', () => {
  const r = only({
    visitorCookie: { name: 'gl_vid', maxAgeMs: 86_400_000 },
    rules: [{ lane: 'beta', header: { name: 'x-canary', equals: 'always' } }, { lane: 'beta', percent: 50 }],
  });
  const c = ctx();
  // A header rule decides without an identity: nothing minted.
  assert.equal(r.mark(req({ 'x-canary': 'always' }), c).setVisitorId, undefined);
  const first = r.mark(req(), c);
  assert.equal(first.setVisitorId, 'visitor-1');
  assert.equal(first.lane, bucketOf('salt-1', 'visitor-1') < 5000 ? 'beta' : 'stable');
  for (let i = 0; i < 5; i++) {
    const again = r.mark(req({ cookie: 'gl_vid=visitor-1' }), c);
    assert.equal(again.lane, first.lane);
    assert.equal(again.setVisitorId, undefined);
  }
  // A known user is never given a visitor id.
  assert.equal(r.mark(req({ 'x-user-id': 'u1' }), c).setVisitorId, undefined);
  assert.equal(c.minted, 1);
  assert.deepEqual(r.visitorCookie, { name: 'gl_vid', maxAgeMs: 86_400_000 });
});

test('the visitor id spreads anonymous visitors like users (about 50% at percent 50)', () => {
  const r = only({ visitorCookie: { name: 'v', maxAgeMs: 1 }, rules: [{ lane: 'beta', percent: 50 }] });
  const c = ctx();
  const n = lanes(r, 4000, req(), c).filter((l) => l === 'beta').length;
  assert.equal(c.minted, 4000);
  assert.ok(n > 1800 && n < 2200, String(n));
});

test('precomputed results: a rule, split or pinned decision allocates no new MarkResult', () => {
  const r = only({ rules: [{ lane: 'beta', header: { name: 'x-b', present: true } }] });
  const a = r.mark(req({ 'x-b': '1' }), ctx());
  assert.equal(r.mark(req({ 'x-b': '2' }), ctx()), a);
  assert.ok(Object.isFrozen(a));
});

// ---- assignment: drawn at random or picked by a condition (builtin compare analysis) -------------

test('assignment: the split, a percent-only rule, a canary weight and the default are chance; conditions are targeted', () => {
  const r = only({
    rules: [
      { lane: 'alpha', users: ['1001'] },
      { lane: 'beta', path: { contains: '/new' }, percent: 100 },
      { lane: 'beta', percent: 100, name: 'tenpercent' },
    ],
  });
  const m = (h: Record<string, string>, p = '/') => r.mark(req(h, p), ctx());
  assert.equal(m({ 'x-user-id': '1001' }).assignment, 'targeted', 'users');
  assert.equal(m({ 'x-user-id': '2' }, '/new').assignment, 'targeted', 'percent with a path samples a subset');
  assert.equal(m({ 'x-user-id': '2' }).by, 'tenpercent');
  assert.equal(m({ 'x-user-id': '2' }).assignment, 'chance', 'percent alone');
  const split = only({ rules: [{ lane: 'beta', header: { name: 'x-b', equals: '1' } }], split: { stable: 1, beta: 1 } });
  assert.equal(split.mark(req({ 'x-b': '1' }), ctx()).assignment, 'targeted', 'header rule');
  for (const lane of lanes(split, 4)) assert.ok(lane === 'stable' || lane === 'beta');
  assert.ok(Array.from({ length: 4 }, () => split.mark(req(), ctx()).assignment).every((a) => a === 'chance'), 'split');
  const sticky = only({ split: { stable: 1, beta: 1 }, stickySplit: true });
  assert.equal(sticky.mark(req({ 'x-user-id': '7' }), ctx()).assignment, 'chance', 'sticky split');
  const canary = canaryRoute([{ lane: 'canary', byHeader: 'X-Canary', weight: 100 }]);
  assert.equal(canary.mark(req({ 'x-canary': 'always' }), ctx()).assignment, 'targeted', 'canary header');
  assert.equal(canary.mark(req(), ctx()).assignment, 'chance', 'canary weight');
  assert.equal(only({ rules: [{ lane: 'beta', users: ['1'] }] }).mark(req(), ctx()).assignment, 'chance', 'the default lane');
  const trusted = only({ trustLane: true, split: { stable: 1 } });
  assert.equal(trusted.mark(req({ 'x-gray-lane': 'beta' }), ctx()).assignment, 'targeted', 'a trusted lane');
});
