/**
 * The live feed over the real process: /api/v1/overview after a known mix of requests, the
 * server-sent events of /api/v1/stream (full history first, then one point a second), and
 * `graylane top` printing the same numbers as plain lines when its output is not a terminal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { Overview } from '../../src/metrics/overview.js';
import { adminUrlOf, api, config, gatewayUrlOf, runCli, startTestApp, startUpstream, waitForRollout, writeFile } from '../rollout/helpers.js';
import { hit } from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';

const RULES = `    rules:
      - { name: testers, lane: beta, header: { name: x-beta, equals: "1" } }
${webBetaCanary(['setHeaderRoute: { header: { name: x-never-sent, equals: "1" } }', 'pause: {}'])}`;

async function setup() {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta', { failEvery: 5 });
  const file = dir.file('graylane.yaml');
  await writeFile(file, config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest: RULES }));
  const app = await startTestApp(file);
  return {
    app,
    admin: adminUrlOf(app),
    gateway: gatewayUrlOf(app),
    async close() {
      await app.close({ drainMs: 0 });
      await Promise.all([stable.close(), beta.close()]);
      await dir.remove();
    },
  };
}

/** Requests per version in the overview's whole history. */
function historyTotals(o: Overview): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of o.history.points) for (const [v, n] of Object.entries(p.requests.web ?? {})) out[v] = (out[v] ?? 0) + n;
  return out;
}

test('the overview shows each version with its share, error rate, endpoints; routes, rollouts and config', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  // Given 30 requests to stable and 10 to beta (every 5th answer of beta is a 500).
  await hit(s.gateway, 30);
  await hit(s.gateway, 10, '/', { 'x-beta': '1' });
  // When the feed has sampled them (once a second).
  let o!: Overview;
  await until('the requests in the history', async () => {
    o = (await api<Overview>(s.admin, 'GET', '/api/v1/overview')).body;
    const totals = historyTotals(o);
    return totals.stable === 30 && totals.beta === 10;
  }, 5000);

  // Then: numbers per version over the last seconds, exactly.
  const web = o.services.find((x) => x.name === 'web')!;
  assert.equal(web.fallback, 'stable');
  const [stable, beta] = [web.versions.find((v) => v.name === 'stable')!, web.versions.find((v) => v.name === 'beta')!];
  assert.equal(stable.requests, 30);
  assert.equal(beta.requests, 10);
  assert.equal(stable.share, 75);
  assert.equal(beta.share, 25);
  assert.equal(stable.errorRate, 0);
  assert.equal(beta.errorRate, 0.2);
  assert.ok(stable.rps > 0 && beta.rps > 0);
  assert.ok(stable.p99Ms !== null && stable.p99Ms > 0);
  assert.deepEqual(
    beta.endpoints.map((e) => [e.up, e.registered]),
    [[true, false]],
  );
  assert.equal(o.history.stepMs, 1000);

  // The route's rules in readable form, the rollout's header route first.
  await until('the rollout paused', async () => (await api<Overview>(s.admin, 'GET', '/api/v1/overview')).body.rollouts[0]?.reason === 'AwaitingPromotion', 5000);
  o = (await api<Overview>(s.admin, 'GET', '/api/v1/overview')).body;
  assert.deepEqual(
    o.routes[0]!.rules.map((r) => [r.name, r.when, r.lane, r.source]),
    [
      ['rollout web-beta header route', 'header x-never-sent equals "1"', 'beta', 'rollout'],
      ['testers', 'header x-beta equals "1"', 'beta', 'route'],
    ],
  );
  const rollout = o.rollouts[0]!;
  assert.equal(rollout.name, 'web-beta');
  assert.equal(rollout.currentStep, 1);
  assert.ok(rollout.events.some((e) => e.reason === 'RolloutStarted'));
  assert.equal(o.rolloutsError, null);
  assert.equal(o.config.snapshotId, s.app.gateway.snapshot().id);
  assert.equal(o.config.reloadsFailed, 0);
  assert.equal(o.config.lastReloadError, null);
});

