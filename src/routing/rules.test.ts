import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Rule } from '../spec/types.js';
import { compileRule } from './rules.js';
import { Subject, type IdentityPlan } from './identity.js';
import { bucketOf, saltSeed } from './hash.js';
import { CompileError } from './errors.js';
import { ctx, req } from '../../test/support/routing.js';
import type { RequestView } from './types.js';

const plan: IdentityPlan = {
  sources: [{ kind: 'header', name: 'x-user-id' }],
  visitorCookie: 'gl_vid',
  seed: saltSeed('rules-salt'),
};

function matches(rule: Rule, r: RequestView, c = ctx()): boolean {
  return compileRule(rule, 'routes[0].rules[0]').test(new Subject(plan, r, c));
}

test('users: the identity is in the list', () => {
  const rule: Rule = { lane: 'alpha', users: ['1001', '1002'] };
  assert.ok(matches(rule, req({ 'x-user-id': '1001' })));
  assert.ok(!matches(rule, req({ 'x-user-id': '1003' })));
  assert.ok(!matches(rule, req()));
});

test('users: a 100k-id list', () => {
  const users = Array.from({ length: 100_000 }, (_, i) => `user-${i + 1}`);
  const compiled = compileRule({ lane: 'alpha', users }, 'routes[0].rules[0]');
  for (const id of ['user-1', 'user-50000', 'user-100000']) {
    assert.ok(compiled.test(new Subject(plan, req({ 'x-user-id': id }), ctx())), id);
  }
  for (const id of ['user-0', 'user-100001', 'USER-1']) {
    assert.ok(!compiled.test(new Subject(plan, req({ 'x-user-id': id }), ctx())), id);
  }
  assert.match(compiled.result.reason, /100000 ids/);
});

test('users never mints a visitor id (a fresh id cannot be on a list)', () => {
  const c = ctx();
  assert.ok(!matches({ lane: 'alpha', users: ['1'] }, req(), c));
  assert.equal(c.minted, 0);
});

test('appVersion: versions as apps send them, compared with the range; missing or no version does not match', () => {
  const rule: Rule = { lane: 'beta', appVersion: { from: { kind: 'header', name: 'x-app-version' }, range: '>=2.3.0' } };
  const v = (x?: string) => matches(rule, req(x === undefined ? {} : { 'x-app-version': x }));
  for (const yes of ['2.3.0', '2.10.1', 'v2.4.0', '2.4', '2.4.0.1234', '2.4.0-beta.1', '2.4.0+1234', '3', '2.3']) assert.ok(v(yes), yes);
  for (const no of ['2.2.9', '2.2.9.9999', '2', '2.2.0-beta.1', 'latest', ' 2.4.0x', '2.x', '2..4', '']) assert.ok(!v(no), no);
  assert.ok(!v(undefined));
  // Asked again (the condition reuses its buffer): the same answers.
  assert.ok(v('2.3.0') && !v('2.2.9') && v('2.3.0'));
});

test('appVersion: complex ranges, min and max, and other sources', () => {
  const rule: Rule = { lane: 'beta', appVersion: { from: { kind: 'query', name: 'av' }, range: '1.x || >=2.5.0 <3' } };
  assert.ok(matches(rule, req({}, '/', 'av=1.9.9')));
  assert.ok(matches(rule, req({}, '/', 'av=2.7.0.15')));
  assert.ok(!matches(rule, req({}, '/', 'av=2.4.0')));
  assert.ok(!matches(rule, req({}, '/', 'av=3.0.0')));
  assert.ok(!matches(rule, req({}, '/', 'av=3.0.0-beta.1')), 'a 3.0 beta is a 3.0 build, not below 3');
  const pre: Rule = { lane: 'beta', appVersion: { from: { kind: 'cookie', name: 'av' }, range: '>=3.0.0-beta.0', prerelease: 'exclude' } };
  assert.ok(matches(pre, req({ cookie: 'av=3.0.0-beta.1' })));
  assert.ok(!matches(pre, req({ cookie: 'av=3.1.0-beta.1' })), "semver's rule: a tag only on the numbers the range names");
  const between: Rule = { lane: 'beta', appVersion: { from: { kind: 'header', name: 'v' }, min: '2.4.0.1200', max: '2.9' } };
  for (const [version, expected] of [['2.4.0.1200', true], ['2.4.0.1199', false], ['2.9', true], ['2.9.0.0', true], ['2.9.0.1', false], ['2.5', true]] as const) {
    assert.equal(matches(between, req({ v: version })), expected, version);
  }
});

