import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserSet } from './user-set.js';

test('a large list (filtered): every member found, no non-member reported', () => {
  const ids = Array.from({ length: 100_000 }, (_, i) => `vip-${i + 1}`);
  const set = new UserSet(ids);
  assert.equal(set.size, 100_000);
  for (const id of ids) assert.ok(set.has(`${id}`), id);
  for (let i = 0; i < 100_000; i++) assert.ok(!set.has(`user-${i}`));
  assert.ok(!set.has('vip-0') && !set.has('vip-100001') && !set.has('') && !set.has('VIP-1'));
});

test('a small list (no filter) answers the same way', () => {
  const set = new UserSet(['1001', '1002', '1001']);
  assert.equal(set.size, 2);
  assert.ok(set.has('1001') && set.has('1002'));
  assert.ok(!set.has('1003') && !set.has('100'));
  assert.ok(!new UserSet([]).has(''));
});