test('the stream sends the full history first, then one new point each second', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  await hit(s.gateway, 5);
  // Let the first sample take the requests, so the first event has history to show.
  await until('a sample', async () => historyTotals((await api<Overview>(s.admin, 'GET', '/api/v1/overview')).body).stable === 5, 5000);

  const res = await request(`${s.admin}/api/v1/stream`);
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  assert.equal(res.headers['cache-control'], 'no-store');
  const events: Overview[] = [];
  let buffered = '';
  for await (const chunk of res.body) {
    buffered += (chunk as Buffer).toString('utf8');
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (data !== undefined) events.push(JSON.parse(data.slice(6)) as Overview);
    }
    if (events.length >= 3) break;
  }
  res.body.destroy();

  const [first, second, third] = events as [Overview, Overview, Overview];
  assert.ok(first.history.points.length >= 1);
  assert.equal(historyTotals(first).stable, 5);
  assert.equal(second.history.points.length, 1);
  assert.equal(third.history.points.length, 1);
  assert.ok(second.history.points[0]!.at > first.history.points.at(-1)!.at);
  assert.ok(third.history.points[0]!.at > second.history.points[0]!.at);
  assert.equal(third.services[0]!.versions.find((v) => v.name === 'stable')!.requests, 5);
});

test('graylane top on a non-terminal prints the numbers as plain lines', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  await hit(s.gateway, 12);
  await hit(s.gateway, 3, '/', { 'x-beta': '1' });
  await until('a sample', async () => historyTotals((await api<Overview>(s.admin, 'GET', '/api/v1/overview')).body).beta === 3, 5000);

  const r = await runCli(['top', '--admin', s.admin, '-n', '2', '--interval', '200']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\x1b/, 'no terminal escapes when not on a terminal');
  const blocks = r.stdout.split(/\n\n(?=graylane top)/);
  assert.equal(blocks.length, 2);
  const lines = blocks[1]!.split('\n');
  assert.match(lines[0]!, new RegExp(`^graylane top  ${s.admin}  \\S+  snapshot ${s.app.gateway.snapshot().id}$`));
  const row = (version: string) => lines.find((l) => l.trimStart().startsWith(`${version} `))!.trim().split(/\s{2,}/);
  // VERSION REQ/S ERRORS P99 SHARE TOTAL ENDPOINTS
  const stable = row('stable');
  assert.equal(stable[2], '0.00%');
  assert.equal(stable[4], '80%');
  assert.equal(stable[5], '12');
  assert.equal(stable[6], '1/1 up');
  const beta = row('beta');
  assert.equal(beta[4], '20%');
  assert.equal(beta[5], '3');
  assert.match(r.stdout, /web-beta {2}web {2}(Progressing|Paused)/);

  // An unreachable server: the reason, and exit code 1.
  const down = await runCli(['top', '--admin', 'http://127.0.0.1:1', '-n', '1']);
  assert.equal(down.code, 1);
  assert.match(down.stdout, /cannot reach the admin API at http:\/\/127\.0\.0\.1:1/);
});

test('after a completed rollout the overview and `graylane top` list each version once: the new one serves the fallback lane, the old stable is idle', async (t) => {
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
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await Promise.all([stable.close(), beta.close(), alpha.close()]);
    await dir.remove();
  });
  const admin = adminUrlOf(app);
  const gateway = gatewayUrlOf(app);

  // Given the rollout has completed: beta serves the stable lane
  await waitForRollout(admin, 'web-beta', (v) => v.phase === 'Healthy');
  // When 8 unmarked requests and 2 for alpha go through
  assert.deepEqual(await hit(gateway, 8), Array(8).fill(200));
  await hit(gateway, 2, '/', { 'x-alpha': '1' });
  assert.equal(stable.count, 0);
  assert.equal(beta.count, 8);
  let o!: Overview;
  await until('the requests in the history', async () => {
    o = (await api<Overview>(admin, 'GET', '/api/v1/overview')).body;
    const totals = historyTotals(o);
    return totals.beta === 8 && totals.alpha === 2;
  }, 5000);

  // Then each version is listed once, under its own name, with its own endpoints and numbers,
  // and the fallback is the version that serves it now
  const web = o.services.find((x) => x.name === 'web')!;
  assert.equal(web.fallback, 'beta');
  assert.deepEqual(
    web.versions.map((v) => [v.name, v.endpoints.map((e) => e.url), v.requests, v.share]),
    [
      ['stable', [stable.url], 0, 0],
      ['beta', [beta.url], 8, 80],
      ['alpha', [alpha.url], 2, 20],
    ],
  );

  // And `graylane top` draws the same: one row per version, the fallback named
  const r = await runCli(['top', '--admin', admin, '-n', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^web {2}\(fallback beta\)$/m);
  const rows = r.stdout.split('\n').filter((l) => /^ {2}(stable|beta|alpha) /.test(l)).map((l) => l.trim().split(/\s{2,}/));
  assert.deepEqual(
    rows.map((c) => [c[0], c[5], c[6]]),
    [
      ['stable', '0', '1/1 up'],
      ['beta', '8', '1/1 up'],
      ['alpha', '2', '1/1 up'],
    ],
  );
});
