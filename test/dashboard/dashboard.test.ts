/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against the real
 * process: per-version numbers rise with traffic, a rollout is promoted from the page after the
 * admin token is entered (a wrong token shows the API's refusal and changes nothing), and the
 * explain box answers; in clustered mode (three `graylane serve --store` processes on a real etcd)
 * the gateways panel lists every gateway, and a frozen one turns stale, then goes. Screenshots go to a temporary directory, or to docs/images/ (the README's)
 * with UPDATE_SCREENSHOTS=1, so `npm test` leaves the repository as it found it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { request } from 'undici';
import type { App } from '../../src/app.js';
import { adminUrlOf, api, backgroundTraffic, config, gatewayUrlOf, getRollout, startTestApp, startUpstream, TOKEN, waitForRollout, writeFile } from '../rollout/helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';
import { GATEWAY_LEASE_SEC, STALE_AFTER_MS } from '../../src/metrics/gateways.js';
import { etcdForFile } from '../cluster/helpers.js';
import { isLeading } from '../cluster/serve-helpers.js';
import { sendTo, startViewCluster } from '../cluster/view-helpers.js';

const etcd = etcdForFile();

const IMAGES =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? new URL('../../../docs/images/', import.meta.url).pathname
    : `${mkdtempSync(join(tmpdir(), 'graylane-screens-'))}/`;

const REST = `    rules:
      - { name: beta-testers, lane: beta, header: { name: x-beta, equals: "1" } }
      - { name: new-app, lane: beta, appVersion: { header: x-app-version, range: ">=2.3.0" } }
${webBetaCanary(['setWeight: 20', 'pause: {}', 'setWeight: 50', 'pause: {}', 'setWeight: 100'])}`;

function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    timeout: 30_000,
  });
}

/**
 * Registers closers right after each thing is opened, so a set-up that fails halfway (Chromium
 * missing or failing to launch) still closes what it opened, instead of leaving the process alive.
 * They run last first, each even when an earlier one throws.
 */
function closeAfter(t: TestContext): (close: () => unknown) => void {
  const closers: (() => unknown)[] = [];
  t.after(async () => {
    const failures: unknown[] = [];
    for (const close of closers.reverse()) await Promise.resolve().then(close).catch((err: unknown) => failures.push(err));
    if (failures.length > 0) throw failures[0];
  });
  return (close) => closers.push(close);
}

/** A number shown in the services table, e.g. the `requests` of web/stable. */
async function cell(page: Page, version: string, field: string): Promise<number> {
  const text = await page.locator(`[data-service="web"] tr[data-version="${version}"] [data-field="${field}"]`).textContent();
  return Number(String(text).replace(/[^0-9.]/g, ''));
}

/** Index of the rollout's step marked current on the page. */
async function currentStep(page: Page): Promise<number> {
  const states = await page.locator('[data-rollout="web-beta"] li.step').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-state')));
  return states.indexOf('current');
}

