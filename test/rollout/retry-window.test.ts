/**
 * A retry is judged on its own traffic: builtin analysis of a new attempt must not count the errors
 * that aborted the attempt before it, though they are still inside the template's window (1m here).
 * A served process (gateway, controller, admin API), a canary upstream that answers 500 and then
 * recovers, and a retry right after the abort.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminUrlOf, api, config, gatewayUrlOf, send, startTestApp, startUpstream, tally, waitForRollout, writeFile } from './helpers.js';
import type { RolloutDetail } from '../../src/admin/rollouts.js';
import { webBetaErrorRateAbort } from '../support/rollouts.js';
import { tempDir } from '../support/temp.js';

test('a rollout retried right after an error-rate abort is judged on the new attempt traffic only, and passes once the canary recovered', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  let failing = true;
  const canary = await startUpstream('beta', {
    handler: (_req, res) => {
      if (!failing) return false;
      res.writeHead(500, { 'content-type': 'text/plain', 'x-version': 'beta' }).end('boom');
      return true;
    },
  });
  const file = dir.file('graylane.yaml');
  await writeFile(file, config({ stable: stable.url, beta: canary.url, state: dir.file('state.db'), rest: webBetaErrorRateAbort(10) }));
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await canary.close();
    await dir.remove();
  });
  const admin = adminUrlOf(app);
  const gateway = gatewayUrlOf(app);

  // Given attempt 1 aborted by the analysis: every request of the canary failed (the abort takes
  // its share back, so some of the 40 go to stable)
  await waitForRollout(admin, 'web-beta', (v) => v.currentStep === 1 && v.phase === 'Paused');
  const first = tally(await send(gateway, 40));
  assert.ok((first['beta'] ?? 0) >= 10, `the canary answered ${first['beta']} of 40`);
  const aborted = await waitForRollout(admin, 'web-beta', (v) => v.phase === 'Degraded');
  assert.equal(aborted.reason, 'AnalysisFailed');

  // When the canary has recovered and the rollout is retried at once (the errors are seconds old)
  failing = false;
  assert.equal((await api(admin, 'POST', '/api/v1/rollouts/web-beta/retry', {})).status, 200);
  await waitForRollout(admin, 'web-beta', (v) => v.attempt === 2 && v.currentStep === 1);

  // And healthy traffic flows, in batches until attempt 2's analysis has judged (bounded: 50 x 10)
  const judged = (v: RolloutDetail) => v.analysisRuns.some((r) => r.metrics[0]!.measurements.some((m) => m.phase === 'Successful' || m.phase === 'Failed'));
  let v: RolloutDetail | undefined;
  for (let batch = 0; batch < 50; batch++) {
    await send(gateway, 10);
    v = await waitForRollout(admin, 'web-beta', () => true);
    if (v.attempt !== 2 || v.phase === 'Degraded' || judged(v)) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  // Then attempt 2 is still running, and its first verdict counted no error of attempt 1
  assert.ok(v, 'attempt 2 was read');
  assert.equal(v.attempt, 2);
  assert.notEqual(v.phase, 'Degraded', `attempt 2 aborted: ${v.reason}: ${v.message}`);
  const verdicts = v.analysisRuns.flatMap((r) => r.metrics[0]!.measurements).filter((m) => m.phase !== 'Inconclusive');
  assert.ok(verdicts.length > 0, 'attempt 2 had a verdict within 50 batches');
  assert.equal(verdicts[0]!.phase, 'Successful');
  assert.equal(Number(verdicts[0]!.value), 0);
});
