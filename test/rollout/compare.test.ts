/**
 * Builtin `compare` end to end: a real `graylane serve` child process, real upstreams on 127.0.0.1,
 * a rollout at 50% whose analysis step judges the canary against stable over the same window.
 * A canary with twice stable's errors, or 50 ms slower, is aborted by it; one that behaves like
 * stable completes. Requests a header rule sends to the canary are not counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, config, getRollout, startServe, waitForRollout, writeFile, type ServeChild } from './helpers.js';
import { tempDir } from '../support/temp.js';
import { COMPARE_ROLLOUT, load, PER_VERSION, upstream } from './compare-helpers.js';

interface Case {
  canaryFailEvery: number;
  canaryDelayMs: number;
  /** Header-routed requests sent to the canary: failing or slow ones must not count. */
  targeted: number;
}

async function runCase(t: { after(fn: () => Promise<void>): void }, c: Case) {
  const dir = await tempDir();
  // Stable: 5% errors (every 20th), no delay. 400+ requests each make 2x (10%) detectable at alpha 0.05.
  const stable = await upstream('stable', 20, 0);
  const beta = await upstream('beta', c.canaryFailEvery, c.canaryDelayMs);
  let serve: ServeChild | undefined;
  t.after(async () => {
    if (serve && serve.child.exitCode === null) serve.child.kill('SIGKILL');
    await serve?.exited;
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
      rest: COMPARE_ROLLOUT,
    }),
  );
  serve = await startServe(file, dir.path);
  await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.currentStep === 1 && v.reason === 'AwaitingPromotion', 15_000);
  // Targeted requests first: when counted, they would change the canary's sample (all go to beta).
  if (c.targeted > 0) assert.deepEqual(await load(serve.gatewayUrl, c.targeted, { 'x-canary': 'yes' }), { beta: c.targeted });
  // Smooth weighted round robin at 50%: exactly half and half.
  assert.deepEqual(await load(serve.gatewayUrl, 2 * PER_VERSION), { stable: PER_VERSION, beta: PER_VERSION });
  assert.equal((await api(serve.adminUrl, 'POST', '/api/v1/rollouts/web-beta/promote', {})).status, 200);
  const done = await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.phase === 'Healthy' || v.phase === 'Degraded', 15_000);
  const run = done.analysisRuns.find((r) => r.kind === 'step')!;
  const m = run.metrics[0]!.measurements.at(-1)!;
  const value = m.value as { canary: { requests: number }; stable: { requests: number }; errorRate: { pValue: number }; latency: { pValue: number } };
  assert.equal(value.canary.requests, PER_VERSION, 'only the split requests are the canary sample');
  assert.equal(value.stable.requests, PER_VERSION);
  const detail = await getRollout(serve.adminUrl, 'web-beta', 50);
  return { done, run, m, value, events: detail.events.map((e) => `${e.reason}: ${e.message}`) };
}

test('compare end to end: a canary with twice the errors is aborted by the analysis, the numbers in the events', async (t) => {
  const { done, run, m, value, events } = await runCase(t, { canaryFailEvery: 10, canaryDelayMs: 0, targeted: 0 });
  assert.equal(done.phase, 'Degraded', done.message);
  assert.equal(run.phase, 'Failed');
  assert.equal(m.phase, 'Failed');
  assert.ok(value.errorRate.pValue < 0.025, JSON.stringify(value));
  assert.match(m.message ?? '', /canary n=500, stable n=500; errors 10\.00% vs 5\.00% \(z, p=[0-9.e-]+ WORSE\)/);
  assert.ok(events.some((e) => /AnalysisRunFinished: .*Failed.*errors 10\.00% vs 5\.00%/.test(e)), events.join('\n'));
});

test('compare end to end: a canary 50 ms slower is aborted by the analysis', async (t) => {
  const { done, m, value } = await runCase(t, { canaryFailEvery: 20, canaryDelayMs: 50, targeted: 0 });
  assert.equal(done.phase, 'Degraded', done.message);
  assert.equal(m.phase, 'Failed');
  assert.ok(value.latency.pValue < 0.025, JSON.stringify(value));
  assert.match(m.message ?? '', /p50 [0-9.]+ms vs [0-9.]+ms \(U, p=[0-9.e-]+ WORSE\)/);
});

test('compare end to end: a canary that behaves like stable completes; header-routed failures are not counted', async (t) => {
  // The 200 header-routed requests all fail: counted, they would make the canary's errors 32%.
  const { done, m } = await runCase(t, { canaryFailEvery: 20, canaryDelayMs: 0, targeted: 200 });
  assert.equal(done.phase, 'Healthy', done.message);
  assert.equal(m.phase, 'Successful', m.message);
  assert.deepEqual(done.traffic, { beta: 100 });
});
