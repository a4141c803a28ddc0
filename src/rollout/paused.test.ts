/** `paused: true` (Argo's spec.paused): an attempt that starts paused and moves nothing until resume. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcile, resume, retry, abort, NO_OBSERVATIONS } from './transitions.js';
import { specHash } from '../status/rollout-status.js';
import { Driver, loadRollouts } from '../../test/support/rollout-driver.js';

const yaml = (paused: string) => `
rollouts:
  - name: web-bg
    service: web
    ${paused}
    strategy:
      blueGreen:
        previewLane: beta
        previewWeight: 50
        autoPromotionEnabled: false
        hooks:
          preRollout: { command: [./deploy.sh] }
          cleanup: { command: [./teardown.sh] }
`;

test('given paused: true, the new rollout waits in Paused/PausedByUser with no traffic moved and no hook run', () => {
  const { rollouts, templates } = loadRollouts(yaml('paused: true'));
  const ro = rollouts[0]!;
  assert.equal(ro.paused, true);
  const t = reconcile(ro, null, NO_OBSERVATIONS, 1000, templates);
  assert.equal(t.status.phase, 'Paused');
  assert.equal(t.status.reason, 'PausedByUser');
  assert.equal(t.status.message, 'created paused (paused: true): resume to start');
  assert.equal(t.status.weight, 0);
  assert.equal(t.status.stepStartedAt, null);
  assert.deepEqual(t.actions, [], 'preRollout must not run before resume');
  // Time passing changes nothing.
  const later = reconcile(ro, t.status, NO_OBSERVATIONS, 1000 + 3_600_000, templates);
  assert.equal(later.status.stepStartedAt, null);
  assert.deepEqual(later.actions, []);
});

test('given paused: true, resume starts step 0: the preRollout hook runs, then the preview weight', () => {
  const { rollouts, templates } = loadRollouts(yaml('paused: true'));
  const d = new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: 0 }));
  d.tick(1000);
  assert.equal(d.actions.length, 0);
  d.apply(resume(rollouts[0]!, d.status, d.now));
  d.tick(1001);
  d.tick(1002);
  assert.deepEqual(d.actions.map((a) => (a.type === 'runHook' ? a.hook : a.type)), ['preRollout']);
  assert.equal(d.status!.weight, 50);
  assert.equal(d.status!.reason, 'AwaitingPromotion');
});

test('without paused, a rollout starts the moment it is loaded (the default)', () => {
  const { rollouts, templates } = loadRollouts(yaml(''));
  assert.equal(rollouts[0]!.paused, undefined);
  const t = reconcile(rollouts[0]!, null, NO_OBSERVATIONS, 1000, templates);
  assert.equal(t.status.phase, 'Progressing');
  assert.deepEqual(t.actions.map((a) => a.type), ['runHook']);
});

test('paused is left out of the spec hash: setting or clearing it neither aborts nor restarts an attempt', () => {
  const paused = loadRollouts(yaml('paused: true')).rollouts[0]!;
  const plain = loadRollouts(yaml('paused: false')).rollouts[0]!;
  assert.equal(specHash(paused), specHash(plain));
});

test('given paused: true, a retried attempt starts paused too', () => {
  const { rollouts, templates } = loadRollouts(yaml('paused: true'));
  const ro = rollouts[0]!;
  const d = new Driver(ro, templates, () => ({ kind: 'value', value: 0 }));
  d.tick(1000);
  d.apply(resume(ro, d.status, d.now));
  d.tick(1001);
  d.apply(abort(ro, d.status, d.now));
  d.tick(1002); // cleanup runs
  d.tick(1003); // and its result is recorded
  d.apply(retry(ro, d.status, d.now));
  d.tick(1004);
  assert.equal(d.status!.attempt, 2);
  assert.equal(d.status!.reason, 'PausedByUser');
});

test('paused must be a boolean: a clear error at its key', () => {
  assert.throws(() => loadRollouts(yaml('paused: "yes"')), /rollouts\.0\.paused|rollouts\[0\]\.paused/);
});