test('the dashboard shows traffic per version, promotes a rollout with the token, and explains a request', { timeout: 120_000 }, async (t) => {
  const onClose = closeAfter(t);
  const dir = await tempDir();
  onClose(() => dir.remove());
  const stable = await startUpstream('stable');
  onClose(() => stable.close());
  const beta = await startUpstream('beta');
  onClose(() => beta.close());
  const file = dir.file('graylane.yaml');
  await writeFile(file, config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest: REST }));
  const app: App = await startTestApp(file);
  onClose(() => app.close({ drainMs: 0 }));
  const admin = adminUrlOf(app);
  const browser = await launch();
  onClose(() => browser.close());
  const traffic = backgroundTraffic(gatewayUrlOf(app));
  onClose(() => traffic.stop());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // The browser logs every 4xx answer itself; the wrong token's 401 is one this test asks for.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
  });

  // Given the dashboard open while traffic flows and the rollout waits at its first pause.
  await waitForRollout(admin, 'web-beta', (v) => v.reason === 'AwaitingPromotion' && v.currentStep === 1);
  await page.goto(`${admin}/`);
  await page.locator('#status.live').waitFor({ timeout: 10_000 });
  await page.locator('[data-service="web"] tr[data-version="beta"]').waitFor({ timeout: 10_000 });
  // The config panel names the state store and says it answers
  assert.match((await page.locator('[data-field="store"]').textContent()) ?? '', /state\.db up · this process drives the rollouts/);

  // Then the numbers of both versions rise.
  const before = { stable: await cell(page, 'stable', 'requests'), beta: await cell(page, 'beta', 'requests') };
  await until('requests of both versions rising on the page', async () => (await cell(page, 'stable', 'requests')) > before.stable + 20 && (await cell(page, 'beta', 'requests')) > before.beta + 5, 15_000);
  assert.ok((await cell(page, 'stable', 'rps')) > 0);
  assert.ok((await cell(page, 'beta', 'rps')) > 0);
  assert.equal(await currentStep(page), 1);
  assert.equal(await page.locator('[data-rollout="web-beta"] [data-field="step"]').textContent(), '2/5');
  await page.locator('[data-service="web"] svg.split-chart path.area[data-version="beta"]').first().waitFor({ timeout: 10_000 });

  // When promote is pressed with a wrong token: the API's refusal is shown and nothing changes.
  const revision = (await getRollout(admin, 'web-beta')).revision;
  const card = page.locator('[data-rollout="web-beta"]');
  await card.locator('button[data-action="promote"]').click();
  const dialog = page.locator('dialog.token-dialog');
  await dialog.waitFor();
  await dialog.locator('input[name="token"]').fill('not-the-token');
  await dialog.locator('button[value="ok"]').click();
  const note = card.locator('.note-error');
  await note.waitFor({ timeout: 5000 });
  assert.match(String(await note.textContent()), /promote refused: missing or wrong bearer token: send the admin token graylane serve was started with as "Authorization: Bearer TOKEN" \(unauthorized\)/);
  assert.equal((await getRollout(admin, 'web-beta')).revision, revision);
  assert.equal(await currentStep(page), 1);
  await card.screenshot({ path: `${IMAGES}dashboard-bad-token.png` });

  // When promote is pressed again: the token is asked for again (the wrong one was forgotten),
  // and with the right one the rollout goes on to its next pause; the page shows it.
  await card.locator('button[data-action="promote"]').click();
  await dialog.waitFor();
  await dialog.locator('input[name="token"]').fill(TOKEN);
  await dialog.locator('button[value="ok"]').click();
  await until('the next pause on the page', async () => (await card.locator('[data-field="step"]').textContent()) === '4/5', 5000);
  assert.equal(await currentStep(page), 3);
  assert.match(String(await card.locator('.note-ok').textContent()), /^promote: done, now Paused/);
  const after = await getRollout(admin, 'web-beta');
  assert.equal(after.currentStep, 3);
  assert.equal(after.weight, 50);
  assert.equal(await page.locator('.token-state').textContent(), 'admin token set forget');

  // The explain box answers for a URL and headers.
  const form = page.locator('form.explain');
  await form.locator('input[name="url"]').fill('http://shop.test/cart?x=1');
  await form.locator('textarea[name="headers"]').fill('x-beta: 1');
  await form.locator('button[type="submit"]').click();
  await form.locator('[data-field="version"]').waitFor({ timeout: 5000 });
  assert.equal(await form.locator('[data-field="lane"]').textContent(), 'beta');
  assert.match(String(await form.locator('[data-field="by"]').textContent()), /^beta-testers /);
  assert.equal(await form.locator('[data-field="version"]').textContent(), 'beta');
  assert.match(String(await form.locator('[data-field="endpoint"]').textContent()), new RegExp(`^${beta.url} `));
  // ...with each step it checked: the app version read and parsed, or why there is none.
  await form.locator('textarea[name="headers"]').fill('x-app-version: 2.4.0.1234');
  await form.locator('button[type="submit"]').click();
  await form.locator('[data-step="new-app"]').waitFor({ timeout: 5000 });
  assert.equal(await form.locator('[data-field="by"] code').textContent(), 'new-app');
  assert.equal(
    await form.locator('[data-step="new-app"] li').textContent(),
    '✓ app version (header x-app-version) >=2.3.0 — read "2.4.0.1234": version 2.4.0.1234 satisfies >=2.3.0',
  );
  await form.locator('textarea[name="headers"]').fill('x-app-version: latest');
  await form.locator('button[type="submit"]').click();
  await until('the explanation of "latest"', async () => /not a version/.test(String(await form.locator('[data-step="new-app"] li').textContent())), 5000);
  assert.equal(await form.locator('[data-step="new-app"] .tag').textContent(), 'no');

  // Let the chart show the new share for a few seconds, then take the README's picture.
  await page.waitForTimeout(4000);
  await mkdir(IMAGES, { recursive: true });
  await page.screenshot({ path: `${IMAGES}dashboard.png` });
  assert.deepEqual(problems, []);
  // The API agrees with what was clicked.
  assert.equal((await api(admin, 'GET', '/api/v1/rollouts/web-beta')).status, 200);
});

