import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abort, promote, undo } from './transitions.js';
import { overlayFor } from './overlay.js';
import { rolloutView } from './view.js';
import { RolloutError } from './errors.js';
import { releaseRollouts } from './release.js';
import { parseSpec } from '../spec/index.js';
import { Driver, loadRollouts } from '../../test/support/rollout-driver.js';
import type { RolloutStatus } from '../status/rollout-status.js';

const STABLE = ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'];

function completed(yaml: string): { d: Driver; done: RolloutStatus } {
  const { rollouts, templates } = loadRollouts(yaml);
  const d = new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: 0 }));
  d.context = { stableEndpoints: STABLE };
  d.tick(1000);
  const done = d.runUntil((s) => s.phase === 'Healthy' || s.phase === 'Degraded');
  assert.equal(done.phase, 'Healthy');
  return { d, done };
}

const CANARY = (extra = '') => `
rollouts:
  - name: whoami-v2
    service: whoami
    canary: beta
${extra}    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: { duration: 1m }
          - setWeight: 100
`;

const refused = (pattern: RegExp) => (e: unknown) => e instanceof RolloutError && e.code === 'UNDO_REFUSED' && pattern.test(e.message);

test('given a completed canary, when undone within the window, then the previous stable serves the stable lane again and the canary is withdrawn, in one command', () => {
  const { d, done } = completed(CANARY());
  assert.deepEqual(done.previousStable, { version: 'stable', endpoints: STABLE }, 'completion records what stable was');
  assert.deepEqual(overlayFor(d.rollout, done), { stableVersion: 'beta' });
  const view = rolloutView(d.rollout, done, 7);
  assert.equal(view.undoUntil, done.completedAt! + 30 * 60_000, 'the default window is 30m');

  const s = d.apply(undo(d.rollout, done, done.completedAt! + 29 * 60_000, { stableEndpoints: STABLE }));
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'Undone');
  assert.equal(s.undoneAt, done.completedAt! + 29 * 60_000);
  assert.deepEqual(overlayFor(d.rollout, s), { split: { stable: 100 }, withdrawn: ['beta'] });
  assert.ok(d.events.some((e) => e.reason === 'Undone' && e.type === 'Warning'), 'the undo is an event');
  // A tick after the undo changes nothing: it stays undone (no new attempt, no cleanup rerun).
  const t = d.tick(done.completedAt! + 29 * 60_000 + 1);
  assert.equal(t.changed, false);
  assert.throws(() => undo(d.rollout, s, s.undoneAt! + 1, { stableEndpoints: STABLE }), refused(/already undone/));
});

test('given a completed canary, when the rollback window has ended, then undo refuses and names the end of the window', () => {
  const { d, done } = completed(CANARY('    rollbackWindow: 5m\n'));
  assert.doesNotThrow(() => undo(d.rollout, done, done.completedAt! + 5 * 60_000, { stableEndpoints: STABLE }));
  assert.throws(() => undo(d.rollout, done, done.completedAt! + 5 * 60_000 + 1, { stableEndpoints: STABLE }), refused(/rollback window \(5m after completion\) ended at/));
});

test('given a completed canary, when the spec now gives stable other endpoints, then undo refuses: the previous stable is gone', () => {
  const { d, done } = completed(CANARY());
  assert.throws(
    () => undo(d.rollout, done, done.completedAt! + 1, { stableEndpoints: ['http://127.0.0.1:9301'] }),
    refused(/stable endpoints changed since completion \(then \[http:\/\/127.0.0.1:9001, http:\/\/127.0.0.1:9002\], now \[http:\/\/127.0.0.1:9301\]\)/),
  );
});

test('given a running or aborted canary, then undo refuses (abort is what takes traffic back while it runs)', () => {
  const { rollouts, templates } = loadRollouts(CANARY());
  const d = new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: 0 }));
  const running = d.tick(0).status;
  assert.throws(() => undo(d.rollout, null, 0), refused(/not started/));
  assert.throws(() => undo(d.rollout, running, 1), refused(/has not completed \(Paused \(PauseStep\)\); abort takes traffic back/));
  const aborted = d.apply(abort(d.rollout, running, 2));
  assert.throws(() => undo(d.rollout, aborted, 3), refused(/has not completed \(Degraded \(Aborted\)\); nothing to undo/));
});

test('given a running release, its start event and a refused undo name the release as the user wrote it (not one service, not release:NAME)', () => {
  const spec = parseSpec(
    `
services:
  a: { versions: { stable: ["http://127.0.0.1:9001"], gray: ["http://127.0.0.1:9003"] } }
routes: [{ name: shop, match: { pathPrefix: / }, service: a }]
releases:
  checkout: { lane: gray, services: [a], entry: { route: shop }, steps: [{ setWeight: 10 }, { pause: {} }] }
`,
    'release.yaml',
  );
  const { rollouts, templates } = releaseRollouts(spec);
  const d = new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: 0 }));
  const { status: running, events } = d.tick(0);
  assert.equal(events.find((e) => e.reason === 'RolloutStarted')?.message, 'attempt 1: release checkout: lane gray of a', 'the start names the release, not one service');
  assert.throws(() => undo(d.rollout, running, 1), refused(/^cannot undo release checkout: it has not completed \(Paused \(AwaitingPromotion\)\)/));
});

test('given a blue-green upgrade, when it has completed, then undo refuses: stable was replaced in place', () => {
  const { rollouts, templates } = loadRollouts(`
rollouts:
  - name: whoami-bg
    service: whoami
    strategy:
      blueGreen:
        previewLane: green
        promotion: upgrade
        hooks:
          postPromotion: { command: "true" }
`);
  const d = new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: 0 }));
  d.context = { stableEndpoints: STABLE };
  const done = d.runUntil((s) => s.phase === 'Healthy');
  assert.equal(done.previousStable, null);
  assert.equal(rolloutView(d.rollout, done).undoUntil, null);
  assert.throws(() => undo(d.rollout, done, done.completedAt! + 1, { stableEndpoints: STABLE }), refused(/blue-green upgrade replaced whoami's stable endpoints in place/));
});

test('given a blue-green switch, when undone, then the old stable takes the stable lane back', () => {
  const { rollouts, templates } = loadRollouts(`
rollouts:
  - name: whoami-bg
    service: whoami
    strategy:
      blueGreen: { previewLane: green, autoPromotionEnabled: false }
`);
  const d = new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: 0 }));
  d.context = { stableEndpoints: STABLE };
  const waiting = d.tick(0).status;
  d.apply(promote(d.rollout, waiting, 1));
  const done = d.runUntil((s) => s.phase === 'Healthy');
  assert.deepEqual(overlayFor(d.rollout, done), { stableVersion: 'green' });
  const s = undo(d.rollout, done, done.completedAt! + 1, { stableEndpoints: STABLE }).status;
  assert.deepEqual(overlayFor(d.rollout, s), { split: { stable: 100 }, withdrawn: ['green'] });
});

test('rollbackWindow is left out of the spec hash: changing it does not start a new attempt', () => {
  const a = loadRollouts(CANARY('    rollbackWindow: 5m\n')).rollouts[0]!;
  const b = loadRollouts(CANARY('    rollbackWindow: 2h\n')).rollouts[0]!;
  const { d, done } = completed(CANARY('    rollbackWindow: 5m\n'));
  assert.equal(a.rollbackWindowMs, 5 * 60_000);
  const again = new Driver(b, d.templates, d.measure);
  again.status = done;
  assert.equal(again.tick(done.completedAt! + 1).changed, false);
});
