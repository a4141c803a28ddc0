/**
 * Abort in clustered mode while etcd is stopped (issue #19 item 14): the gateway that is asked
 * reroutes at once and says the abort is not durable; the other gateways cannot learn of it until
 * etcd takes the write, and do as soon as it does; then it is an ordinary aborted status. Two real
 * `graylane serve --store` processes on a real etcd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { RolloutDetail } from '../../src/admin/rollouts.js';
import { startUpstream, waitForRollout, writeFile } from '../rollout/helpers.js';
import { etcdForFile, freshPrefix } from './helpers.js';
import { adminGet, adminPost, apply, startClusterGateway, versionFor, type ClusterGateway } from './serve-helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';

const etcd = etcdForFile();

test('etcd stopped: abort reroutes the gateway asked at once, not durable; others follow once etcd is back and the write lands', { timeout: 180_000 }, async (t) => {
  const server = await etcd();
  const prefix = freshPrefix();
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const gateways: ClusterGateway[] = [];
  t.after(async () => {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    await stable.close();
    await beta.close();
    await dir.remove();
    if (server.pid === undefined) await server.start();
  });
  const opts = { endpoint: server.endpoint, prefix, cwd: dir.path };
  gateways.push(await startClusterGateway({ ...opts, name: 'ctl' }));
  gateways.push(await startClusterGateway({ ...opts, name: 'gw', controller: false }));
  const [ctl, gw] = gateways as [ClusterGateway, ClusterGateway];
  await writeFile(
    dir.file('graylane.yaml'),
    'accessLog: false\ndrain: 0s\n' +
      `services:\n  web:\n    versions:\n      stable: [${stable.url}]\n      beta: [${beta.url}]\n` +
      'routes:\n  - service: web\n    identity: [header:x-user-id]\n    visitorCookie: false\n' +
      '    rules:\n      - { lane: beta, users: ["1001"] }\n' +
      webBetaCanary(['setWeight: 40', 'pause: {}']),
  );
  assert.equal((await apply(server.endpoint, prefix, dir.file('graylane.yaml'))).code, 0);
  for (const g of gateways) await waitForRollout(g.adminUrl, 'web-beta', (v) => v.reason === 'AwaitingPromotion', 15_000);
  const betaShare = async (g: ClusterGateway) => (await Promise.all([...Array(100).keys()].map((i) => versionFor(g.gatewayUrl, { 'x-user-id': `u${i}` })))).filter((v) => v === 'beta').length;
  for (const g of gateways) {
    await until(`${g.name} routes the rollout`, async () => (await versionFor(g.gatewayUrl, { 'x-user-id': '1001' })) === 'beta' && (await betaShare(g)) > 20, 5000);
  }

  // When etcd stops and the rollout is aborted through the gateway that does not lead
  await server.stop();
  const asked = Date.now();
  const answer = await adminPost(gw.adminUrl, '/api/v1/rollouts/web-beta/abort');
  const answeredMs = Date.now() - asked;

  // Then that gateway answers "applied, not durable" and routes everything to stable
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  assert.equal(answer.body.durable, false);
  assert.equal(answer.body.phase, 'Degraded');
  assert.match(String(answer.body.warning), /NOT yet durable.*store unavailable/);
  t.diagnostic(`abort answered in ${answeredMs} ms with etcd stopped: ${answer.status} ${String(answer.body.warning)}`);
  assert.equal(await betaShare(gw), 0);
  assert.equal(await versionFor(gw.gatewayUrl, { 'x-user-id': '1001' }), 'stable');
  const view = await adminGet<RolloutDetail>(gw.adminUrl, '/api/v1/rollouts/web-beta?events=10');
  assert.equal(view.phase, 'Degraded');
  assert.ok(view.abortPending !== null, 'the view says the abort is pending persistence');
  assert.match(await (await request(`${gw.adminUrl}/metrics`)).body.text(), /^graylane_rollout_abort_pending\{rollout="web-beta",service="web"\} 1$/m);
  // And the other gateway cannot know yet: it routes by its last good snapshot
  assert.equal(await versionFor(ctl.gatewayUrl, { 'x-user-id': '1001' }), 'beta');
  assert.ok((await betaShare(ctl)) > 20);

  // When etcd is back
  await server.start();

  // Then the held abort is written, and every gateway routes by it
  await until('the abort written to etcd', async () => (await adminGet<RolloutDetail>(gw.adminUrl, '/api/v1/rollouts/web-beta')).abortPending === null, 40_000);
  for (const g of gateways) {
    await until(`${g.name} routes the abort`, async () => (await versionFor(g.gatewayUrl, { 'x-user-id': '1001' })) === 'stable' && (await betaShare(g)) === 0, 15_000);
    assert.equal((await waitForRollout(g.adminUrl, 'web-beta', (v) => v.phase === 'Degraded', 15_000)).reason, 'Aborted');
  }
  const events = await adminGet<RolloutDetail>(ctl.adminUrl, '/api/v1/rollouts/web-beta?events=20');
  assert.ok(events.events.some((e) => e.reason === 'AbortWritten'), events.events.map((e) => e.reason).join(' '));
  assert.ok(gw.log.some((l) => l.includes('ABORT NOT YET DURABLE')) && gw.log.some((l) => l.includes('abort written to the store')));
});

test('etcd frozen (answers nothing): the abort reroutes before its write has even timed out', { timeout: 120_000 }, async (t) => {
  const server = await etcd();
  const prefix = freshPrefix();
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  let gw: ClusterGateway | undefined;
  let frozen = false;
  t.after(async () => {
    if (frozen) server.thaw();
    await gw?.stop('SIGKILL');
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  gw = await startClusterGateway({ endpoint: server.endpoint, prefix, cwd: dir.path, name: 'only' });
  await writeFile(
    dir.file('graylane.yaml'),
    'accessLog: false\ndrain: 0s\n' +
      `services:\n  web:\n    versions:\n      stable: [${stable.url}]\n      beta: [${beta.url}]\n` +
      'routes:\n  - service: web\n    identity: [header:x-user-id]\n    visitorCookie: false\n' +
      '    rules:\n      - { lane: beta, users: ["1001"] }\n' +
      webBetaCanary(['setWeight: 40', 'pause: {}']),
  );
  assert.equal((await apply(server.endpoint, prefix, dir.file('graylane.yaml'))).code, 0);
  await waitForRollout(gw.adminUrl, 'web-beta', (v) => v.reason === 'AwaitingPromotion', 15_000);
  await until('the users list on beta', async () => (await versionFor(gw!.gatewayUrl, { 'x-user-id': '1001' })) === 'beta', 5000);

  // When etcd hangs and the rollout is aborted
  await server.freeze();
  frozen = true;
  let answeredAt = 0;
  const asked = Date.now();
  const answer = adminPost(gw.adminUrl, '/api/v1/rollouts/web-beta/abort').then((r) => {
    answeredAt = Date.now();
    return r;
  });
  // Then the gateway routes to stable while the write still waits for etcd
  await until('rerouted', async () => (await versionFor(gw!.gatewayUrl, { 'x-user-id': '1001' })) === 'stable', 1000);
  const reroutedMs = Date.now() - asked;
  assert.equal(answeredAt, 0, `rerouted after ${reroutedMs} ms, before the abort was answered`);
  const reply = await answer;
  t.diagnostic(`rerouted within ${reroutedMs} ms; answered after ${answeredAt - asked} ms: ${reply.status}`);
  assert.equal(reply.status, 202, JSON.stringify(reply.body));
  assert.equal(reply.body.durable, false);

  // When etcd answers again: the abort is written
  server.thaw();
  frozen = false;
  await until('the abort written', async () => (await adminGet<RolloutDetail>(gw!.adminUrl, '/api/v1/rollouts/web-beta')).abortPending === null, 40_000);
  assert.equal((await waitForRollout(gw.adminUrl, 'web-beta', (v) => v.phase === 'Degraded')).reason, 'Aborted');
  assert.equal(await versionFor(gw.gatewayUrl, { 'x-user-id': '1001' }), 'stable');
});