test('appVersion: pattern takes the version out of a value; no match, no version', () => {
  const rule: Rule = { lane: 'beta', appVersion: { from: { kind: 'header', name: 'user-agent' }, pattern: 'MyApp/([0-9.]+)', range: '>=2.3' } };
  const ua = (x: string) => matches(rule, req({ 'user-agent': x }));
  assert.ok(ua('MyApp/2.4.0 (iPhone; iOS 17.2; Scale/3.00)'));
  assert.ok(ua('Mozilla/5.0 MyApp/2.3'));
  assert.ok(!ua('MyApp/2.2.1 (iPhone; iOS 17.2)'));
  assert.ok(!ua('OtherApp/9.0.0 (iPhone; iOS 17.2)'));
  assert.ok(!ua('MyApp/ (iPhone)'), 'an empty capture is no version');
});

test('path: contains, prefix, regex on the raw path', () => {
  assert.ok(matches({ lane: 'b', path: { contains: '/new-checkout' } }, req({}, '/shop/new-checkout/pay')));
  assert.ok(!matches({ lane: 'b', path: { contains: '/new-checkout' } }, req({}, '/shop/checkout')));
  assert.ok(matches({ lane: 'b', path: { prefix: '/beta/' } }, req({}, '/beta/x')));
  assert.ok(!matches({ lane: 'b', path: { prefix: '/beta/' } }, req({}, '/x/beta/')));
  assert.ok(matches({ lane: 'b', path: { regex: '^/api/v[2-9]/' } }, req({}, '/api/v3/items')));
  assert.ok(!matches({ lane: 'b', path: { regex: '^/api/v[2-9]/' } }, req({}, '/api/v1/items')));
  assert.ok(!matches({ lane: 'b', path: { contains: 'preview' } }, req({}, '/x', 'preview=1')), 'query excluded');
});

test('header: equals, in, pattern, present, absent; multi-valued: any matches', () => {
  const h = (m: object, headers: Record<string, string | string[]>) =>
    matches({ lane: 'b', header: { name: 'X-Canary', ...m } }, req(headers));
  assert.ok(h({ equals: 'always' }, { 'x-canary': 'always' }), 'names are matched lower-cased');
  assert.ok(!h({ equals: 'always' }, { 'x-canary': 'Always' }));
  assert.ok(!h({ equals: 'always' }, {}));
  assert.ok(h({ in: ['a', 'b'] }, { 'x-canary': 'b' }));
  assert.ok(!h({ in: ['a', 'b'] }, { 'x-canary': 'c' }));
  assert.ok(h({ pattern: '^(beta|alpha)$' }, { 'x-canary': 'alpha' }));
  assert.ok(!h({ pattern: '^(beta|alpha)$' }, { 'x-canary': 'alphas' }));
  assert.ok(h({ present: true }, { 'x-canary': '' }));
  assert.ok(!h({ present: true }, {}));
  assert.ok(h({ present: false }, {}));
  assert.ok(!h({ present: false }, { 'x-canary': 'x' }));
  assert.ok(h({ equals: 'q' }, { 'x-canary': ['p', 'q'] }));
  assert.ok(!h({ equals: 'r' }, { 'x-canary': ['p', 'q'] }));
});

