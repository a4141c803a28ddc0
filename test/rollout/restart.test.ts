/**
 * Crash safety: `graylane serve` killed with SIGKILL in the middle of a timed pause, then started
 * again on the same state file, resumes where it was: same step, same weights, the original pause
 * deadline, and no step or event twice or lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { config, getRollout, send, startServe, startUpstream, tally, waitForRollout, writeFile, type ServeChild } from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';

const PAUSE_MS = 4000;

test('kill -9 during a timed pause: the restarted process finishes the rollout on the original deadline, each step once', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const children: ServeChild[] = [];
  t.after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    config({
      stable: stable.url,
      beta: beta.url,
      state: dir.file('state.db'),
      rest: webBetaCanary(['setWeight: 30', `pause: { duration: ${PAUSE_MS}ms }`, 'setWeight: 60', 'pause: { duration: 300ms }']),
    }),
  );

  // Given a rollout in its timed pause at 30%
  const first = await startServe(file, dir.path);
  children.push(first);
  const before = await waitForRollout(first.adminUrl, 'web-beta', (v) => v.currentStep === 1 && v.reason === 'PauseStep');
  const deadline = before.pauseDeadline!;
  const pauseStarted = deadline - PAUSE_MS;

  // When the process is killed with SIGKILL part way through the pause
  await until('600 ms into the pause', () => Date.now() > pauseStarted + 600, 5000);
  first.child.kill('SIGKILL');
  assert.equal(await first.exited, null);

  // And started again on the same state file
  const restartedAt = Date.now();
  const second = await startServe(file, dir.path);
  children.push(second);

  // Then it is in the same step with the same deadline, and serves the same weights at once
  const after = await getRollout(second.adminUrl, 'web-beta');
  assert.equal(after.currentStep, 1);
  assert.equal(after.pauseDeadline, deadline);
  assert.equal(after.attempt, 1);
  assert.deepEqual(tally(await send(second.gatewayUrl, 100)), { stable: 70, beta: 30 });

  // And the rollout completes, the pause ending on its original deadline (not a new full pause)
  const done = await waitForRollout(second.adminUrl, 'web-beta', (v) => v.phase === 'Healthy', PAUSE_MS + 10_000);
  assert.deepEqual(done.traffic, { beta: 100 });
  const { events } = await getRollout(second.adminUrl, 'web-beta', 1000);
  const pauseOver = events.filter((e) => e.reason === 'StepCompleted' && e.message.startsWith('step 2/4'));
  assert.equal(pauseOver.length, 1);
  assert.ok(pauseOver[0]!.time >= deadline, `pause ended at ${pauseOver[0]!.time}, before its deadline ${deadline}`);
  assert.ok(pauseOver[0]!.time < restartedAt + PAUSE_MS, 'the pause was restarted instead of keeping its deadline');

  // And each step's event is in the log exactly once, nothing repeated by the restart
  const count = (reason: string, prefix: string) => events.filter((e) => e.reason === reason && e.message.startsWith(prefix)).length;
  assert.equal(count('RolloutStarted', 'attempt 1'), 1);
  assert.equal(count('WeightSet', 'step 1/4'), 1);
  assert.equal(count('StepStarted', 'step 2/4'), 1);
  assert.equal(count('WeightSet', 'step 3/4'), 1);
  assert.equal(count('StepStarted', 'step 4/4'), 1);
  assert.equal(count('StepCompleted', 'step 4/4'), 1);
  assert.equal(count('Completed', ''), 1);
  const seqs = events.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
});
