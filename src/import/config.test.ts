import { test } from 'node:test';
import assert from 'node:assert/strict';
import { integerWeights, toName } from './config.js';
import { durationValue, percentValue } from './rollout-target.js';

const shares = (entries: [string, number, number][]): Map<string, [bigint, bigint]> =>
  new Map(entries.map(([k, p, q]) => [k, [BigInt(p), BigInt(q)]]));

test('integer weights keep the exact ratios of flattened shares', () => {
  // Traefik: outer 1:1 between (v1:3, v2:1) and v3 -> 3/8, 1/8, 1/2.
  assert.deepEqual(integerWeights(shares([['v1', 3, 8], ['v2', 1, 8], ['v3', 1, 2]])), { weights: { v1: 3, v2: 1, v3: 4 }, exact: true });
  assert.deepEqual(integerWeights(shares([['a', 3, 4], ['b', 1, 4]])), { weights: { a: 3, b: 1 }, exact: true });
});

test('shares too fine for 1,000,000 are rounded, and say so', () => {
  const { weights, exact } = integerWeights(shares([['a', 1, 1_000_003], ['b', 1_000_002, 1_000_003]]));
  assert.equal(exact, false);
  assert.equal(weights.b, 1_000_000);
  assert.equal(weights.a, 1);
});

test('names are made valid graylane names', () => {
  assert.equal(toName('api@file'), 'api-file');
  assert.equal(toName('-x'), 'x');
  assert.equal(toName('a'.repeat(80)).length, 63);
});

test('durations of rollout controllers', () => {
  assert.equal(durationValue(10), '10s');
  assert.equal(durationValue('30'), '30s');
  assert.equal(durationValue('5m'), '5m');
  assert.equal(durationValue('1h30m'), '90m');
  assert.equal(durationValue('1m30s'), '90s');
  assert.equal(durationValue('soon'), undefined);
  assert.equal(percentValue('20%'), 20);
  assert.equal(percentValue(100), 100);
  assert.equal(percentValue('150%'), undefined);
});
