import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, findIdentity, type IdentityPlan } from './identity.js';
import { bucketOf, saltSeed } from './hash.js';
import { ctx, req } from '../../test/support/routing.js';

const sources: IdentityPlan['sources'] = [
  { kind: 'header', name: 'x-user-id' },
  { kind: 'cookie', name: 'uid' },
  { kind: 'query', name: 'uid' },
];
const plan = (visitorCookie: string | null = null): IdentityPlan => ({ sources, visitorCookie, seed: saltSeed('s') });

test('the first source found wins, in declared order; empty values count as absent', () => {
  assert.equal(findIdentity(plan(), req({ 'x-user-id': 'h', cookie: 'uid=c' }, '/', 'uid=q')), 'h');
  assert.equal(findIdentity(plan(), req({ cookie: 'uid=c' }, '/', 'uid=q')), 'c');
  assert.equal(findIdentity(plan(), req({}, '/', 'uid=q')), 'q');
  assert.equal(findIdentity(plan(), req({ 'x-user-id': '' }, '/', 'uid=q')), 'q');
  assert.equal(findIdentity(plan(), req()), undefined);
});

test('the visitor cookie comes after every identity source', () => {
  assert.equal(findIdentity(plan('gl_vid'), req({ cookie: 'gl_vid=v9' })), 'v9');
  assert.equal(findIdentity(plan('gl_vid'), req({ cookie: 'gl_vid=v9; uid=u1' })), 'u1');
  assert.equal(findIdentity(plan(null), req({ cookie: 'gl_vid=v9' })), undefined);
});

test('a found identity gives the sticky bucket of (salt, id), and nothing is minted', () => {
  const c = ctx();
  const s = new Subject(plan('gl_vid'), req({ 'x-user-id': 'u7' }), c);
  assert.equal(s.bucket(), bucketOf('s', 'u7'));
  assert.equal(s.minted, undefined);
  assert.equal(c.minted + c.randomCalls, 0);
});

test('no identity + visitor cookie: one visitor id is minted and bucketed by', () => {
  const c = ctx();
  const s = new Subject(plan('gl_vid'), req(), c);
  assert.equal(s.id(), undefined, 'id() never mints');
  assert.equal(c.minted, 0);
  const b = s.bucket();
  assert.equal(s.minted, 'visitor-1');
  assert.equal(b, bucketOf('s', 'visitor-1'));
  s.bucket();
  s.stickyId();
  assert.equal(c.minted, 1, 'at most one per request');
  // The next request carries the cookie: same bucket, nothing minted.
  const next = new Subject(plan('gl_vid'), req({ cookie: 'gl_vid=visitor-1' }), c);
  assert.equal(next.bucket(), b);
  assert.equal(next.minted, undefined);
});

test('no identity and no visitor cookie: the bucket is random per request, drawn once', () => {
  const c = ctx([0.25, 0.9]);
  const s = new Subject(plan(null), req(), c);
  assert.equal(s.stickyId(), undefined);
  assert.equal(s.bucket(), 2500);
  assert.equal(s.bucket(), 2500);
  assert.equal(c.randomCalls, 1);
  assert.equal(new Subject(plan(null), req(), c).bucket(), 9000);
});