test('versions side by side get distinct colours; a rejected reload is shown in full until a good one', { timeout: 60_000 }, async (t) => {
  const onClose = closeAfter(t);
  const dir = await tempDir();
  onClose(() => dir.remove());
  const up = await startUpstream('any');
  onClose(() => up.close());
  const file = dir.file('graylane.yaml');
  const names = ['canary', 'v2', 'v3', 'rc1', 'hotfix', 'feature-x', 'ring-2'];
  const good = config({
    stable: up.url,
    beta: up.url,
    state: dir.file('state.db'),
    rest: '',
    extraVersions: Object.fromEntries(names.map((n) => [n, up.url])),
  });
  await writeFile(file, good);
  const app: App = await startTestApp(file);
  onClose(() => app.close({ drainMs: 0 }));
  const browser = await launch();
  onClose(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${adminUrlOf(app)}/`);
  await page.locator('#status.live').waitFor({ timeout: 10_000 });
  await page.locator('[data-service="web"] tr[data-version="ring-2"]').waitFor({ timeout: 10_000 });

  // Nine versions of one service: nine different swatches, and the chip of a version has the same
  // colour wherever it appears (here: the table and the chart legend).
  const swatches = await page
    .locator('[data-service="web"] tbody tr[data-version]')
    .evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-version'), r.querySelector('.swatch')!.getAttribute('style')]));
  assert.equal(swatches.length, 9);
  assert.equal(new Set(swatches.map(([, c]) => c)).size, 9, JSON.stringify(swatches));
  const legend = await page
    .locator('[data-service="web"] .chart-wrap .chip[data-version]')
    .evaluateAll((chips) => chips.map((c) => [c.getAttribute('data-version'), c.querySelector('.swatch')!.getAttribute('style')]));
  assert.ok(legend.length >= 9, JSON.stringify(legend));
  for (const [v, c] of legend) assert.equal(c, swatches.find(([w]) => w === v)?.[1], `${v}: the legend and the table agree`);

  // A broken config: the banner names file:line:column, the key and the problem; the old one serves.
  const badLine = good.split('\n').findIndex((l) => l.startsWith('    versions:')) + 1;
  await writeFile(file, good.replace('    versions:\n', '    versoins:\n'));
  const banner = page.locator('#banner .reload-error');
  await banner.waitFor({ timeout: 10_000 });
  const text = String(await banner.textContent());
  assert.match(text, /^Config reload rejected at .* still serving the config loaded at /);
  assert.match(text, new RegExp(`graylane\\.yaml:${badLine}:\\d+`), text);
  assert.match(text, /services\.web/, text);
  assert.match(String(await page.locator('#config').textContent()), new RegExp(`graylane\\.yaml:${badLine}:\\d+`));
  await page.screenshot({ path: `${IMAGES}dashboard-reload-error.png` });

  // Fixed again: the banner goes and the config panel says the last reload was applied.
  await writeFile(file, good.replace('drain: 0s', 'drain: 1s'));
  await banner.waitFor({ state: 'detached', timeout: 10_000 });
  await page.locator('#config p.ok').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#config p.ok').textContent(), 'The last reload was applied.');
});

test('after a completed rollout each version is shown once: the new one serves the fallback lane, the old stable is idle', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir();
  const [stable, beta, alpha] = [await startUpstream('stable'), await startUpstream('beta'), await startUpstream('alpha')];
  const file = dir.file('graylane.yaml');
  const rest = `    rules:
      - { name: testers, lane: alpha, header: { name: x-alpha, equals: "1" } }
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy: { canary: { steps: [ { setWeight: 50 } ] } }
`;
  await writeFile(file, config({ stable: stable.url, beta: beta.url, extraVersions: { alpha: alpha.url }, state: dir.file('state.db'), rest }));
  const app: App = await startTestApp(file);
  const browser = await launch();
  t.after(async () => {
    await browser.close();
    await app.close({ drainMs: 0 });
    await Promise.all([stable.close(), beta.close(), alpha.close()]);
    await dir.remove();
  });
  const admin = adminUrlOf(app);
  await waitForRollout(admin, 'web-beta', (v) => v.phase === 'Healthy');
  // Given 8 unmarked requests (served by beta in the stable lane) and 2 for alpha
  for (const headers of [...Array(8).fill({}), { 'x-alpha': '1' }, { 'x-alpha': '1' }] as Record<string, string>[]) {
    const res = await request(`${gatewayUrlOf(app)}/`, { headers });
    await res.body.dump();
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${admin}/`);
  await page.locator('#status.live').waitFor({ timeout: 10_000 });
  await until('the requests on the page', async () => (await cell(page, 'beta', 'requests')) === 8 && (await cell(page, 'alpha', 'requests')) === 2, 10_000);

  // Then the table, the legend and the chart each show every version once, the fallback first
  const service = page.locator('[data-service="web"]');
  assert.match(String(await service.locator('header').textContent()), /unmarked traffic falls back to beta$/);
  const rows = await service.locator('tbody tr[data-version]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-version')));
  assert.deepEqual(rows, ['beta', 'alpha', 'stable']);
  assert.equal(await cell(page, 'stable', 'requests'), 0);
  const endpoints = await service.locator('tbody tr[data-version]').evaluateAll((trs) => trs.map((tr) => tr.querySelector('.endpoint')?.textContent ?? ''));
  assert.deepEqual(
    endpoints.map((e) => e.replace(/static$/, '')),
    [beta.url, alpha.url, stable.url].map((u) => u.replace('http://', '')),
  );
  const legend = await service.locator('.legend .legend-item').evaluateAll((items) => items.map((i) => [i.querySelector('.chip')!.getAttribute('data-version'), i.querySelector('b')!.textContent]));
  assert.deepEqual(legend, [['beta', '80%'], ['alpha', '20%'], ['stable', '0%']]);
  await service.locator('svg.split-chart path.area[data-version="beta"]').first().waitFor({ timeout: 10_000 });
  const areas = await service.locator('svg.split-chart path.area').evaluateAll((paths) => paths.map((p) => p.getAttribute('data-version')));
  assert.deepEqual([...new Set(areas)].sort(), ['alpha', 'beta', 'stable']);
});

