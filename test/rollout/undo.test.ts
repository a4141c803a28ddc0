/**
 * `rollout undo` end to end: a canary completes (beta serves the stable lane), undo through the CLI
 * puts the previous stable back at once, and once the spec's stable endpoints change, undo refuses
 * with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminUrlOf, api, config, gatewayUrlOf, runCli, send, startTestApp, startUpstream, tally, TOKEN, waitForRollout, writeFile } from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary, WEB_BETA } from '../support/rollouts.js';

test('given a completed canary, when `rollout undo` runs within the window, then stable serves again at once; once stable is re-pointed, undo refuses and says why', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const other = await startUpstream('stable-v2');
  const file = dir.file('graylane.yaml');
  const rest = webBetaCanary(['setWeight: 50', 'setWeight: 100']);
  await writeFile(file, config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest }));
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await Promise.all([stable, beta, other].map((u) => u.close()));
    await dir.remove();
  });
  const admin = adminUrlOf(app);
  const gateway = gatewayUrlOf(app);
  const cli = (...args: string[]) => runCli(['rollout', ...args, '--admin', admin], { GRAYLANE_ADMIN_TOKEN: TOKEN });

  // given: completed, beta serves the stable lane; the view says until when undo is possible
  const done = await waitForRollout(admin, WEB_BETA, (v) => v.phase === 'Healthy');
  assert.deepEqual(done.previousStable, { version: 'stable', endpoints: [stable.url] });
  assert.ok(done.undoUntil !== null && done.undoUntil > Date.now() + 29 * 60_000);
  assert.deepEqual(tally(await send(gateway, 10)), { beta: 10 });
  const got = await cli('get', WEB_BETA);
  assert.match(got.stdout, /Undo:\s+until .* left\): puts stable \[http:\/\/127\.0\.0\.1:\d+\] back/);

  // when: undo through the CLI
  const undone = await cli('undo', WEB_BETA);
  assert.equal(undone.code, 0, undone.stderr);
  assert.match(undone.stdout, /web-beta: Degraded \(Undone\): undone: stable .* serves web's stable lane again/);
  // then: the very next requests go to the previous stable; beta gets nothing
  assert.deepEqual(tally(await send(gateway, 10)), { stable: 10 });
  const again = await cli('undo', WEB_BETA);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already undone/);

  // given a new attempt that completes, when the spec re-points stable at new endpoints, then undo refuses
  assert.equal((await api(admin, 'POST', `/api/v1/rollouts/${WEB_BETA}/retry`, {})).status, 200);
  await waitForRollout(admin, WEB_BETA, (v) => v.phase === 'Healthy' && v.attempt === 2);
  await writeFile(file, config({ stable: other.url, beta: beta.url, state: dir.file('state.db'), rest }));
  await until('the reload', () => app.spec().services['web']!.versions['stable']!.endpoints[0] === other.url);
  const refused = await api<{ error: string; message: string }>(admin, 'POST', `/api/v1/rollouts/${WEB_BETA}/undo`, {});
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error, 'undo_refused');
  assert.match(refused.body.message, /stable endpoints changed since completion \(then \[http:\/\/127\.0\.0\.1:\d+\], now \[http:\/\/127\.0\.0\.1:\d+\]\)/);
  assert.deepEqual(tally(await send(gateway, 6)), { beta: 6 }, 'a refused undo changes nothing');
});
