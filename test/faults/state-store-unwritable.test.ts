/**
 * The state database stops taking writes while `graylane serve` runs, as on a full disk: the
 * process's file-size limit (RLIMIT_FSIZE) is lowered to 0 with prlimit, so every write to a
 * regular file fails in the kernel (EFBIG, the way writes fail with ENOSPC on a full disk). This
 * works for root too, where chmod would not stop anything, and needs no mount.
 *
 * Then: the gateway keeps routing with the weights it had; a rollout command fails visibly (5xx with
 * the database's reason) and is not half-applied (same revision, same events, same traffic); once
 * writes work again, the same command succeeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { api, config, getRollout, send, startServe, startUpstream, tally, tempDir, waitForRollout, writeFile, type ServeChild } from '../rollout/helpers.js';

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
      rest: `
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
`,
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
