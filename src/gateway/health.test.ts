import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthTable } from './health.js';

const A = 'http://127.0.0.1:9001';
const B = 'http://127.0.0.1:9002';
const params = { consecutiveFailures: 3, ejectMs: 10_000 };

test('an origin is up until it fails N times in a row, then out for ejectMs, then back', () => {
  let now = 1_000;
  const health = new HealthTable(() => now);
  assert.equal(health.isUp(A), true);
  assert.equal(health.reportFailure(A, params), false);
  assert.equal(health.reportFailure(A, params), false);
  assert.equal(health.isUp(A), true);
  assert.equal(health.reportFailure(A, params), true);
  assert.equal(health.isUp(A), false);
  assert.equal(health.isUp(B), true, 'other origins are not affected');
  now += 9_999;
  assert.equal(health.isUp(A), false);
  now += 1;
  assert.equal(health.isUp(A), true);
  assert.deepEqual(
    health.entries().map((e) => [e.origin, e.ejections]),
    [[A, 1]],
  );
});

test('a success ends the failure streak', () => {
  const health = new HealthTable(() => 0);
  health.reportFailure(A, params);
  health.reportFailure(A, params);
  health.reportSuccess(A);
  health.reportFailure(A, params);
  health.reportFailure(A, params);
  assert.equal(health.isUp(A), true);
  assert.equal(health.reportFailure(A, params), true);
  assert.equal(health.isUp(A), false);
});

test('failures while ejected do not extend the ejection', () => {
  let now = 0;
  const health = new HealthTable(() => now);
  for (let i = 0; i < 3; i++) health.reportFailure(A, params);
  now = 5_000;
  for (let i = 0; i < 10; i++) assert.equal(health.reportFailure(A, params), false);
  now = 10_000;
  assert.equal(health.isUp(A), true);
});

test('retain forgets origins that left the snapshot', () => {
  const health = new HealthTable(() => 0);
  for (let i = 0; i < 3; i++) health.reportFailure(A, params);
  health.reportFailure(B, params);
  health.retain(new Set([B]));
  assert.equal(health.isUp(A), true);
  assert.deepEqual(
    health.entries().map((e) => e.origin),
    [B],
  );
});
