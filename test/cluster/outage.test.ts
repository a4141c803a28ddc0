/**
 * etcd goes away under running `graylane serve --store` processes: they keep routing by their last
 * good snapshot (rollout weights included), say the store is down, refuse admin writes with 503 and
 * apply with a clear message, a gateway restarted meanwhile starts from its cache (and says the
 * store is down from its first answer on), and when etcd is back everything catches up without a
 * restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { runCli, startUpstream, waitForRollout, writeFile } from '../rollout/helpers.js';
import { etcdForFile, freshPrefix } from './helpers.js';
import { adminGet, adminPost, apply, startClusterGateway, versionFor, type ClusterGateway } from './serve-helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';

const etcd = etcdForFile();

test('etcd stopped: gateways keep routing with the rollout weights, writes fail with 503, a restart uses the cache; etcd back: they catch up', async (t) => {
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
  const spec = (extraRule: string) =>
    'accessLog: false\ndrain: 0s\n' +
    `services:\n  web:\n    versions:\n      stable: [${stable.url}]\n      beta: [${beta.url}]\n` +
    'routes:\n  - service: web\n    identity: [header:x-user-id]\n    visitorCookie: false\n' +
    extraRule +
    webBetaCanary(['setWeight: 40', 'pause: {}', 'setWeight: 100']);
  const ctlOpts = { endpoint: server.endpoint, prefix, cwd: dir.path };
  gateways.push(await startClusterGateway({ ...ctlOpts, name: 'ctl' }));
  gateways.push(await startClusterGateway({ ...ctlOpts, name: 'gw', controller: false }));
  await writeFile(dir.file('v1.yaml'), spec(''));
  assert.equal((await apply(server.endpoint, prefix, dir.file('v1.yaml'))).code, 0);
  await waitForRollout(gateways[1]!.adminUrl, 'web-beta', (v) => v.currentStep === 1 && v.reason === 'AwaitingPromotion', 15_000);

  const lanes = async (g: ClusterGateway) => Promise.all([...Array(200).keys()].map((i) => versionFor(g.gatewayUrl, { 'x-user-id': `u${i}` })));
  for (const g of gateways) await until(`${g.name} at 40%`, async () => (await lanes(g)).filter((v) => v === 'beta').length > 40, 5000);
  const before = await lanes(gateways[0]!);
  const share = before.filter((v) => v === 'beta').length / 2;
  assert.ok(share > 30 && share < 50, `beta share ${share}% at setWeight 40`);

  // When etcd stops
  await server.stop();

  // Then both gateways report the store as down, in /api/v1/config and /metrics
  for (const g of gateways) {
    await until(`${g.name} sees etcd down`, async () => (await adminGet<{ store: { up: boolean } }>(g.adminUrl, '/api/v1/config')).store.up === false, 10_000);
    const metrics = await (await request(`${g.adminUrl}/metrics`)).body.text();
    assert.match(metrics, /^graylane_store_up 0$/m);
  }
  // And keep routing every user exactly as before, rollout weight included
  for (const g of gateways) assert.deepEqual(await lanes(g), before);

  // And an admin write fails with 503 and a reason; `graylane apply` fails and says why
  const promote = await adminPost(gateways[1]!.adminUrl, '/api/v1/rollouts/web-beta/promote');
  assert.equal(promote.status, 503);
  assert.equal(promote.body.error, 'store_unavailable');
  assert.match(String(promote.body.message), /^store unavailable: /);
  await writeFile(dir.file('v2.yaml'), spec('    rules:\n      - { lane: beta, header: { name: x-beta, equals: "1" } }\n'));
  const refused = await apply(server.endpoint, prefix, dir.file('v2.yaml'));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /store unavailable/);

  // When a gateway is restarted while etcd is still down
  await gateways[1]!.stop('SIGTERM');
  gateways[1] = await startClusterGateway({ ...ctlOpts, name: 'gw', controller: false });
  // Then it starts from its cache, with the same routes and the same rollout weights
  assert.ok(gateways[1].log.some((l) => l.includes('ETCD UNREACHABLE: serving the cached spec')), gateways[1].log.join('\n'));
  assert.deepEqual(await lanes(gateways[1]), before);
  // And from its first answer on it says the store is down, everywhere it says so, as its rollouts
  // panel does
  type Store = { up: boolean; error?: string };
  const cold = (await adminGet<{ store: Store }>(gateways[1].adminUrl, '/api/v1/config')).store;
  assert.equal(cold.up, false);
  assert.match(String(cold.error), /store unavailable/);
  assert.match(await (await request(`${gateways[1].adminUrl}/metrics`)).body.text(), /^graylane_store_up 0$/m);
  const overview = await adminGet<{ config: { store: Store }; rolloutsError: string | null }>(gateways[1].adminUrl, '/api/v1/overview');
  assert.equal(overview.config.store.up, false);
  assert.match(String(overview.rolloutsError), /store unavailable/);

  // When etcd is back
  await server.start();
  // Then every gateway, the one started from its cache included, says the store is up
  for (const g of gateways) await until(`${g.name} sees etcd up`, async () => (await adminGet<{ store: { up: boolean } }>(g.adminUrl, '/api/v1/config')).store.up, 15_000);
  assert.match(await (await request(`${gateways[1].adminUrl}/metrics`)).body.text(), /^graylane_store_up 1$/m);
  assert.equal((await adminGet<{ config: { store: Store } }>(gateways[1].adminUrl, '/api/v1/overview')).config.store.up, true);

  // Then an apply made now reaches both, the restarted one included, without a restart
  const applied = await apply(server.endpoint, prefix, dir.file('v2.yaml'));
  assert.equal(applied.code, 0, applied.stderr);
  const notBeta = before.findIndex((v) => v === 'stable');
  for (const g of gateways) {
    await until(`${g.name} has the new rule`, async () => (await versionFor(g.gatewayUrl, { 'x-user-id': `u${notBeta}`, 'x-beta': '1' })) === 'beta', 5000);
  }
  // And the write that failed during the outage works now, and nothing of it was half-applied
  const view = await waitForRollout(gateways[1].adminUrl, 'web-beta', () => true);
  assert.equal(view.currentStep, 1);
  assert.equal((await adminPost(gateways[1].adminUrl, '/api/v1/rollouts/web-beta/promote')).status, 200);
  await waitForRollout(gateways[0]!.adminUrl, 'web-beta', (v) => v.phase === 'Healthy', 10_000);
  const got = await runCli(['get', 'spec', '--store', `etcd://${server.endpoint.slice(7)}`, '--prefix', prefix]);
  assert.match(got.stdout, /x-beta/);
});
