/**
 * Blue-green end to end (the Zadig workflow): a preRollout hook, the preview at 50%, a pre-promotion
 * job, approval by promote, the switch, and the cleanup hook exactly once, however the attempt ends.
 * Hooks append a line to a file, so "exactly once" is a line count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  adminUrlOf,
  api,
  config,
  gatewayUrlOf,
  send,
  startTestApp,
  startUpstream,
  tally,
  waitForRollout,
  writeFile,
} from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

async function setup(jobExit: number) {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const hookLog = dir.file('hooks.log');
  const file = dir.file('graylane.yaml');
  const append = (what: string) => JSON.stringify(`echo "${what} $GRAYLANE_PHASE $GRAYLANE_ATTEMPT" >> '${hookLog}'`);
  await writeFile(
    file,
    config({
      stable: stable.url,
      beta: beta.url,
      state: dir.file('state.db'),
      rest: `
rollouts:
  - name: web-bg
    service: web
    strategy:
      blueGreen:
        previewLane: beta
        previewWeight: 50
        prePromotionAnalysis: { templates: [smoke] }
        autoPromotionEnabled: false
        hooks:
          preRollout: { command: ${append('preRollout')}, timeout: 10s }
          cleanup: { command: ${append('cleanup')}, timeout: 10s }
analysisTemplates:
  smoke:
    provider: { job: { command: "exit ${jobExit}", timeout: 10s } }
`,
    }),
  );
  const app = await startTestApp(file);
  return {
    /** Rewrites the config with a comment added: a reload with the same rollout. */
    async touchConfig(): Promise<void> {
      await writeFile(file, `${await readFile(file, 'utf8')}# touched\n`);
    },
    admin: adminUrlOf(app),
    gateway: gatewayUrlOf(app),
    /** Lines the hooks wrote, by hook name. */
    async hookLines(): Promise<string[]> {
      return (await readFile(hookLog, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    },
    async close() {
      await app.close({ drainMs: 0 });
      await stable.close();
      await beta.close();
      await dir.remove();
    },
  };
}

test('blue-green: preview gets 50%, the pre-promotion job passes, promotion switches, cleanup runs exactly once', async (t) => {
  const s = await setup(0);
  t.after(() => s.close());

  // Given the preview is deployed (preRollout ran) and checked, waiting for approval
  let v = await waitForRollout(s.admin, 'web-bg', (x) => x.reason === 'AwaitingPromotion', 15_000);
  assert.deepEqual(
    v.steps.map((st) => `${st.state} ${st.description}`),
    ['done hook preRollout', 'done setWeight 50', 'done analysis smoke', 'current pause (until promoted)', 'pending switch web to beta'],
  );
  assert.equal(v.hooks.preRollout?.ok, true);
  assert.equal(v.analysisRuns[0]?.phase, 'Successful');
  // Then the preview gets exactly half of the traffic
  assert.deepEqual(v.traffic, { stable: 50, beta: 50 });
  assert.deepEqual(tally(await send(s.gateway, 100)), { stable: 50, beta: 50 });

  // When a person approves
  assert.equal((await api(s.admin, 'POST', '/api/v1/rollouts/web-bg/promote', {})).status, 200);

  // Then the new version takes over and the cleanup hook runs once, after the end
  v = await waitForRollout(s.admin, 'web-bg', (x) => x.phase === 'Healthy' && x.hooks.cleanup?.state === 'finished', 15_000);
  assert.equal(v.hooks.cleanup?.ok, true);
  assert.deepEqual(tally(await send(s.gateway, 20)), { beta: 20 });
  // (a reload makes the controller look at the rollout again: it must not run cleanup again)
  await s.touchConfig();
  await until('the reload', async () => (await api<{ reloads: number }>(s.admin, 'GET', '/api/v1/config')).body.reloads === 1, 5000);
  await sleep(300);
  assert.deepEqual(await s.hookLines(), ['preRollout Progressing 1', 'cleanup Healthy 1']);
});

test('blue-green: a failing pre-promotion job aborts, traffic goes back to stable, cleanup still runs exactly once', async (t) => {
  const s = await setup(1);
  t.after(() => s.close());

  // When the job fails
  const v = await waitForRollout(s.admin, 'web-bg', (x) => x.phase === 'Degraded' && x.hooks.cleanup?.state === 'finished', 15_000);

  // Then the rollout is aborted by itself with the job's verdict, and the preview gets nothing
  assert.equal(v.reason, 'AnalysisFailed');
  assert.match(v.message, /smoke/);
  assert.deepEqual(v.traffic, { stable: 100 });
  assert.deepEqual(tally(await send(s.gateway, 20)), { stable: 20 });
  assert.equal(v.steps[2]?.state, 'aborted');
  // And cleanup ran once, told that the attempt is Degraded
  await sleep(300);
  assert.deepEqual(await s.hookLines(), ['preRollout Progressing 1', 'cleanup Degraded 1']);
});
