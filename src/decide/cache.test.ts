import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../routing/index.js';
import type { RequestView } from '../routing/types.js';
import { parseSpec } from '../spec/index.js';
import { cachingHeaders, checkCacheable, routeCaching, DECISION_TTL_SECONDS } from './cache.js';
import { ObjectHeaders } from '../routing/request-values.js';

/** A config with one route `r` whose body is `route` (YAML lines under the route). */
function specWith(route: string) {
  return parseSpec(
    ['services:', '  web: { versions: { stable: [http://127.0.0.1:1], beta: [http://127.0.0.1:2] } }', 'routes:', '  - name: r', '    service: web', route].join('\n'),
    'gl.yaml',
  );
}

function caching(route: string, overlay?: Parameters<typeof routeCaching>[1]) {
  const spec = specWith(route);
  return routeCaching(spec.routes[0]!, overlay);
}

test('routes whose rules read only the identity are cacheable; anything else says why not', () => {
  assert.deepEqual(caching('    identity: [header:x-user-id]\n    rules: [{ lane: beta, users: ["1"] }, { lane: beta, percent: 10 }]'), { cacheable: true });
  assert.deepEqual(caching('    lane: beta\n    trustLane: false'), { cacheable: true }, 'a pinned lane reads nothing');
  assert.deepEqual(caching('    identity: [header:x-user-id]\n    canary: [{ lane: beta, weight: 10 }]'), { cacheable: true });
  assert.deepEqual(caching('    identity: [header:x-user-id]\n    stickySplit: true\n    split: { stable: 3, beta: 1 }'), { cacheable: true });
  const not = (route: string, reason: RegExp, overlay?: Parameters<typeof routeCaching>[1]) => {
    const c = caching(route, overlay);
    assert.equal(c.cacheable, false, route);
    assert.match((c as { reason: string }).reason, reason);
  };
  not('    identity: [header:x-user-id]\n    trustLane: true', /trustLane/);
  not('    identity: []\n    rules: [{ lane: beta, percent: 10 }]', /no identity sources/);
  not('    identity: [header:x-user-id]\n    rules: [{ name: kw, lane: beta, path: { contains: /new } }]', /rule kw reads the path/);
  not('    identity: [header:x-user-id]\n    rules: [{ lane: beta, users: ["1"], header: { name: x-canary, equals: always } }]', /rules\[0\] reads the header x-canary/);
  not('    identity: [header:x-user-id]\n    rules: [{ lane: beta, cookie: { name: c, equals: "1" } }]', /reads the cookie c/);
  not('    identity: [header:x-user-id]\n    rules: [{ lane: beta, query: { name: q, equals: "1" } }]', /reads the query parameter q/);
  not('    identity: [header:x-user-id]\n    rules: [{ lane: beta, appVersion: { header: x-app-version, min: 2.0.0 } }]', /reads the app version/);
  not('    identity: [header:x-user-id]\n    canary: [{ lane: beta, byHeader: x-canary, weight: 10 }]', /canary\[0\] reads the header x-canary/);
  not('    identity: [header:x-user-id]\n    canary: [{ lane: beta, byCookie: canary }]', /canary\[0\] reads the cookie canary/);
  not('    identity: [header:x-user-id]\n    split: { stable: 3, beta: 1 }', /^split is chosen per request/);
  // The rollout overlay counts: its split replaces the route's, its header routes come first.
  not('    identity: [header:x-user-id]', /the rollout's split is chosen per request/, { split: { stable: 90, beta: 10 } });
  not('    identity: [header:x-user-id]\n    stickySplit: true', /rollout.rules\[0\] reads the header x-beta/, { rules: [{ lane: 'beta', header: { name: 'x-beta', equals: '1' } }] });
});

function view(headers: Record<string, string>): RequestView {
  return { host: 'shop', path: '/', query: '', headers: new ObjectHeaders(headers) };
}

test('one decision: cached only with the identity, no baggage, and the route and identity the proxy keys by', () => {
  const snapshot = compile(specWith('    identity: [header:x-user-id, cookie:uid]\n    rules: [{ lane: beta, percent: 10 }]'));
  const route = snapshot.routes[0]!;
  const claims = (c: Record<string, string>) => (name: string) => c[name];
  const ok = { 'x-graylane-route': 'r', 'x-graylane-identity': '7' };
  assert.equal(checkCacheable(snapshot, route, view({ 'x-user-id': '7' }), {}, claims(ok)), true);
  assert.equal(checkCacheable(snapshot, route, view({ cookie: 'uid=7' }), {}, claims(ok)), true, 'the second source');
  assert.equal(checkCacheable(snapshot, route, view({}), {}, claims(ok)), false, 'anonymous');
  assert.equal(checkCacheable(snapshot, route, view({ 'x-user-id': '7' }), { baggage: 'a=b' }, claims(ok)), false, 'baggage goes into the answer');
  assert.equal(checkCacheable(snapshot, route, view({ 'x-user-id': '7, 8' }), {}, claims(ok)), false, 'nginx keyed 7, graylane read "7, 8"');
  assert.equal(checkCacheable(snapshot, route, view({ 'x-user-id': '7' }), {}, claims({ ...ok, 'x-graylane-route': 'other' })), false, 'another route');
  assert.equal(checkCacheable(snapshot, route, view({ 'x-user-id': '7' }), {}, claims({ 'x-graylane-route': 'r' })), false, 'no key claimed');
  const split = compile(specWith('    identity: [header:x-user-id]\n    split: { stable: 1, beta: 1 }'));
  assert.equal(checkCacheable(split, split.routes[0]!, view({ 'x-user-id': '7' }), {}, claims(ok)), false, 'a per-request split');
});

test('answer headers: X-Accel-Expires and max-age for the TTL, or no-store', () => {
  assert.deepEqual(cachingHeaders(true), ['cache-control', `max-age=${DECISION_TTL_SECONDS}`, 'x-accel-expires', String(DECISION_TTL_SECONDS)]);
  assert.deepEqual(cachingHeaders(false), ['cache-control', 'no-store']);
});
