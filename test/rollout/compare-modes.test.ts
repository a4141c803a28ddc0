/**
 * Builtin `compare` where the counts are summed: `graylane serve --workers 2` (each worker counts,
 * the primary sums their batches) and clustered mode (`--store etcd://`, the controller sums the
 * gateways' documents in etcd). In each, a canary with twice stable's errors is aborted by the
 * comparison, whose sample is exactly the split requests the clients saw each version answer
 * (the header-routed ones left out). Before, both measured an Error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdForFile, freshPrefix } from '../cluster/helpers.js';
import { apply } from '../cluster/serve-helpers.js';
import { tempDir } from '../support/temp.js';
import { sleep } from '../support/wait.js';
import { COMPARE_ROLLOUT, load, PER_VERSION, upstream } from './compare-helpers.js';
import { api, config, spawnServe, waitForRollout, writeFile, type ServeChild } from './helpers.js';

const etcd = etcdForFile();
const TARGETED = 100;

async function runCase(t: { after(fn: () => Promise<void>): void }, start: (file: string, cwd: string) => Promise<ServeChild>): Promise<void> {
  const dir = await tempDir();
  // Stable: 5% errors; the canary 10%, which 500 requests each make detectable at alpha 0.05.
  const stable = await upstream('stable', 20, 0);
  const beta = await upstream('beta', 10, 0);
  let serve: ServeChild | undefined;
  t.after(async () => {
    if (serve && serve.child.exitCode === null) serve.child.kill('SIGTERM');
    await serve?.exited;
    await Promise.all([stable.close(), beta.close(), dir.remove()]);
  });
  const file = dir.file('graylane.yaml');
  await writeFile(file, config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest: COMPARE_ROLLOUT }));
  serve = await start(file, dir.path);
  await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.currentStep === 1 && v.reason === 'AwaitingPromotion', 20_000);
  // Header-routed requests all fail: counted, they would be a third of the canary's sample.
  assert.deepEqual(await load(serve.gatewayUrl, TARGETED, { 'x-canary': 'yes' }), { beta: TARGETED });
  // Each worker (or gateway) splits its own share 50:50, so the totals are near, not exactly, half.
  const seen = await load(serve.gatewayUrl, 2 * PER_VERSION);
  assert.equal(seen.stable! + seen.beta!, 2 * PER_VERSION);
  // The last counts reach the summing side within a publish interval (250 ms workers, 1 s gateways).
  await sleep(2500);
  assert.equal((await api(serve.adminUrl, 'POST', '/api/v1/rollouts/web-beta/promote', {})).status, 200);
  const done = await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.phase === 'Healthy' || v.phase === 'Degraded', 20_000);
  const run = done.analysisRuns.find((r) => r.kind === 'step')!;
  const m = run.metrics[0]!.measurements.at(-1)!;
  assert.equal(m.phase, 'Failed', `${m.phase}: ${m.message}`);
  assert.equal(done.phase, 'Degraded', done.message);
  const value = m.value as { canary: { requests: number; errors: number }; stable: { requests: number; errors: number } };
  assert.equal(value.canary.requests, seen.beta, 'the canary sample: the split requests, not the header-routed ones');
  assert.equal(value.stable.requests, seen.stable);
  assert.match(m.message ?? '', /errors \d+\.\d+% vs \d+\.\d+% \(z, p=[0-9.e-]+ WORSE\)/);
}

test('compare with workers: the primary judges the sum of its workers’ random-only counts', async (t) => {
  await runCase(t, (file, cwd) => spawnServe(['-c', file, '--workers', '2', '--log-format', 'json'], cwd));
});

test('compare in clustered mode: the controller judges the random-only counts the gateways publish to etcd', async (t) => {
  const server = await etcd();
  const prefix = freshPrefix();
  await runCase(t, async (file, cwd) => {
    const applied = await apply(server.endpoint, prefix, file);
    assert.equal(applied.code, 0, applied.stderr);
    const endpoint = server.endpoint.replace(/^http:\/\//, '');
    return spawnServe(
      ['--store', `etcd://${endpoint}`, '--prefix', prefix, '--name', 'gw', '--cache-dir', `${cwd}/cache`, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--no-access-log', '--log-format', 'json'],
      cwd,
    );
  });
});
