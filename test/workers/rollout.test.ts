/**
 * Rollouts with `graylane serve --workers 2` (real processes): the controller runs in the primary,
 * its status reaches every worker, and builtin analysis judges the sum of every worker's counts,
 * so errors that all land on one worker still abort.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitForRollout } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { until } from '../support/wait.js';
import { configOf, connectionsOnEveryWorker, fromEveryWorker, metrics, metricSum, startPrimary, startUpstream, stopPrimary, writeConfig } from './helpers.js';
import { webBetaCanary } from '../support/rollouts.js';

async function setup(t: { after(fn: () => Promise<void>): void }, rollout: string) {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const file = dir.file('graylane.yaml');
  await writeConfig(
    file,
    `listen: 127.0.0.1:0
accessLog: false
drain: 0s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(dir.file('state.db'))} }
debug: { workerHeader: true }
services:
  web:
    versions:
      stable: [${stable.url}]
      beta: [${beta.url}]
routes:
  - service: web
    visitorCookie: false
${rollout}`,
  );
  const serve = await startPrimary(file, dir.path, 2);
  const pids = (await configOf(serve.adminUrl)).workers.map((w) => w.pid!);
  t.after(async () => {
    await stopPrimary(serve, pids);
    await Promise.all([stable.close(), beta.close()]);
    await dir.remove();
  });
  return serve;
}

test('a rollout step is reached on every worker', async (t) => {
  const serve = await setup(
    t,
    webBetaCanary(['setWeight: 100', 'pause: {}']),
  );
  await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.currentStep === 1 && v.phase === 'Paused');
  const primary = await configOf(serve.adminUrl);
  assert.ok(primary.workers.every((w) => w.snapshotId === primary.snapshotId), 'every worker reports the primary’s snapshot (spec + rollout status)');
  const answers = await fromEveryWorker(serve.gatewayUrl, 2);
  for (const [worker, list] of answers) {
    assert.ok(list.every((a) => a.version === 'beta'), `worker ${worker} routes by the step (100% beta): ${JSON.stringify(list)}`);
  }
});

test('builtin analysis sums every worker: a canary whose errors all land on one worker still aborts', async (t) => {
  const serve = await setup(
    t,
    `rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: {}
        analysis: { templates: [canary-errors] }
analysisTemplates:
  canary-errors:
    interval: 200ms
    failureLimit: 0
    inconclusiveLimit: 1000
    successCondition: result < 0.2
    provider: { builtin: { metric: errorRate, version: canary, window: 1m, minRequests: 20 } }
`,
  );
  await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.currentStep === 1 && v.phase === 'Paused');
  const conns = await connectionsOnEveryWorker(serve.gatewayUrl, 2, 1);
  t.after(() => Promise.all(conns.map((c) => c.client.destroy())).then(() => undefined));
  const one = conns.find((c) => c.worker === '1')!.client;
  const two = conns.find((c) => c.worker === '2')!.client;

  // Requests through worker 1 fail when they reach the canary (x-fail); through worker 2 none do.
  // Worker 2 alone sees a healthy canary; worker 1 alone, or the sum, a failing one (about 50% and 25%).
  const errorsBy = { '1': 0, '2': 0 };
  let aborted = false;
  for (let round = 0; round < 400 && !aborted; round++) {
    for (const [worker, client, headers] of [['1', one, { 'x-fail': '1' }], ['2', two, {}]] as const) {
      const res = await client.request({ path: '/', method: 'GET', headers });
      await res.body.dump();
      assert.equal(String(res.headers['x-graylane-worker']), worker);
      if (res.statusCode >= 500) errorsBy[worker]++;
    }
    if (round % 10 === 9) aborted = (await waitForRollout(serve.adminUrl, 'web-beta', () => true)).phase === 'Degraded';
  }
  const view = await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.phase === 'Degraded', 10_000);
  assert.equal(view.phase, 'Degraded');
  assert.equal(errorsBy['2'], 0, 'no error went through worker 2');
  assert.ok(errorsBy['1'] > 0);
  // Aborted: every worker sends everything to stable again.
  const after = await fromEveryWorker(serve.gatewayUrl, 2);
  for (const [worker, list] of after) assert.ok(list.every((a) => a.version === 'stable'), `worker ${worker} still sends traffic to the aborted canary`);
  // Workers publish their counts in batches (every 250 ms): the last one may still be on its way.
  await until('/metrics counts every 5xx worker 1 saw', async () => metricSum(await metrics(serve.adminUrl), 'graylane_requests_total', 'class="5xx"') >= errorsBy['1'], 5_000);
});
