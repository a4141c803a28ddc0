/** GRAYLANE_PHASE of a hook: where the attempt stands when the hook starts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Driver, loadRollouts } from '../../test/support/rollout-driver.js';

test('given autoPromotionDelay, the postPromotion hook started as the delay ends is told Progressing, not Paused', () => {
  const { rollouts, templates } = loadRollouts(`
rollouts:
  - name: web-bg
    service: web
    strategy:
      blueGreen:
        previewLane: beta
        autoPromotionEnabled: true
        autoPromotionDelay: 10s
        promotion: upgrade
        hooks:
          preRollout: { command: [./deploy.sh] }
          postPromotion: { command: [./upgrade.sh] }
          cleanup: { command: [./teardown.sh] }
`);
  const d = new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: 0 }));
  for (let now = 0; now <= 30_000; now += 1000) d.tick(now);
  const phases = Object.fromEntries(d.actions.map((a) => (a.type === 'runHook' ? [a.hook, a.phase] : [a.type, ''])));
  assert.deepEqual(phases, { preRollout: 'Progressing', postPromotion: 'Progressing', cleanup: 'Healthy' });
});
