import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planOf } from './plan.js';
import { loadRollouts } from '../../test/support/rollout-driver.js';

test('blue-green plan: the preRollout hook, the preview weight, the promotion pause, the switch', () => {
  const { rollouts } = loadRollouts(`
rollouts:
  - name: checkout-blue
    service: checkout
    strategy:
      blueGreen:
        previewLane: blue
        previewWeight: 50
        autoPromotionDelay: 30s
        hooks:
          preRollout: { command: "./deploy.sh blue" }
`);
  assert.deepEqual(planOf(rollouts[0]!).map((s) => s.kind), ['hook', 'setWeight', 'pause', 'switch']);
});
