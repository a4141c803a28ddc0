import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SmoothWrr } from './wrr.js';

function picks<T>(wrr: SmoothWrr<T>, n: number): (T | null)[] {
  return Array.from({ length: n }, () => wrr.next());
}

test('3:1 is exact over every 4 picks and interleaved (a,a,b,a)', () => {
  const wrr = new SmoothWrr([
    ['a', 3],
    ['b', 1],
  ]);
  const seq = picks(wrr, 400);
  for (let i = 0; i < 400; i += 4) assert.deepEqual(seq.slice(i, i + 4), ['a', 'a', 'b', 'a'], `window ${i}`);
});

test('300/100 over 400 picks', () => {
  const wrr = new SmoothWrr([
    ['stable', 3],
    ['beta', 1],
  ]);
  const seq = picks(wrr, 400);
  assert.equal(seq.filter((x) => x === 'stable').length, 300);
  assert.equal(seq.filter((x) => x === 'beta').length, 100);
});

test("nginx's own example: 5,1,1 gives a,a,b,a,c,a,a", () => {
  // The sequence from the comment on ngx_http_upstream_get_peer in nginx's source.
  const wrr = new SmoothWrr([
    ['a', 5],
    ['b', 1],
    ['c', 1],
  ]);
  assert.deepEqual(picks(wrr, 14), ['a', 'a', 'b', 'a', 'c', 'a', 'a', 'a', 'a', 'b', 'a', 'c', 'a', 'a']);
});

test('zero weights are never picked', () => {
  const wrr = new SmoothWrr([
    ['a', 0],
    ['b', 2],
    ['c', 0],
    ['d', 1],
  ]);
  assert.equal(wrr.size, 2);
  const seq = picks(wrr, 300);
  assert.ok(!seq.includes('a') && !seq.includes('c'));
  assert.equal(seq.filter((x) => x === 'b').length, 200);
});

test('all zero (or no items) -> null', () => {
  assert.equal(new SmoothWrr([['a', 0], ['b', 0]]).next(), null);
  assert.equal(new SmoothWrr([]).next(), null);
});

test('a single item is always picked', () => {
  assert.deepEqual(picks(new SmoothWrr([['only', 7]]), 3), ['only', 'only', 'only']);
});

test('deterministic: two balancers with the same weights give the same sequence', () => {
  const w: [string, number][] = [['x', 7], ['y', 2], ['z', 5]];
  assert.deepEqual(picks(new SmoothWrr(w), 100), picks(new SmoothWrr(w), 100));
});
