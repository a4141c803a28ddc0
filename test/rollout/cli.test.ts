/**
 * The `graylane rollout` CLI as a real child process against a running server: a person's pause
 * released by `promote`, a refusal printed with the API's reason (exit 1), and get / list / watch.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  adminUrlOf,
  api,
  CLI,
  config,
  gatewayUrlOf,
  runCli,
  send,
  startTestApp,
  startUpstream,
  tally,
  TOKEN,
  waitForRollout,
  writeFile,
} from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';

test('a manual pause is released by `graylane rollout promote`; a refused command prints the reason and exits 1', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    config({
      stable: stable.url,
      beta: beta.url,
      state: dir.file('state.db'),
      rest: webBetaCanary(['setWeight: 25', 'pause: {}', 'setWeight: 75']),
    }),
  );
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  const admin = adminUrlOf(app);
  const env = { GRAYLANE_ADMIN: admin, GRAYLANE_ADMIN_TOKEN: TOKEN };

  // Given the rollout waits for a person
  await waitForRollout(admin, 'web-beta', (v) => v.reason === 'AwaitingPromotion');
  const got = await runCli(['rollout', 'get', 'web-beta'], env);
  assert.equal(got.code, 0, got.stderr);
  assert.match(got.stdout, /Status:\s+॥ Paused \(AwaitingPromotion\)/);
  assert.match(got.stdout, /► {2}2 {2}pause \(until promoted\) {3}waiting for promote/);
  assert.match(got.stdout, /Traffic:\s+stable 75% {2}beta 25%/);

  // When a person runs `graylane rollout promote` without the token, it is refused and nothing moves
  const refused = await runCli(['rollout', 'promote', 'web-beta', '--admin', admin]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.trim(), 'graylane: missing or wrong bearer token: no admin token was given; pass --token TOKEN or set GRAYLANE_ADMIN_TOKEN to the token graylane serve was started with');
  const wrong = await runCli(['rollout', 'promote', 'web-beta', '--admin', admin, '--token', 'not-the-token']);
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stderr.trim(), 'graylane: missing or wrong bearer token: the token given (--token or GRAYLANE_ADMIN_TOKEN) is not the one graylane serve was started with');
  // The API itself says how to send one, for callers other than the CLI.
  const raw = await api(admin, 'POST', '/api/v1/rollouts/web-beta/promote', {}, null);
  assert.deepEqual([raw.status, raw.body], [401, { error: 'unauthorized', message: 'missing or wrong bearer token: send the admin token graylane serve was started with as "Authorization: Bearer TOKEN"' }]);
  assert.equal((await waitForRollout(admin, 'web-beta', () => true)).reason, 'AwaitingPromotion');

  // When they run it with the token
  const promoted = await runCli(['rollout', 'promote', 'web-beta'], env);
  assert.equal(promoted.code, 0, promoted.stderr);

  // Then the rollout goes on to the end
  const v = await waitForRollout(admin, 'web-beta', (x) => x.phase === 'Healthy');
  assert.deepEqual(v.traffic, { beta: 100 });
  assert.deepEqual(tally(await send(gatewayUrlOf(app), 10)), { beta: 10 });

  // And promoting the completed rollout is refused with the API's reason, exit 1
  const again = await runCli(['rollout', 'promote', 'web-beta'], env);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /cannot promote rollout web-beta: it has completed/);
  const bad = await runCli(['rollout', 'set-weight', 'web-beta', '150'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /weight must be a whole number from 0 to 100, not 150/);

  const list = await runCli(['rollout', 'list'], env);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^NAME +SERVICE +STRATEGY +PHASE +STEP +TRAFFIC +MESSAGE\nweb-beta +web +canary +Healthy +3\/3 +beta 100%/);
  const events = await runCli(['rollout', 'events', 'web-beta'], env);
  assert.match(events.stdout, /Promoted/);
});

/**
 * A served config whose rollout web-beta has `steps` and waits at its first pause, and `graylane
 * rollout get web-beta --watch` on a pipe polling it every `intervalMs`; `out()` is what it printed.
 */
async function watchedRollout(t: TestContext, steps: string, intervalMs: number): Promise<{ admin: string; out(): string; watcher: ChildProcess }> {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
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
    strategy: { canary: { steps: [ ${steps} ] } }
`,
    }),
  );
  const app = await startTestApp(file);
  const admin = adminUrlOf(app);
  await waitForRollout(admin, 'web-beta', (v) => v.reason === 'AwaitingPromotion');
  const watcher = spawn(process.execPath, [CLI, 'rollout', 'get', 'web-beta', '--watch', '--interval', String(intervalMs), '--admin', admin], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(async () => {
    if (watcher.exitCode === null) watcher.kill('SIGKILL');
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  let out = '';
  watcher.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  await until('the first view', () => out.includes('Events:'), 10_000);
  return { admin, out: () => out, watcher };
}

test('`graylane rollout get --watch` on a pipe prints the view once, then each change as a line', async (t) => {
  const { admin, out, watcher } = await watchedRollout(t, '{ setWeight: 10 }, { pause: {} }, { setWeight: 40 }, { pause: {} }', 100);
  assert.ok(!out().includes('\x1b['), 'no terminal control codes on a pipe');

  await fetch(`${admin}/api/v1/rollouts/web-beta/promote`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  await until('the status line', () => /Paused \(AwaitingPromotion\) {2}step 4\/4 {2}stable 60% {2}beta 40%/.test(out()), 10_000);
  assert.match(out(), /Normal {3}Promoted/);
  assert.match(out(), /WeightSet +step 3\/4 \(setWeight 40\)/);
  watcher.kill('SIGINT');
  await until('the watcher to stop', () => watcher.exitCode !== null, 5000);
  assert.equal(watcher.exitCode, 0);
});

test('`graylane rollout get --watch` on a pipe prints every event of a burst between two polls', async (t) => {
  // Fifteen setWeight steps after the first pause: promoting walks them all at once, far more
  // events than the 10 the view shows, well inside one 2 s poll.
  const weights = Array.from({ length: 15 }, (_, i) => `{ setWeight: ${(i + 1) * 5} }`).join(', ');
  const { admin, out, watcher } = await watchedRollout(t, `{ pause: {} }, ${weights}, { pause: {} }`, 2000);
  const firstView = out().length;
  await fetch(`${admin}/api/v1/rollouts/web-beta/promote`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  await waitForRollout(admin, 'web-beta', (v) => v.reason === 'AwaitingPromotion' && v.currentStep === 16);
  await until('the status line of the last pause', () => /step 17\/17/.test(out().slice(firstView)), 10_000);
  const lines = out().slice(firstView).split('\n');
  for (let i = 1; i <= 15; i++) {
    assert.equal(lines.filter((l) => new RegExp(`WeightSet +step ${i + 1}/17 \\(setWeight ${i * 5}\\)`).test(l)).length, 1, `step ${i + 1} printed once`);
  }
  watcher.kill('SIGINT');
  await until('the watcher to stop', () => watcher.exitCode !== null, 5000);
});

test('`get --watch --interval 0` is refused before polling, naming the flag, for rollouts and releases alike', async () => {
  // No server: the flag is checked before the admin API is called (a watch would retry it forever).
  for (const group of ['rollout', 'release']) {
    const r = await runCli([group, 'get', 'web-beta', '--watch', '--interval', '0', '--admin', 'http://127.0.0.1:9']);
    assert.equal(r.code, 1, `${group}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /option '--interval <ms>' argument '0' is invalid\. expected a whole number >= 1/);
  }
});
