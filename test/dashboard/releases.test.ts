/**
 * The dashboard's releases panel in a real browser (Chromium via playwright-core) against the real
 * process: a release is one card with its services inside and the lane's share, and pressing
 * Promote with the admin token completes it (every service shown promoted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { api, startTestApp, startUpstream, TOKEN, writeFile } from '../rollout/helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

test('the dashboard shows a release as one card with its services inside and promotes it with the token', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir();
  const ups = await Promise.all(['a-stable', 'a-gray', 'b-stable', 'b-gray'].map((n) => startUpstream(n)));
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    [
      'listen: 127.0.0.1:0',
      'accessLog: false',
      'admin: { listen: 127.0.0.1:0 }',
      `state: { path: ${JSON.stringify(dir.file('state.db'))} }`,
      'services:',
      `  a: { versions: { stable: [${ups[0]!.url}], gray: [${ups[1]!.url}] } }`,
      `  b: { versions: { stable: [${ups[2]!.url}], gray: [${ups[3]!.url}] } }`,
      'routes:',
      '  - { name: shop, service: a, match: { pathPrefix: / } }',
      'releases:',
      '  ab: { lane: gray, services: [a, b], entry: { route: shop }, steps: [ { setWeight: 25 }, { pause: {} } ] }',
      '',
    ].join('\n'),
  );
  const app = await startTestApp(file);
  const admin = `http://127.0.0.1:${app.admin.address.port}`;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'], timeout: 30_000 });
  t.after(async () => {
    await browser.close();
    await app.close({ drainMs: 0 });
    await Promise.all(ups.map((u) => u.close()));
    await dir.remove();
  });
  await until('the release paused', async () => (await api<{ reason: string }>(admin, 'GET', '/api/v1/releases/ab')).body.reason === 'AwaitingPromotion');
  // A release is not a rollout: the rollout routes neither list nor answer it; an unknown release is 404.
  assert.equal((await api(admin, 'GET', '/api/v1/rollouts/release:ab')).status, 404);
  assert.deepEqual((await api<{ rollouts: unknown[] }>(admin, 'GET', '/api/v1/rollouts')).body.rollouts, []);
  const unknown = await api<{ error: string }>(admin, 'GET', '/api/v1/releases/nope');
  assert.deepEqual([unknown.status, unknown.body.error], [404, 'unknown_release']);
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${admin}/`);
  const card = page.locator('[data-release="ab"]');
  await card.waitFor({ timeout: 10_000 });

  // Given: one card, both services inside, the lane's share
  assert.equal(await page.locator('[data-release]').count(), 1);
  assert.deepEqual(await card.locator('tr[data-service]').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-service')}:${r.getAttribute('data-state')}`)), ['a:follows', 'b:follows']);
  assert.equal(await card.locator('[data-field="share"]').textContent(), 'gray 25%');
  assert.equal(await card.locator('[data-field="step"]').textContent(), '2/2');

  // When: Promote with the token
  await card.locator('button[data-action="promote"]').click();
  const dialog = page.locator('dialog.token-dialog');
  await dialog.waitFor();
  await dialog.locator('input[name="token"]').fill(TOKEN);
  await dialog.locator('button[value="ok"]').click();

  // Then: completed, every service promoted, and Undo offered
  await until('the release completed on the page', async () => (await card.getAttribute('data-phase')) === 'Healthy', 10_000);
  await until('both services promoted on the page', async () =>
    (await card.locator('tr[data-service]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-state')))).every((s) => s === 'promoted'), 10_000);
  assert.equal(await card.locator('button[data-action="undo"]').isEnabled(), true);
  assert.equal(await card.locator('button[data-action="promote"]').isEnabled(), false);
  assert.deepEqual(problems, []);
});
