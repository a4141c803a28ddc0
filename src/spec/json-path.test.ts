import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonPath, readJsonPath, JsonPathError } from './json-path.js';

test('dotted names, indexes and quoted keys', () => {
  const doc = { ok: true, data: { rate: 0.5, items: [{ v: 1 }, { v: 2 }], 'odd key': 'y' }, $meta: 1 };
  assert.deepEqual(parseJsonPath('$.data.items[1].v'), ['data', 'items', 1, 'v']);
  assert.equal(readJsonPath(doc, parseJsonPath('$.ok')), true);
  assert.equal(readJsonPath(doc, parseJsonPath('$.data.items[1].v')), 2);
  assert.equal(readJsonPath(doc, parseJsonPath('$.data["odd key"]')), 'y');
  assert.equal(readJsonPath(doc, parseJsonPath("$['data']['rate']")), 0.5);
  assert.equal(readJsonPath(doc, parseJsonPath('$.$meta')), 1);
  assert.deepEqual(readJsonPath([1, 2], parseJsonPath('$')), [1, 2]);
});

test('absent values and unsupported syntax are JsonPathErrors', () => {
  assert.throws(() => readJsonPath({ a: {} }, parseJsonPath('$.a.b.c')), /\$\.a\.b is absent/);
  assert.throws(() => readJsonPath({ a: [1] }, parseJsonPath('$.a[3]')), /\$\.a\[3\] is absent/);
  assert.throws(() => readJsonPath({ a: 1 }, parseJsonPath('$.toString')), JsonPathError, 'no prototype properties');
  for (const bad of ['data.x', '$..x', '$.a[*]', '$.a[?(@.x)]', '$.', '$[-1]']) {
    assert.throws(() => parseJsonPath(bad), JsonPathError, bad);
  }
});
