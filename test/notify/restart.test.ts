/**
 * Durability: messages queued while the receiver is down survive a kill -9 of `graylane serve`
 * (the real CLI, a child process) and arrive once the receiver is back and graylane restarted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { request } from 'undici';
import { config, startServe, startUpstream, waitForRollout, writeFile, type ServeChild } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { until } from '../support/wait.js';
import { closedPort, metric, startReceiver, type Receiver } from './helpers.js';
import { webBetaCanary } from '../support/rollouts.js';

const SECRET = 'restart-hook-secret-Kp93';

test('queued while the receiver is down, kill -9, receiver back, restart: every message arrives, signed', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const port = await closedPort();
  const children: ServeChild[] = [];
  let rx: Receiver | undefined;
  process.env.GL_TEST_RESTART_SECRET = SECRET;
  t.after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await stable.close();
    await beta.close();
    await rx?.close();
    await dir.remove();
    delete process.env.GL_TEST_RESTART_SECRET;
  });
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    config({
      stable: stable.url,
      beta: beta.url,
      state: dir.file('state.db'),
      rest: `${webBetaCanary(['setWeight: 20', 'pause: {}'])}notifications:
  targets:
    hook: { kind: webhook, url: "http://127.0.0.1:${port}/hook", secret: { env: GL_TEST_RESTART_SECRET } }
  subscriptions: [ { targets: [hook] } ]
  delivery: { attempts: 100, backoff: 100ms, maxBackoff: 300ms }
`,
    }),
  );

  // Given graylane running a rollout to its approval pause while the receiver is down
  const first = await startServe(file, dir.path);
  children.push(first);
  await waitForRollout(first.adminUrl, 'web-beta', (v) => v.reason === 'AwaitingPromotion');
  const scrape = async (url: string): Promise<string> => (await request(`${url}/metrics`)).body.text();
  await until('messages queued and tried', async () => {
    const m = await scrape(first.adminUrl);
    return metric(m, 'graylane_notifications_queued') >= 3 && metric(m, 'graylane_notifications_sent_total', { target: 'hook', outcome: 'failed' }) >= 1;
  }, 15_000);

  // When it is killed with SIGKILL, the receiver comes back, and graylane restarts
  first.child.kill('SIGKILL');
  assert.equal(await first.exited, null);
  rx = await startReceiver(port);
  const second = await startServe(file, dir.path);
  children.push(second);

  // Then every queued message arrives, signed, each once
  await until('RolloutStarted, StepStarted and AwaitingPromotion delivered', () => ['RolloutStarted', 'StepStarted', 'AwaitingPromotion'].every((e) => rx!.at('/hook').some((r) => r.headers['x-graylane-event'] === e)), 20_000);
  await until('the queue is empty', async () => metric(await scrape(second.adminUrl), 'graylane_notifications_queued') === 0, 10_000);
  const ids = rx.at('/hook').map((r) => String(r.headers['x-graylane-delivery']));
  assert.equal(new Set(ids).size, ids.length, 'no message twice');
  for (const r of rx.at('/hook')) {
    const ts = String(r.headers['x-graylane-timestamp']);
    assert.equal(r.headers['x-graylane-signature'], `sha256=${crypto.createHmac('sha256', SECRET).update(`${ts}.${r.body}`).digest('hex')}`);
  }
  for (const line of [...first.log, ...second.log]) assert.ok(!line.includes(SECRET), 'the secret is not logged');
});
