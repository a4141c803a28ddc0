/**
 * The state database stops taking writes while `graylane serve` runs, as on a full disk: the
 * process's file-size limit (RLIMIT_FSIZE) is lowered to 0 with prlimit, so every write to a
 * regular file fails in the kernel (EFBIG, the way writes fail with ENOSPC on a full disk). This
 * works for root too, where chmod would not stop anything, and needs no mount.
 *
 * Then: the gateway keeps routing with the weights it had; a rollout command fails visibly (5xx with
 * the database's reason) and is not half-applied (same revision, same events, same traffic); once
 * writes work again, the same command succeeds. Abort is the exception, being the emergency stop: it
 * routes at once, says it is not durable yet, and is written when the database takes writes again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { api, config, getRollout, runCli, send, startServe, startUpstream, tally, TOKEN, waitForRollout, writeFile, type ServeChild } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';

function setFileSizeLimit(pid: number, soft: string): void {
  // Only the soft limit: lowering it needs no privilege, and raising it back up to the hard limit neither.
  const r = spawnSync('prlimit', ['--pid', String(pid), `--fsize=${soft}:`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `prlimit failed: ${r.stderr}`);
}

test('state database unwritable (file-size limit 0): routing goes on, a promote fails visibly and changes nothing, then succeeds once writes work', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
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
      rest: webBetaCanary(['setWeight: 20', 'pause: {}', 'setWeight: 60', 'pause: {}']),
    }),
  );
  serve = await startServe(file, dir.path);
  const before = await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.reason === 'AwaitingPromotion');
  assert.deepEqual(tally(await send(serve.gatewayUrl, 100)), { stable: 80, beta: 20 });
  const eventsBefore = (await getRollout(serve.adminUrl, 'web-beta', 1000)).events.length;

  setFileSizeLimit(serve.child.pid!, '0');
  const refused = await api<{ error: string; message: string }>(serve.adminUrl, 'POST', '/api/v1/rollouts/web-beta/promote', {});
  assert.ok(refused.status >= 500, `the failure is visible: ${refused.status} ${JSON.stringify(refused.body)}`);
  assert.match(refused.body.message, /disk|full|I\/O|write|large/i);
  t.diagnostic(`promote while unwritable: ${refused.status} ${JSON.stringify(refused.body)}`);
  const during = await getRollout(serve.adminUrl, 'web-beta', 1000);
  assert.equal(during.revision, before.revision, 'nothing committed');
  assert.equal(during.currentStep, before.currentStep);
  assert.equal(during.events.length, eventsBefore, 'no event half-written');
  assert.deepEqual(tally(await send(serve.gatewayUrl, 100)), { stable: 80, beta: 20 }, 'routing goes on with the weights it had');

  setFileSizeLimit(serve.child.pid!, 'unlimited');
  const promoted = await api(serve.adminUrl, 'POST', '/api/v1/rollouts/web-beta/promote', {});
  assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
  await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.reason === 'AwaitingPromotion' && (v.currentStep ?? 0) > (before.currentStep ?? 0));
  assert.deepEqual(tally(await send(serve.gatewayUrl, 100)), { stable: 40, beta: 60 });
});

test('state database unwritable: abort still takes effect at once (rules naming the canary included), says it is not durable, and is written once writes work', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
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
      rest: `    identity: [header:x-user-id]
    rules:
      - { lane: beta, users: ["1001"] }
${webBetaCanary(['setWeight: 20', 'pause: {}'])}`,
    }),
  );
  serve = await startServe(file, dir.path);
  const cli = (...args: string[]) => runCli(['rollout', ...args, '--admin', serve!.adminUrl], { GRAYLANE_ADMIN_TOKEN: TOKEN });
  await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.reason === 'AwaitingPromotion');
  assert.deepEqual(tally(await send(serve.gatewayUrl, 100)), { stable: 80, beta: 20 });
  assert.deepEqual(tally(await send(serve.gatewayUrl, 5, { 'x-user-id': '1001' })), { beta: 5 });

  // When the disk is full and the rollout is aborted
  setFileSizeLimit(serve.child.pid!, '0');
  const answer = await api<{ durable: boolean; warning: string; phase: string; abortPending: { attempts: number; error: string } | null }>(
    serve.adminUrl,
    'POST',
    '/api/v1/rollouts/web-beta/abort',
    {},
  );
  t.diagnostic(`abort while unwritable: ${answer.status} ${answer.body.warning}`);

  // Then the answer says it is applied but not durable
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  assert.equal(answer.body.durable, false);
  assert.equal(answer.body.phase, 'Degraded');
  assert.match(answer.body.warning, /NOT yet durable.*(disk|I\/O|full|large)/i);
  assert.ok(answer.body.abortPending !== null && answer.body.abortPending.attempts >= 1);
  // And every request goes to stable at once, the users list naming the canary's lane included
  assert.deepEqual(tally(await send(serve.gatewayUrl, 100)), { stable: 100 });
  assert.deepEqual(tally(await send(serve.gatewayUrl, 5, { 'x-user-id': '1001' })), { stable: 5 });
  // And the CLI, the rollout view, the log and /metrics say so
  const again = await cli('abort', 'web-beta');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /web-beta: Degraded \(Aborted\)/);
  assert.match(again.stderr, /^WARNING: abort applied to routing on this gateway, but NOT yet durable/m);
  assert.match((await cli('get', 'web-beta')).stdout, /Abort:\s+PENDING PERSISTENCE/);
  assert.ok(serve.log.some((l) => l.includes('ABORT NOT YET DURABLE')), 'logged');
  const metrics = await (await request(`${serve.adminUrl}/metrics`)).body.text();
  assert.match(metrics, /^graylane_rollout_abort_pending\{rollout="web-beta",service="web"\} 1$/m);
  // And other commands wait for it
  const promote = await api<{ error: string }>(serve.adminUrl, 'POST', '/api/v1/rollouts/web-beta/promote', {});
  assert.equal(promote.status, 503);
  assert.equal(promote.body.error, 'abort_pending');

  // When writes work again
  setFileSizeLimit(serve.child.pid!, 'unlimited');
  // Then the retry writes it: an ordinary aborted status
  const written = await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.abortPending === null, 20_000);
  assert.equal(written.phase, 'Degraded');
  assert.ok(serve.log.some((l) => l.includes('abort written to the store')), 'logged');
  assert.match(await (await request(`${serve.adminUrl}/metrics`)).body.text(), /^graylane_rollout_abort_pending\{rollout="web-beta",service="web"\} 0$/m);
  assert.ok((await getRollout(serve.adminUrl, 'web-beta', 50)).events.some((e) => e.reason === 'AbortWritten'));

  // And it is durable: a kill -9 and a restart keep the canary out
  serve.child.kill('SIGKILL');
  await serve.exited;
  serve = await startServe(file, dir.path);
  assert.equal((await getRollout(serve.adminUrl, 'web-beta')).phase, 'Degraded');
  assert.deepEqual(tally(await send(serve.gatewayUrl, 50)), { stable: 50 });
  assert.deepEqual(tally(await send(serve.gatewayUrl, 5, { 'x-user-id': '1001' })), { stable: 5 });
});