test('clustered mode: the gateways panel lists all three, this one marked, the leader, totals across them; a frozen one turns stale, then goes', { timeout: 120_000 }, async (t) => {
  const onClose = closeAfter(t);
  const c = await startViewCluster(await etcd());
  onClose(() => c.close());
  const [g1, g2, g3] = c.gateways;
  await sendTo(c, [[4, 1], [2, 2], [3, 0]]);
  const browser = await launch();
  onClose(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

  // Given gw-2's dashboard
  await page.goto(`${g2.adminUrl}/`);
  await page.locator('#status.live').waitFor({ timeout: 10_000 });
  const panel = page.locator('#gateways');
  const rows = panel.locator('tbody tr[data-gateway]');
  const total = (version: string) => panel.locator(`tr.totals [data-version="web/${version}"]`);

  // Then it lists the three gateways, gw-2 first and marked as this one, with the totals of all three
  await until(
    'three gateways and their totals on the page',
    async () => (await rows.count()) === 3 && (await total('stable').count()) === 1 && Number(await total('stable').textContent()) === c.stable.count && Number(await total('beta').textContent()) === c.beta.count,
    15_000,
  );
  assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-gateway'), tr.getAttribute('data-local'), tr.getAttribute('data-state')])), [
    ['gw-2', 'true', 'live'],
    ['gw-1', 'false', 'live'],
    ['gw-3', 'false', 'live'],
  ]);
  assert.equal(await panel.locator('tr[data-local="true"] .tag.local').textContent(), 'this gateway');
  assert.equal(await panel.locator('tr[data-gateway="gw-1"] [data-field="address"]').textContent(), g1.gatewayUrl.slice('http://'.length));
  // And one leader, the elected controller; gw-3 (--no-controller) follows
  await until('one leader on the page', async () => (await panel.locator('tr[data-role="leader"]').count()) === 1, 10_000);
  const leader = await panel.locator('tr[data-role="leader"]').getAttribute('data-gateway');
  assert.equal(await isLeading(leader === 'gw-1' ? g1 : g2), true);
  assert.equal(await panel.locator('tr[data-gateway="gw-3"] [data-field="role"]').textContent(), 'followergateway only');

  // When gw-3 is frozen (SIGSTOP: its process is there, it publishes nothing, its lease runs down)
  g3.child.kill('SIGSTOP');

  // Then it is shown stale, its last counts still in the totals, and then it is gone
  const frozen = panel.locator('tr[data-gateway="gw-3"]');
  await panel.locator('tr[data-gateway="gw-3"][data-state="stale"]').waitFor({ timeout: STALE_AFTER_MS + 3000 });
  assert.equal(await frozen.locator('.tag.bad').textContent(), 'stale');
  assert.equal(Number(await total('stable').textContent()), c.stable.count);
  await mkdir(IMAGES, { recursive: true });
  await panel.screenshot({ path: `${IMAGES}dashboard-gateways.png` });
  await frozen.waitFor({ state: 'detached', timeout: GATEWAY_LEASE_SEC * 1000 + 3000 });
  assert.equal(await rows.count(), 2);
  assert.equal(Number(await total('stable').textContent()), c.stable.count - 3 - 1, 'gw-3 had 3 requests and its start-up probe');
  assert.deepEqual(problems, []);
});
