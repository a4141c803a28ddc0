import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKETS, bucketFromSeed, bucketOf, saltSeed, threshold } from './hash.js';

const N = 100_000;
const ids = Array.from({ length: N }, (_, i) => `user-${i + 1}`);

/** Independent reference: FNV-1a 32 + fmix32 written with BigInt over the joined string. */
function referenceBucket(salt: string, id: string): number {
  const s = `${salt}\u0000${id}`;
  const M = 0xffffffffn;
  let h = 0x811c9dc5n;
  for (let i = 0; i < s.length; i++) {
    h = ((h ^ BigInt(s.charCodeAt(i))) * 0x01000193n) & M;
  }
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & M;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & M;
  h ^= h >> 16n;
  return Number(h % 10000n);
}

function inPercent(salt: string, percent: number): Set<string> {
  const t = threshold(percent);
  return new Set(ids.filter((id) => bucketOf(salt, id) < t));
}

test('bucketOf agrees with an independent reference implementation (same on every gateway)', () => {
  for (const [salt, id] of [
    ['checkout-2026-11', '1001'],
    ['', ''],
    ['route', 'ünïcödé-ユーザー'],
    ['a', 'bc'],
    ['ab', 'c'],
  ] as const) {
    assert.equal(bucketOf(salt, id), referenceBucket(salt, id), `${salt} / ${id}`);
  }
  for (let i = 1; i <= 2000; i++) assert.equal(bucketOf('s', `user-${i}`), referenceBucket('s', `user-${i}`));
});

test('bucketOf is pinned: these values must never change between releases', () => {
  // A change here silently moves users between versions on upgrade: treat it as a breaking change.
  // Values computed with referenceBucket above.
  assert.equal(bucketOf('checkout-2026-11', '1001'), 7080);
  assert.equal(bucketOf('checkout-2026-11', '1002'), 3320);
  assert.equal(bucketOf('checkout-2026-11', 'user-42'), 3488);
  assert.equal(bucketOf('x', 'user-1'), 8171);
  assert.equal(bucketOf('', ''), 4203);
});

test('the separator keeps salt and id apart', () => {
  assert.notEqual(bucketOf('a', 'bc'), bucketOf('ab', 'c'));
});

test('bucketFromSeed(saltSeed(s), id) equals bucketOf(s, id)', () => {
  const seed = saltSeed('salt-1');
  for (let i = 0; i < 1000; i++) assert.equal(bucketFromSeed(seed, ids[i]!), bucketOf('salt-1', ids[i]!));
});

test('sticky: the same user always gets the same bucket, in range', () => {
  for (let i = 0; i < 1000; i++) {
    const id = ids[i]!;
    const b = bucketOf('exp', id);
    assert.ok(Number.isInteger(b) && b >= 0 && b < BUCKETS);
    // A freshly built string (not the same object) hashes the same.
    assert.equal(bucketOf('exp', `user-${i + 1}`), b);
  }
});

test('monotonic widening: 10% -> 20% keeps everyone who was in', () => {
  const ten = inPercent('exp', 10);
  const twenty = inPercent('exp', 20);
  for (const id of ten) assert.ok(twenty.has(id), id);
  assert.ok(twenty.size > ten.size);
});

test('measured share is within 0.5 points of the target at 10% and 50% over 100k ids', () => {
  for (const percent of [10, 50]) {
    const share = (inPercent('checkout-2026-11', percent).size / N) * 100;
    assert.ok(Math.abs(share - percent) <= 0.5, `${percent}% measured ${share.toFixed(3)}%`);
  }
});

test('two salts pick independent populations (overlap of two 10% is about 1%)', () => {
  const a = inPercent('experiment-a', 10);
  const b = inPercent('experiment-b', 10);
  let both = 0;
  for (const id of a) if (b.has(id)) both++;
  const overlap = (both / N) * 100;
  // Independent: 10% of 10% = 1%; correlated populations would overlap near 10%.
  assert.ok(Math.abs(overlap - 1) <= 0.25, `overlap ${overlap.toFixed(3)}%`);
});

test('threshold: whole buckets, rounded, clamped', () => {
  assert.equal(threshold(0), 0);
  assert.equal(threshold(10), 1000);
  assert.equal(threshold(10.01), 1001);
  assert.equal(threshold(0.07), 7);
  assert.equal(threshold(100), BUCKETS);
  assert.equal(threshold(150), BUCKETS);
  assert.equal(threshold(-1), 0);
});
