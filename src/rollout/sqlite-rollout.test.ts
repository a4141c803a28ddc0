import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/types.js';
import { reconcile, NO_OBSERVATIONS, type Transition } from './transitions.js';
import { loadRollouts } from '../../test/support/rollout-driver.js';
import type { AnalysisTemplate, RolloutSpec } from '../spec/rollout-model.js';

const CONFIG = `
rollouts:
  - name: whoami-v2
    service: whoami
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 10
          - pause: { duration: 2m }
          - setWeight: 60
analysisTemplates: {}
`;

/** One controller tick as the lead's loop does it: read, reconcile, compare-and-swap status + events + runs. */
async function tick(store: Store, rollout: RolloutSpec, templates: Record<string, AnalysisTemplate>, now: number): Promise<Transition> {
  const stored = await store.getStatus(rollout.name);
  const t = reconcile(rollout, stored?.status ?? null, NO_OBSERVATIONS, now, templates);
  if (t.changed) await store.commit({ name: rollout.name, status: t.status, expectRevision: stored?.revision ?? 0, events: t.events, runs: t.status.analysisRuns });
  return t;
}

test('a rollout status kept in SQLite resumes after the store is reopened: same step, original deadline, events once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'graylane-rollout-'));
  const path = join(dir, 'state.db');
  const { rollouts, templates } = loadRollouts(CONFIG);
  const rollout = rollouts[0]!;
  try {
    let store: Store = openSqliteStore(path);
    await tick(store, rollout, templates, 1_000);
    await store.close(); // the process goes away mid-pause

    store = openSqliteStore(path);
    const t = await tick(store, rollout, templates, 60_000);
    assert.equal(t.changed, false, 'nothing to do mid-pause');
    const mid = (await store.getStatus(rollout.name))!.status;
    assert.deepEqual([mid.currentStepIndex, mid.pauseDeadline, mid.weight], [1, 121_000, 10]);

    await tick(store, rollout, templates, 121_000);
    const done = (await store.getStatus(rollout.name))!.status;
    assert.deepEqual([done.phase, done.weight], ['Healthy', 100], 'completed: the canary has all of the stable lane');
    const reasons = (await store.listEvents(rollout.name)).map((e) => e.reason);
    assert.deepEqual(reasons, ['RolloutStarted', 'WeightSet', 'StepStarted', 'PauseStep', 'StepCompleted', 'WeightSet', 'Completed']);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
