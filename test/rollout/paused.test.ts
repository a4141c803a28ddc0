/**
 * A rollout added to a running config with `paused: true`: given graylane serving with no rollout,
 * when the file gains a paused rollout, then it shows in `graylane rollout get` as created paused and
 * moves no traffic, and `graylane rollout resume` starts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  adminUrlOf,
  api,
  config,
  gatewayUrlOf,
  runCli,
  send,
  startTestApp,
  startUpstream,
  tally,
  waitForRollout,
  writeFile,
  TOKEN,
} from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

test('a rollout added with paused: true waits for `graylane rollout resume`, moving no traffic until then', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const file = dir.file('graylane.yaml');
  const base = { stable: stable.url, beta: beta.url, state: dir.file('state.db') };
  await writeFile(file, config({ ...base, rest: '' }));
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  const admin = adminUrlOf(app);
  const rollout = `
rollouts:
  - name: web-v2
    service: web
    canary: beta
    paused: true
    strategy:
      canary:
        steps:
          - setWeight: 30
          - pause: {}
`;
  await writeFile(file, config({ ...base, rest: rollout }));
  await until('the reload adding web-v2', async () => (await api(admin, 'GET', '/api/v1/rollouts/web-v2')).status === 200, 15_000);
  const waiting = await waitForRollout(admin, 'web-v2', (v) => v.phase === 'Paused');
  assert.equal(waiting.reason, 'PausedByUser');
  assert.equal(waiting.weight, 0);

  const get = await runCli(['rollout', 'get', 'web-v2', '--admin', admin]);
  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, /Paused \(PausedByUser\)/);
  assert.match(get.stdout, /created paused \(paused: true\): resume to start/);
  assert.match(get.stdout, /stable 100%/);

  await sleep(300); // a controller that wrongly moved on would have by now
  assert.deepEqual(tally(await send(gatewayUrlOf(app), 20)), { stable: 20 });

  const resumed = await runCli(['rollout', 'resume', 'web-v2', '--admin', admin, '--token', TOKEN]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const running = await waitForRollout(admin, 'web-v2', (v) => v.reason === 'AwaitingPromotion');
  assert.equal(running.weight, 30);
  assert.deepEqual(tally(await send(gatewayUrlOf(app), 100)), { stable: 70, beta: 30 });
});
