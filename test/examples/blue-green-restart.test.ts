/**
 * The Zadig flow of examples/blue-green across a kill -9 of graylane, and with autoPromotionDelay
 * instead of a person's approval.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getRollout } from '../rollout/helpers.js';
import { alive, startFlow, ROLLOUT } from './blue-green-helpers.js';

test('Zadig flow: kill -9 of graylane during the preview; the restarted one keeps the preview, and cleanup tears blue down after an abort', async (t) => {
  const flow = await startFlow();
  t.after(() => flow.close());
  flow.hooks('deploy', 'stable', 'v1');
  await flow.command('resume');
  await flow.wait((v) => v.reason === 'AwaitingPromotion');
  const blue = (await flow.pidOf('blue'))!;

  await flow.killAndRestart();
  const after = await flow.wait(() => true);
  assert.equal(after.reason, 'AwaitingPromotion', 'the restarted controller resumes where it was');
  assert.equal(after.attempt, 1);
  // Registrations live in graylane's memory: the instances register again within their TTL.
  const deadline = Date.now() + 15_000;
  let split: Record<string, number> = {};
  while (Date.now() < deadline) {
    split = await flow.traffic(100);
    if (split['blue v2'] === 50 && split['stable v1'] === 50) break;
  }
  assert.deepEqual(split, { 'stable v1': 50, 'blue v2': 50 });

  await flow.command('abort');
  const aborted = await flow.wait((v) => v.hooks.cleanup?.state === 'finished');
  assert.equal(aborted.phase, 'Degraded');
  assert.ok(!alive(blue), 'blue was torn down');
  assert.deepEqual(await flow.traffic(20), { 'stable v1': 20 });
  assert.deepEqual(await flow.hookLog(), ['manual deploy - -', 'preRollout deploy Progressing 1', 'cleanup teardown Degraded 1'], 'no hook ran twice');
});

test('Zadig flow: with autoPromotionDelay, the preview is promoted by itself once the delay has passed', async (t) => {
  const flow = await startFlow((config) => {
    const edited = config.replace('autoPromotionEnabled: false', 'autoPromotionEnabled: true\n        autoPromotionDelay: 3s');
    assert.notEqual(edited, config);
    return edited;
  });
  t.after(() => flow.close());
  flow.hooks('deploy', 'stable', 'v1');
  await flow.command('resume');
  const waiting = await flow.wait((v) => v.reason === 'PauseStep');
  const deadline = waiting.pauseDeadline!;
  const done = await flow.wait((v) => v.phase === 'Healthy' && v.hooks.cleanup?.state === 'finished');
  assert.ok(done.hooks.postPromotion!.startedAt >= deadline, 'production was upgraded only after the delay');
  assert.ok(deadline >= done.hooks.preRollout!.finishedAt! + 3000, 'the delay counts from the preview on');
  const events = (await getRollout(flow.admin, ROLLOUT, 100)).events.map((e) => e.reason);
  assert.ok(!events.includes('Promoted'), `nobody promoted: ${events.join(', ')}`);
  assert.deepEqual(await flow.traffic(50), { 'stable v2': 50 });
  const log = await flow.hookLog();
  assert.deepEqual(log, ['manual deploy - -', 'preRollout deploy Progressing 1', 'postPromotion upgrade Progressing 1', 'cleanup teardown Healthy 1']);
});

test('Zadig flow: kill -9 of graylane while cleanup runs; the cleanup still tears blue down, and is not run a second time', async (t) => {
  const flow = await startFlow(undefined, { BG_TEARDOWN_DELAY_MS: '1500' });
  t.after(() => flow.close());
  flow.hooks('deploy', 'stable', 'v1');
  await flow.command('resume');
  await flow.wait((v) => v.reason === 'AwaitingPromotion');
  const blue = (await flow.pidOf('blue'))!;

  await flow.command('abort');
  await flow.wait((v) => v.hooks.cleanup?.state === 'started');
  await flow.killAndRestart();
  // The hook runs in its own process group: graylane's death does not stop it.
  const deadline = Date.now() + 15_000;
  while (alive(blue) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(!alive(blue), 'blue was torn down by the cleanup that graylane started before it was killed');
  const after = await flow.wait((v) => v.hooks.cleanup?.state === 'finished');
  assert.equal(after.phase, 'Degraded');
  assert.equal(after.hooks.cleanup?.interrupted, true, 'the restarted controller cannot know the outcome: it records the cleanup as interrupted');
  // Registrations live in graylane's memory: production registers again within its TTL (under load
  // that can take longer than the cleanup above).
  const registered = Date.now() + 15_000;
  let split: Record<string, number> = {};
  while (Date.now() < registered) {
    split = await flow.traffic(20);
    if (split['stable v1'] === 20) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(split, { 'stable v1': 20 });
  assert.deepEqual(await flow.hookLog(), ['manual deploy - -', 'preRollout deploy Progressing 1', 'cleanup teardown Degraded 1'], 'cleanup ran once');
});
