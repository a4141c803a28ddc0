/**
 * The admin API's refusals: every bad request gets a 4xx with a reason and changes nothing (same
 * status revision, same event log). Plus the config and explain endpoints, and a config reload
 * that changes a rollout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { App } from '../../src/app.js';
import {
  adminUrlOf,
  api,
  config,
  getRollout,
  gatewayUrlOf,
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

const ROLLOUTS = (firstWeight: number) => `
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: ${firstWeight}
          - pause: {}
  - name: api-done
    service: api
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 100
`;

async function setup(): Promise<{ app: App; admin: string; file: string; close(): Promise<void> }> {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const file = dir.file('graylane.yaml');
  const services = config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest: '' }).replace(
    'routes:\n',
    `  api:\n    versions:\n      stable: [${stable.url}]\n      beta: [${beta.url}]\nroutes:\n  - match: { host: api.test }\n    service: api\n`,
  );
  await writeFile(file, services + ROLLOUTS(10));
  const app = await startTestApp(file);
  return {
    app,
    admin: adminUrlOf(app),
    file,
    async close() {
      await app.close({ drainMs: 0 });
      await stable.close();
      await beta.close();
      await dir.remove();
    },
  };
}

test('bad admin requests get 4xx with a reason and change nothing', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  const before = await waitForRollout(s.admin, 'web-beta', (v) => v.reason === 'AwaitingPromotion');
  await waitForRollout(s.admin, 'api-done', (v) => v.phase === 'Healthy');
  const eventsBefore = (await getRollout(s.admin, 'web-beta', 1000)).events.length;

  const refused: [string, string, unknown, string | null, number, string][] = [
    // method, path, body, token, status, error code
    ['POST', '/api/v1/rollouts/web-beta/promote', {}, null, 401, 'unauthorized'],
    ['POST', '/api/v1/rollouts/web-beta/abort', {}, 'not-the-token', 401, 'unauthorized'],
    ['POST', '/api/v1/rollouts/web-beta/set-weight', { weight: 50 }, `${TOKEN}x`, 401, 'unauthorized'],
    ['POST', '/api/v1/rollouts/api-done/promote', {}, TOKEN, 409, 'rollout_completed'],
    ['POST', '/api/v1/rollouts/api-done/abort', {}, TOKEN, 409, 'rollout_completed'],
    ['POST', '/api/v1/rollouts/nope/promote', {}, TOKEN, 404, 'unknown_rollout'],
    ['GET', '/api/v1/rollouts/nope', undefined, TOKEN, 404, 'unknown_rollout'],
    ['POST', '/api/v1/rollouts/web-beta/set-weight', { weight: 150 }, TOKEN, 400, 'invalid_weight'],
    ['POST', '/api/v1/rollouts/web-beta/set-weight', { weight: 2.5 }, TOKEN, 400, 'invalid_weight'],
    ['POST', '/api/v1/rollouts/web-beta/set-weight', { weight: '50' }, TOKEN, 400, 'invalid_weight'],
    ['POST', '/api/v1/rollouts/web-beta/set-weight', {}, TOKEN, 400, 'missing_field'],
    ['POST', '/api/v1/rollouts/web-beta/promote', { fast: true }, TOKEN, 400, 'unknown_field'],
    ['POST', '/api/v1/rollouts/web-beta/promote', { full: 'yes' }, TOKEN, 400, 'invalid_field'],
    ['POST', '/api/v1/rollouts/web-beta/abort', { reason: 'x' }, TOKEN, 400, 'unknown_field'],
    ['POST', '/api/v1/rollouts/web-beta/resume', {}, TOKEN, 409, 'not_paused'],
    ['POST', '/api/v1/rollouts/web-beta/retry', {}, TOKEN, 409, 'not_aborted'],
    ['GET', '/api/v1/rollouts/web-beta/events?after=-1', undefined, TOKEN, 400, 'invalid_query'],
  ];
  for (const [method, path, body, token, status, code] of refused) {
    const r = await api<{ error: string; message: string }>(s.admin, method as 'GET' | 'POST', path, body, token);
    assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error, code, `${method} ${path}`);
    assert.ok(r.body.message.length > 10, `a reason for ${method} ${path}`);
  }

  // Nothing changed: same revision, same events, same traffic
  const after = await getRollout(s.admin, 'web-beta', 1000);
  assert.equal(after.revision, before.revision);
  assert.equal(after.events.length, eventsBefore);
  assert.deepEqual(after.traffic, { stable: 90, beta: 10 });
});

test('commands through the API: set-weight, pause, abort (traffic back at once), retry', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  const gw = gatewayUrlOf(s.app);
  await waitForRollout(s.admin, 'web-beta', (v) => v.reason === 'AwaitingPromotion');

  let r = await api<{ traffic: Record<string, number> }>(s.admin, 'POST', '/api/v1/rollouts/web-beta/set-weight', { weight: 40 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.traffic, { stable: 60, beta: 40 });
  assert.deepEqual(tally(await send(gw, 100)), { stable: 60, beta: 40 });

  assert.equal((await api(s.admin, 'POST', '/api/v1/rollouts/web-beta/pause', {})).status, 200);
  r = await api(s.admin, 'POST', '/api/v1/rollouts/web-beta/pause', {});
  assert.equal(r.status, 409);

  // Abort: the answer comes after the commit, and the gateway has already swapped
  r = await api(s.admin, 'POST', '/api/v1/rollouts/web-beta/abort', {});
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.traffic, { stable: 100 });
  assert.deepEqual(tally(await send(gw, 20)), { stable: 20 });
  assert.equal((await api(s.admin, 'POST', '/api/v1/rollouts/web-beta/set-weight', { weight: 5 })).status, 409);

  r = await api(s.admin, 'POST', '/api/v1/rollouts/web-beta/retry', {});
  assert.equal(r.status, 200);
  const v = await waitForRollout(s.admin, 'web-beta', (x) => x.attempt === 2 && x.reason === 'AwaitingPromotion');
  assert.deepEqual(v.traffic, { stable: 90, beta: 10 });

  const list = await api<{ rollouts: { name: string; phase: string }[] }>(s.admin, 'GET', '/api/v1/rollouts', undefined, null);
  assert.deepEqual(list.body.rollouts.map((x) => `${x.name} ${x.phase}`), ['web-beta Paused', 'api-done Healthy']);
});

test('config status, explain against the live spec, and a reload that changes a rollout', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  await waitForRollout(s.admin, 'web-beta', (v) => v.reason === 'AwaitingPromotion');

  const cfg = await api<{ file: string; snapshotId: string; lastReloadError: unknown }>(s.admin, 'GET', '/api/v1/config', undefined, null);
  assert.equal(cfg.status, 200);
  assert.equal(cfg.body.file, s.file);
  assert.equal(cfg.body.snapshotId, s.app.gateway.snapshot().id);
  assert.equal(cfg.body.lastReloadError, null);

  // explain: the rollout's overlay is part of the answer (api-done completed: beta serves stable)
  const ex = await api<{ route: string; lane: string; version: string }>(s.admin, 'POST', '/api/v1/explain', {
    url: 'http://api.test/x',
    headers: { 'x-user-id': '7' },
  });
  assert.equal(ex.status, 200, JSON.stringify(ex.body));
  assert.equal(ex.body.lane, 'stable');
  assert.equal(ex.body.version, 'beta');
  // The host and path are read as the gateway reads them (trailing dot, encoded unreserved characters).
  const encoded = await api<{ route: string; version: string }>(s.admin, 'POST', '/api/v1/explain', { url: 'http://API.test.:80/%78', headers: { 'x-user-id': '7' } });
  assert.equal(encoded.status, 200, JSON.stringify(encoded.body));
  assert.deepEqual([encoded.body.route, encoded.body.version], [ex.body.route, 'beta']);
  const refused = await api<{ message: string }>(s.admin, 'POST', '/api/v1/explain', { url: 'http://api.test/a/..;/x' });
  assert.equal(refused.status, 400);
  assert.match(JSON.stringify(refused.body), /dot segment with ;parameters/);
  assert.equal((await api(s.admin, 'POST', '/api/v1/explain', { url: 'not a url' })).status, 400);
  assert.equal((await api(s.admin, 'POST', '/api/v1/explain', { url: 'http://x/', headers: ['a'] })).status, 400);

  // A broken reload is reported in full, with file:line:col, and changes nothing
  const good = await readFile(s.file, 'utf8');
  await writeFile(s.file, good.replace('setWeight: 10', 'setWeight: 150'));
  const err = await until('the reload error', async () => (await api<{ lastReloadError: unknown }>(s.admin, 'GET', '/api/v1/config')).body.lastReloadError !== null, 5000)
    .then(() => api<{ lastReloadError: { message: string; issues: { line: number; code: string }[] } }>(s.admin, 'GET', '/api/v1/config'));
  const reloadError = err.body.lastReloadError;
  assert.match(reloadError.message, /graylane\.yaml:\d+:\d+: rollouts\[0\]\.strategy\.canary\.steps\[0\]\.setWeight: must be <= 100, got 150/);
  assert.deepEqual(reloadError.issues.map((i) => i.code), ['out-of-range']);
  assert.equal((await getRollout(s.admin, 'web-beta')).attempt, 1);

  // A valid change of the rollout aborts the attempt and starts a new one under the new spec
  await writeFile(s.file, good.replace('setWeight: 10', 'setWeight: 30'));
  const v = await waitForRollout(s.admin, 'web-beta', (x) => x.attempt === 2 && x.reason === 'AwaitingPromotion');
  assert.deepEqual(v.traffic, { stable: 70, beta: 30 });
  const { events } = await getRollout(s.admin, 'web-beta', 100);
  assert.ok(events.some((e) => e.reason === 'SpecChanged'));
  assert.equal((await api<{ lastReloadError: unknown }>(s.admin, 'GET', '/api/v1/config')).body.lastReloadError, null);
});

test('without an admin token, changes are refused (403) and reads still work', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const file = dir.file('graylane.yaml');
  await writeFile(file, config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest: ROLLOUTS(10).split('  - name: api-done')[0]! }));
  const app = await startTestApp(file, null);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  const admin = adminUrlOf(app);
  const r = await api<{ error: string }>(admin, 'POST', '/api/v1/rollouts/web-beta/abort', {});
  assert.equal(r.status, 403);
  assert.equal(r.body.error, 'no_admin_token');
  assert.equal((await api(admin, 'GET', '/api/v1/rollouts/web-beta', undefined, null)).status, 200);
});
