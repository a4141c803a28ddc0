/**
 * Approval links end to end: the AwaitingPromotion message carries a promote and an abort link;
 * GET shows a page and changes nothing (chat apps preview links); POST promotes once; the second
 * use, a tampered link, and a link for a step that has passed are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { adminUrlOf, api, config, getRollout, startTestApp, startUpstream, waitForRollout, writeFile } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { until } from '../support/wait.js';
import { startReceiver, type Receiver } from './helpers.js';
import { webBetaCanary } from '../support/rollouts.js';

async function post(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(url, { method: 'POST' });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

/** The links of the n-th AwaitingPromotion webhook message, rewritten to the admin API's real address. */
async function linksOf(rx: Receiver, n: number, admin: string): Promise<{ promote: string; abort: string; step: number }> {
  const awaiting = (): { links: { promote: string; abort: string }; step: number }[] =>
    rx.at('/hook').map((r) => JSON.parse(r.body) as { event: string; links: { promote: string; abort: string }; step: number }).filter((b) => b.event === 'AwaitingPromotion');
  await until(`approval message ${n}`, () => awaiting().length >= n, 10_000);
  const b = awaiting()[n - 1]!;
  const local = (u: string): string => u.replace('https://graylane.example', admin);
  return { promote: local(b.links.promote), abort: local(b.links.abort), step: b.step };
}

test('approval links: GET does not act, POST promotes once, replays, tampering and stale steps are refused', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const rx = await startReceiver();
  process.env.GL_TEST_LINK_KEY = 'link-key-Ab12Cd34';
  process.env.GL_TEST_HOOK_SECRET2 = 'hook-secret';
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    config({
      stable: stable.url,
      beta: beta.url,
      state: dir.file('state.db'),
      rest: `${webBetaCanary(['setWeight: 10', 'pause: {}', 'setWeight: 30', 'pause: {}', 'setWeight: 60', 'pause: {}'])}notifications:
  targets:
    hook: { kind: webhook, url: "${rx.url}/hook", secret: { env: GL_TEST_HOOK_SECRET2 } }
  subscriptions:
    - { targets: [hook], events: [AwaitingPromotion] }
  delivery: { backoff: 50ms, maxBackoff: 100ms }
  approvalLinks: { baseUrl: "https://graylane.example", key: { env: GL_TEST_LINK_KEY }, ttl: 10m }
`,
    }),
  );
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await rx.close();
    await dir.remove();
    delete process.env.GL_TEST_LINK_KEY;
    delete process.env.GL_TEST_HOOK_SECRET2;
  });
  const admin = adminUrlOf(app);

  // Given the rollout waiting at its first pause (step index 1), and the message with its links
  await waitForRollout(admin, 'web-beta', (v) => v.currentStep === 1 && v.reason === 'AwaitingPromotion');
  const first = await linksOf(rx, 1, admin);
  assert.equal(first.step, 1);
  assert.match(first.promote, /\/approve\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);

  // GET (what a chat app's link preview does) answers a confirmation page and changes nothing
  const page = await request(first.promote);
  const html = await page.body.text();
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
  assert.match(html, /<form method="post">/);
  assert.equal((await getRollout(admin, 'web-beta')).currentStep, 1, 'GET did not promote');

  // The first pause is promoted through the admin API instead: the first link is now for a passed step
  assert.equal((await api(admin, 'POST', '/api/v1/rollouts/web-beta/promote', {})).status, 200);
  await waitForRollout(admin, 'web-beta', (v) => v.currentStep === 3 && v.reason === 'AwaitingPromotion');
  const stale = await post(first.promote);
  assert.equal(stale.status, 409);
  assert.equal(stale.body.error, 'stale_link');

  // The second pause's link: a tampered copy is refused, the real one promotes once, a replay is refused
  const second = await linksOf(rx, 2, admin);
  assert.equal(second.step, 3);
  const [payload, sig] = second.promote.split('/approve/')[1]!.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), s: 5 })).toString('base64url');
  const tampered = await post(`${admin}/approve/${forged}.${sig}`);
  assert.equal(tampered.status, 403);
  assert.equal(tampered.body.error, 'bad_link');
  assert.equal((await getRollout(admin, 'web-beta')).currentStep, 3);

  // Five copies of the link at once (a double click, a retrying proxy): exactly one acts.
  const tries = await Promise.all([1, 2, 3, 4, 5].map(() => post(second.promote)));
  assert.deepEqual(tries.map((r) => r.status).sort(), [200, 409, 409, 409, 409], JSON.stringify(tries.map((r) => r.body)));
  assert.equal(tries.find((r) => r.status === 200)!.body.action, 'promote');
  await waitForRollout(admin, 'web-beta', (v) => v.currentStep === 5 && v.reason === 'AwaitingPromotion');
  const replay = await post(second.promote);
  assert.equal(replay.status, 409);
  assert.equal(replay.body.error, 'link_used');
  // Its abort twin shares the message's nonce: one message, one decision.
  const twin = await post(second.abort);
  assert.equal(twin.body.error, 'link_used');
  assert.equal((await getRollout(admin, 'web-beta')).phase, 'Paused', 'nothing aborted it, and the last pause was not skipped');

  // The third pause's abort link aborts, once
  const third = await linksOf(rx, 3, admin);
  const aborted = await post(third.abort);
  assert.equal(aborted.status, 200);
  assert.equal((await getRollout(admin, 'web-beta')).phase, 'Degraded');
  assert.equal((await post(third.abort)).status, 409);
});

test('approval links are off by default: /approve answers 404 and messages carry no links', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const rx = await startReceiver();
  process.env.GL_TEST_HOOK_SECRET3 = 'hook-secret';
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    config({
      stable: stable.url,
      beta: beta.url,
      state: dir.file('state.db'),
      rest: `rollouts:
  - { name: web-beta, service: web, canary: beta, strategy: { canary: { steps: [ { setWeight: 10 }, { pause: {} } ] } } }
notifications:
  targets:
    hook: { kind: webhook, url: "${rx.url}/hook", secret: { env: GL_TEST_HOOK_SECRET3 } }
  subscriptions: [ { targets: [hook] } ]
`,
    }),
  );
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await rx.close();
    await dir.remove();
    delete process.env.GL_TEST_HOOK_SECRET3;
  });
  const admin = adminUrlOf(app);
  await until('the AwaitingPromotion message', () => rx.at('/hook').some((r) => r.headers['x-graylane-event'] === 'AwaitingPromotion'), 10_000);
  const body = JSON.parse(rx.at('/hook').find((r) => r.headers['x-graylane-event'] === 'AwaitingPromotion')!.body) as { links: unknown };
  assert.equal(body.links, null);
  assert.equal((await post(`${admin}/approve/abc.def`)).status, 404);
});
