/**
 * The Zadig blue-green flow end to end, on examples/blue-green as it ships: real processes for
 * production and blue (app.mjs, registering themselves), hooks that really start and stop them,
 * every command through the `graylane` CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alive, startFlow, ROLLOUT } from './blue-green-helpers.js';

test('Zadig flow: added paused, resumed, blue deployed by preRollout with 50% of 100 requests, approved by CLI, production upgraded in place, blue torn down', async (t) => {
  const flow = await startFlow();
  t.after(() => flow.close());

  // Given production v1, deployed by hand before the rollout is resumed.
  flow.hooks('deploy', 'stable', 'v1');
  const v1 = (await flow.pidOf('stable'))!;
  assert.deepEqual(await flow.traffic(20), { 'stable v1': 20 });
  const created = await flow.wait(() => true);
  assert.equal(created.reason, 'PausedByUser', created.message);
  assert.deepEqual(await flow.hookLog(), ['manual deploy - -']);

  // When resumed: preRollout deploys blue, and the preview gets half the traffic.
  await flow.cli('rollout', 'resume', ROLLOUT);
  const preview = await flow.wait((v) => v.reason === 'AwaitingPromotion');
  assert.equal(preview.hooks.preRollout?.state, 'finished');
  const blue = (await flow.pidOf('blue'))!;
  assert.ok(alive(blue), 'blue runs');
  assert.deepEqual(await flow.traffic(100), { 'stable v1': 50, 'blue v2': 50 });

  // Approved through the CLI: postPromotion upgrades production in place, cleanup tears blue down.
  await flow.cli('rollout', 'promote', ROLLOUT);
  const done = await flow.wait((v) => v.phase === 'Healthy' && v.hooks.cleanup?.state === 'finished');
  assert.equal(done.hooks.cleanup?.ok, true, `${done.hooks.cleanup?.message}\n${done.hooks.cleanup?.output}`);
  assert.deepEqual(await flow.traffic(100), { 'stable v2': 100 });
  assert.ok(!alive(blue), 'blue was torn down');
  assert.ok(!alive(v1), 'production v1 was replaced');
  assert.ok(alive((await flow.pidOf('stable'))!), 'production v2 runs');
  assert.equal(await flow.pidOf('blue'), null);
  assert.deepEqual(await flow.hookLog(), [
    'manual deploy - -',
    'preRollout deploy Progressing 1',
    'postPromotion upgrade Progressing 1',
    'cleanup teardown Healthy 1',
  ]);
});

test('Zadig flow: an abort puts every request back on production at once, and cleanup tears blue down', async (t) => {
  const flow = await startFlow();
  t.after(() => flow.close());
  flow.hooks('deploy', 'stable', 'v1');
  await flow.command('resume');
  await flow.wait((v) => v.reason === 'AwaitingPromotion');
  const blue = (await flow.pidOf('blue'))!;
  assert.deepEqual(await flow.traffic(100), { 'stable v1': 50, 'blue v2': 50 });

  await flow.command('abort');
  assert.deepEqual(await flow.traffic(100), { 'stable v1': 100 }, 'abort is immediate');
  const aborted = await flow.wait((v) => v.hooks.cleanup?.state === 'finished');
  assert.equal(aborted.phase, 'Degraded');
  assert.ok(!alive(blue), 'blue was torn down');
  assert.equal(await flow.pidOf('blue'), null);
  assert.deepEqual(await flow.hookLog(), ['manual deploy - -', 'preRollout deploy Progressing 1', 'cleanup teardown Degraded 1']);
});
