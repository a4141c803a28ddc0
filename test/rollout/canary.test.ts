/**
 * Canary rollouts end to end: a real gateway, controller and admin API (in-process), real upstreams
 * on loopback, and the admin API as the only way in, as a person would use it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminUrlOf,
  api,
  backgroundTraffic,
  config,
  gatewayUrlOf,
  getRollout,
  send,
  startTestApp,
  startUpstream,
  tally,
  waitForRollout,
  writeFile,
  type Upstream,
} from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

async function setup(rest: string, opts: { failEvery?: number } = {}) {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta', opts);
  const file = dir.file('graylane.yaml');
  await writeFile(file, config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest }));
  const app = await startTestApp(file);
  const upstreams: Upstream[] = [stable, beta];
  return {
    app,
    admin: adminUrlOf(app),
    gateway: gatewayUrlOf(app),
    async close() {
      await app.close({ drainMs: 0 });
      await Promise.all(upstreams.map((u) => u.close()));
      await dir.remove();
    },
  };
}

const HEALTHY = `
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 20
          - pause: {}
          - setHeaderRoute: { header: { name: x-canary, equals: always } }
          - setWeight: 50
          - pause: {}
          - analysis: { templates: [beta-healthy] }
          - setWeight: 100
          - pause: { duration: 300ms }
analysisTemplates:
  beta-healthy:
    interval: 200ms
    count: 3
    successCondition: result < 0.05
    provider: { builtin: { metric: errorRate, version: canary, window: 5s, minRequests: 3 } }
`;

const atStep = (i: number) => (v: { currentStep: number | null; phase: string }) => v.currentStep === i && v.phase === 'Paused';

test('a healthy canary runs through every step to Healthy, and each step sends exactly its share', async (t) => {
  const s = await setup(HEALTHY);
  t.after(() => s.close());

  // Given the rollout has set 20% and waits at its first pause
  let v = await waitForRollout(s.admin, 'web-beta', atStep(1));
  assert.equal(v.reason, 'AwaitingPromotion');
  assert.deepEqual(v.traffic, { stable: 80, beta: 20 });
  assert.deepEqual(
    v.steps.map((st) => st.state),
    ['done', 'current', 'pending', 'pending', 'pending', 'pending', 'pending', 'pending'],
  );
  // Then 100 requests split exactly 80 : 20 (smooth WRR is exact over each 100)
  assert.deepEqual(tally(await send(s.gateway, 100)), { stable: 80, beta: 20 });

  // When promoted, the header route and 50% apply
  assert.equal((await api(s.admin, 'POST', '/api/v1/rollouts/web-beta/promote', {})).status, 200);
  v = await waitForRollout(s.admin, 'web-beta', atStep(4));
  assert.deepEqual(v.traffic, { stable: 50, beta: 50 });
  assert.deepEqual(v.headerRoute, { name: 'x-canary', equals: 'always' });
  assert.deepEqual(tally(await send(s.gateway, 100)), { stable: 50, beta: 50 });
  assert.deepEqual(tally(await send(s.gateway, 10, { 'x-canary': 'always' })), { beta: 10 });

  // When promoted again, the analysis step measures the canary's real traffic and passes
  const traffic = backgroundTraffic(s.gateway);
  try {
    await api(s.admin, 'POST', '/api/v1/rollouts/web-beta/promote', {});
    v = await waitForRollout(s.admin, 'web-beta', (x) => x.currentStep !== null && x.currentStep >= 6, 15_000);
  } finally {
    await traffic.stop();
  }
  const run = v.analysisRuns.find((r) => r.kind === 'step');
  assert.equal(run?.phase, 'Successful');
  assert.equal(run?.metrics[0]?.successful, 3);

  // Then the rollout completes: the canary serves the stable lane, everything goes to beta
  v = await waitForRollout(s.admin, 'web-beta', (x) => x.phase === 'Healthy', 5000);
  assert.equal(v.reason, 'Completed');
  assert.deepEqual(v.traffic, { beta: 100 });
  assert.ok(v.steps.every((st) => st.state === 'done'));
  assert.deepEqual(tally(await send(s.gateway, 20)), { beta: 20 });

  // And every step was logged exactly once, in order
  const { body } = await api<{ events: { reason: string; message: string }[] }>(s.admin, 'GET', '/api/v1/rollouts/web-beta/events');
  const stepEvents = body.events.filter((e) => ['WeightSet', 'HeaderRouteSet', 'StepStarted', 'AnalysisRunStarted'].includes(e.reason));
  assert.deepEqual(
    stepEvents.map((e) => /step (\d)\/8/.exec(e.message)?.[1]),
    ['1', '2', '3', '4', '5', '6', '7', '8'],
  );
  assert.equal(body.events.filter((e) => e.reason === 'Completed').length, 1);
});

test('a canary whose version fails 20% of requests fails builtin analysis, aborts by itself, traffic back on stable', async (t) => {
  const s = await setup(
    `
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: { duration: 1m }
        analysis: { templates: [error-rate], startingStep: 1 }
analysisTemplates:
  error-rate:
    interval: 200ms
    failureLimit: 0
    inconclusiveLimit: 50
    successCondition: result < 0.05
    provider: { builtin: { metric: errorRate, version: canary, window: 5s, minRequests: 10 } }
`,
    { failEvery: 5 },
  );
  t.after(() => s.close());

  // Given traffic flows while the canary has 50%
  await waitForRollout(s.admin, 'web-beta', atStep(1));
  const traffic = backgroundTraffic(s.gateway);
  let v;
  let abortedAt: number;
  try {
    // When the background analysis measures the canary's 20% errors, it fails and the rollout aborts
    v = await waitForRollout(s.admin, 'web-beta', (x) => x.phase === 'Degraded', 15_000);
    const detail = await getRollout(s.admin, 'web-beta', 50);
    abortedAt = detail.events.find((e) => e.reason === 'AnalysisFailed')!.time;
    // (traffic goes on a little past the abort, to see where it lands)
    await until('1300 ms after the abort', () => Date.now() > abortedAt + 1300, 5000);
  } finally {
    await traffic.stop();
  }
  assert.equal(v.reason, 'AnalysisFailed');
  assert.deepEqual(v.traffic, { stable: 100 });
  const run = v.analysisRuns[0]!;
  assert.equal(run.phase, 'Failed');
  assert.ok(Number(run.metrics[0]!.measurements.at(-1)!.value) >= 0.05, JSON.stringify(run.metrics[0]!.measurements));

  // Then every request sent later than a second after the abort went to stable (the event's time)...
  const late = traffic.sent.filter((r) => r.at > abortedAt + 1000);
  assert.ok(late.length > 0);
  assert.deepEqual(tally(late.map((r) => r.version)), { stable: late.length });
  // ...as does every request from now on
  assert.deepEqual(tally(await send(s.gateway, 50)), { stable: 50 });
});

test('a promote that accepts an inconclusive analysis stops at the pause it waited at; a second promote passes it', async (t) => {
  const s = await setup(`
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 20
          - pause: {}
          - setWeight: 60
          - pause: {}
        analysis: { templates: [enough-traffic], startingStep: 1 }
analysisTemplates:
  enough-traffic:
    interval: 200ms
    successCondition: result < 0.5
    provider: { builtin: { metric: errorRate, version: canary, window: 10s, minRequests: 5 } }
`);
  t.after(() => s.close());

  // Given the rollout waits at its first pause, and the background analysis, with no traffic yet,
  // is inconclusive
  let v = await waitForRollout(s.admin, 'web-beta', (x) => x.currentStep === 1 && x.reason === 'InconclusiveAnalysis');
  assert.equal(v.analysisRuns[0]?.phase, 'Inconclusive');
  // (traffic arrives, so the next run has something to measure: 50 requests, exactly 10 to beta)
  assert.deepEqual(tally(await send(s.gateway, 50)), { stable: 40, beta: 10 });

  // When a person promotes once
  const accepted = await api<{ currentStep: number; reason: string }>(s.admin, 'POST', '/api/v1/rollouts/web-beta/promote', {});
  assert.equal(accepted.status, 200);
  assert.equal(accepted.body.currentStep, 1);
  assert.equal(accepted.body.reason, 'AwaitingPromotion');

  // Then the inconclusive result is accepted and a new run measures, but the pause still waits
  v = await waitForRollout(s.admin, 'web-beta', (x) => (x.analysisRuns[1]?.metrics[0]?.successful ?? 0) >= 2);
  assert.equal(v.currentStep, 1);
  assert.equal(v.reason, 'AwaitingPromotion');
  assert.deepEqual(v.traffic, { stable: 80, beta: 20 });
  assert.deepEqual(tally(await send(s.gateway, 50)), { stable: 40, beta: 10 });

  // When they promote again, the pause ends and the rollout stops at the next one
  assert.equal((await api(s.admin, 'POST', '/api/v1/rollouts/web-beta/promote', {})).status, 200);
  v = await waitForRollout(s.admin, 'web-beta', atStep(3));
  assert.equal(v.reason, 'AwaitingPromotion');
  assert.deepEqual(v.traffic, { stable: 40, beta: 60 });
  const { body } = await api<{ events: { reason: string; message: string }[] }>(s.admin, 'GET', '/api/v1/rollouts/web-beta/events');
  assert.deepEqual(
    body.events.filter((e) => e.reason === 'Promoted' || e.reason === 'StepSkipped').map((e) => e.message),
    ['inconclusive analysis run a1.bg1 accepted', 'promoted past step 2/4 (pause (until promoted))', 'step 2/4 (pause (until promoted)) skipped by promote'],
  );
});
