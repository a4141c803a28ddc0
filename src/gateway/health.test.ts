import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthTable } from './health.js';

const A = 'http://127.0.0.1:9001';
const B = 'http://127.0.0.1:9002';
const C = 'http://127.0.0.1:9003';
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

test('track forgets origins that left the snapshot', () => {
  const health = new HealthTable(() => 0);
  for (let i = 0; i < 3; i++) health.reportFailure(A, params);
  health.reportFailure(B, params);
  health.track([[B, C]]);
  assert.equal(health.isUp(A), true);
  assert.deepEqual(
    health.entries().map((e) => e.origin),
    [B],
  );
});

test("a version's only endpoint is never ejected: its failures keep counting and it stays in rotation", () => {
  const health = new HealthTable(() => 0);
  health.track([[A, B], [C]]);
  for (let i = 0; i < 10; i++) assert.equal(health.reportFailure(C, params), false);
  assert.equal(health.isUp(C), true);
  assert.deepEqual(
    health.entries().map((e) => [e.origin, e.failures, e.ejections]),
    [[C, 10, 0]],
  );
});

test('of a failing version with two endpoints one is ejected and the last is kept; once the first is back, the streak of the other ejects it', () => {
  let now = 0;
  const health = new HealthTable(() => now);
  health.track([[A, B]]);
  for (let i = 0; i < 3; i++) health.reportFailure(A, params);
  assert.equal(health.isUp(A), false);
  for (let i = 0; i < 5; i++) assert.equal(health.reportFailure(B, params), false, 'B is the last one in rotation');
  assert.equal(health.isUp(B), true);
  now = 10_000; // A is back in
  assert.equal(health.isUp(A), true);
  assert.equal(health.reportFailure(B, params), true, 'the streak that went on while B was the last one ejects it now');
  assert.equal(health.isUp(B), false);
  for (let i = 0; i < 5; i++) assert.equal(health.reportFailure(A, params), false, 'now A is the last one');
  assert.equal(health.isUp(A), true);
});

test('an endpoint shared by two versions stays while it is the last one of either', () => {
  const health = new HealthTable(() => 0);
  // A serves stable (with B) and beta (alone), as the same host with two base paths would.
  health.track([[A, B], [A]]);
  for (let i = 0; i < 6; i++) assert.equal(health.reportFailure(A, params), false);
  assert.equal(health.isUp(A), true);
  // Endpoints listed twice in one version (two base paths) count once.
  health.track([[A, B], [B, B]]);
  for (let i = 0; i < 3; i++) health.reportFailure(B, params);
  assert.equal(health.isUp(B), true, 'B is the only origin of the second version');
  assert.equal(health.reportFailure(A, params), true, 'A is not the last of any version');
});

test('a reload that leaves a version with only ejected endpoints readmits the one whose ejection ends first', () => {
  let now = 0;
  const health = new HealthTable(() => now);
  health.track([[A, C], [B, C]]);
  for (let i = 0; i < 3; i++) health.reportFailure(A, params);
  now = 1_000;
  for (let i = 0; i < 3; i++) health.reportFailure(B, params);
  assert.equal(health.isUp(A), false);
  assert.equal(health.isUp(B), false);
  // A and B move into one new version together.
  health.track([[A, B], [C]]);
  assert.equal(health.isUp(A), true, 'A would have been back first');
  assert.equal(health.isUp(B), false);
});

test('without versions to go by (origins the table was not told about) an origin is ejected as before', () => {
  const health = new HealthTable(() => 0);
  health.track([[A]]);
  for (let i = 0; i < 2; i++) health.reportFailure(B, params);
  assert.equal(health.reportFailure(B, params), true);
});