test('cookie and query conditions', () => {
  const cookie: Rule = { lane: 'b', cookie: { name: 'canary', equals: 'always' } };
  assert.ok(matches(cookie, req({ cookie: 'a=1; canary=always' })));
  assert.ok(!matches(cookie, req({ cookie: 'xcanary=always' })));
  assert.ok(!matches(cookie, req()));
  const query: Rule = { lane: 'b', query: { name: 'preview', equals: '1' } };
  assert.ok(matches(query, req({}, '/', 'a=2&preview=1')));
  assert.ok(!matches(query, req({}, '/', 'preview=0')));
  assert.ok(matches({ lane: 'b', query: { name: 'debug', present: true } }, req({}, '/', 'debug')));
});

test('percent: sticky by the identity bucket', () => {
  const rule: Rule = { lane: 'b', percent: 10 };
  let inside = 0;
  for (let i = 1; i <= 2000; i++) {
    const id = `u${i}`;
    const want = bucketOf('rules-salt', id) < 1000;
    assert.equal(matches(rule, req({ 'x-user-id': id })), want, id);
    assert.equal(matches(rule, req({ 'x-user-id': id })), want, `${id} again`);
    if (want) inside++;
  }
  assert.ok(inside > 100 && inside < 300);
});

test('percent 0 and 100 decide without an identity (nothing minted or drawn)', () => {
  const c = ctx();
  assert.ok(matches({ lane: 'b', percent: 100 }, req(), c));
  assert.ok(!matches({ lane: 'b', percent: 0 }, req(), c));
  assert.equal(c.minted + c.randomCalls, 0);
});

test('conditions are ANDed, and percent runs last: a failed header never mints a visitor id', () => {
  const rule: Rule = { lane: 'b', header: { name: 'x-a', equals: '1' }, percent: 50 };
  const c = ctx();
  assert.ok(!matches(rule, req({ 'x-a': '2' }), c));
  assert.equal(c.minted, 0);
  const both: Rule = { lane: 'b', path: { prefix: '/m/' }, header: { name: 'x-platform', equals: 'ios' } };
  assert.ok(matches(both, req({ 'x-platform': 'ios' }, '/m/home')));
  assert.ok(!matches(both, req({ 'x-platform': 'ios' }, '/home')));
  assert.ok(!matches(both, req({ 'x-platform': 'android' }, '/m/home')));
});

test('the result: default name from the key path, explicit name, reason, header changes', () => {
  const r = compileRule({ lane: 'beta', path: { contains: '/x' }, headers: { set: { 'x-a': '1' } } }, 'routes[0].rules[4]', 'rules[4]');
  assert.equal(r.result.by, 'rules[4]');
  assert.equal(r.result.lane, 'beta');
  assert.equal(r.result.reason, 'rule rules[4] matched: path contains "/x" -> lane beta');
  assert.deepEqual(r.result.headers, { set: { 'x-a': '1' } });
  assert.ok(Object.isFrozen(r.result));
  assert.equal(compileRule({ name: 'staff', lane: 'a', users: ['1'] }, 'k').result.by, 'staff');
});

test('bad regex or semver range -> CompileError with the key path', () => {
  assert.throws(
    () => compileRule({ lane: 'b', path: { regex: '(' } }, 'routes[1].rules[2]'),
    (e: unknown) => e instanceof CompileError && e.keyPath === 'routes[1].rules[2].path.regex',
  );
  assert.throws(
    () => compileRule({ lane: 'b', appVersion: { from: { kind: 'header', name: 'v' }, range: '>=>' } }, 'routes[0].rules[0]'),
    (e: unknown) => e instanceof CompileError && e.keyPath === 'routes[0].rules[0].appVersion.range',
  );
  assert.throws(
    () => compileRule({ lane: 'b', appVersion: { from: { kind: 'header', name: 'v' }, max: 'v2.x' } }, 'routes[0].rules[0]'),
    (e: unknown) => e instanceof CompileError && e.keyPath === 'routes[0].rules[0].appVersion.max' && /"v2.x" is not a version/.test(e.message),
  );
  assert.throws(() => compileRule({ lane: 'b', percent: 101 }, 'k'), CompileError);
  assert.throws(() => compileRule({ lane: 'b', header: { name: 'x' } }, 'k'), CompileError);
});
