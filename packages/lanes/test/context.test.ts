import { test } from 'node:test';
import assert from 'node:assert/strict';
import { currentLane, currentLaneContext, runWithLane, runWithoutLane } from '../src/context.js';

test('runWithLane scopes the lane to fn and what it starts; nesting restores the outer lane', async () => {
  assert.equal(currentLane(), undefined);
  await runWithLane('beta', async () => {
    assert.equal(currentLane(), 'beta');
    await runWithLane('alpha', async () => {
      await new Promise((r) => setTimeout(r, 1));
      assert.equal(currentLane(), 'alpha');
    });
    assert.equal(currentLane(), 'beta');
    assert.equal(runWithoutLane(() => currentLane()), undefined);
    assert.equal(await new Promise((r) => setImmediate(() => r(currentLane()))), 'beta');
  });
  assert.equal(currentLane(), undefined);
});

test('the context keeps the incoming baggage; an undefined lane runs without one', () => {
  runWithLane('beta', () => assert.deepEqual(currentLaneContext(), { lane: 'beta', baggage: 'a=1' }), 'a=1');
  runWithLane('beta', () => runWithLane(undefined, () => assert.equal(currentLaneContext(), undefined)));
});

test('runWithLane refuses what is not a lane name (it could not be written into a header)', () => {
  for (const bad of ['', 'a b', 'a\nb', '-x', 'x'.repeat(64)]) {
    assert.throws(() => runWithLane(bad, () => 1), TypeError);
  }
});
