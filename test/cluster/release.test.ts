/**
 * A release in clustered mode: two real `graylane serve --store etcd` processes on a real etcd, one
 * elected controller. Both gateways put exactly the same users into the lane at the entry route;
 * a promote asked of the gateway that does not lead is driven by the leader, and the completion
 * (both services promoted in one status) reaches every gateway.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { bucketOf, threshold } from '../../src/routing/hash.js';
import { startUpstream, writeFile } from '../rollout/helpers.js';
import { etcdForFile, freshPrefix } from './helpers.js';
import { adminGet, adminPost, apply, startClusterGateway, type ClusterGateway } from './serve-helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

const etcd = etcdForFile();
const SALT = 'cluster-release';
const USERS = Array.from({ length: 60 }, (_, i) => `u${i}`);

interface View {
  phase: string;
  reason: string;
  share: number;
  services: { name: string; state: string }[];
}

async function versionsAt(gatewayUrl: string, path: string, user: string): Promise<string> {
  const res = await request(`${gatewayUrl}${path}`, { headers: { 'x-user-id': user } });
  await res.body.dump();
  return String(res.headers['x-version'] ?? `status ${res.statusCode}`);
}

test('clustered: one elected controller drives a release; every gateway routes its share and its promotion the same', { timeout: 120_000 }, async (t) => {
  const server = await etcd();
  const prefix = freshPrefix();
  const dir = await tempDir();
  const NAMES = ['web-stable', 'web-gray', 'api-stable', 'api-gray'];
  const ups = await Promise.all(NAMES.map((n) => startUpstream(n)));
  const url = (n: string) => ups[NAMES.indexOf(n)]!.url;
  const gateways: ClusterGateway[] = [];
  t.after(async () => {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    await Promise.all(ups.map((u) => u.close()));
    await dir.remove();
  });
  const opts = { endpoint: server.endpoint, prefix, cwd: dir.path };
  gateways.push(await startClusterGateway({ ...opts, name: 'ctl' }));
  gateways.push(await startClusterGateway({ ...opts, name: 'gw', controller: false }));
  const [, gw] = gateways as [ClusterGateway, ClusterGateway];
  await writeFile(
    dir.file('graylane.yaml'),
    'accessLog: false\ndrain: 0s\n' +
      `services:\n  web: { versions: { stable: [${url('web-stable')}], gray: [${url('web-gray')}] } }\n` +
      `  api: { versions: { stable: [${url('api-stable')}], gray: [${url('api-gray')}] } }\n` +
      'routes:\n' +
      '  - { name: shop, service: web, match: { pathPrefix: /web }, identity: [header:x-user-id], visitorCookie: false }\n' +
      '  - { name: api, service: api, match: { pathPrefix: /api }, identity: [header:x-user-id], visitorCookie: false }\n' +
      `releases:\n  both:\n    lane: gray\n    services: [web, api]\n    entry: { route: shop }\n    salt: ${SALT}\n    steps: [ { setWeight: 30 }, { pause: {} } ]\n`,
  );
  assert.equal((await apply(server.endpoint, prefix, dir.file('graylane.yaml'))).code, 0);
  const expected = USERS.filter((u) => bucketOf(SALT, u) < threshold(30));

  // Given: every gateway knows the release at 30% and puts exactly the release's users into the lane
  for (const g of gateways) {
    await until(`${g.name} sees the release paused at 30%`, async () => {
      const v = await adminGet<View>(g.adminUrl, '/api/v1/releases/both');
      return v.reason === 'AwaitingPromotion' && v.share === 30;
    }, 20_000);
    await until(`${g.name} routes the share`, async () => {
      const inLane: string[] = [];
      for (const u of USERS) if ((await versionsAt(g.gatewayUrl, '/web', u)) === 'web-gray') inLane.push(u);
      return inLane.join() === expected.join();
    }, 10_000);
  }

  // When: promote is asked of the gateway that does not lead
  const answer = await adminPost(gw.adminUrl, '/api/v1/releases/both/promote');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));

  // Then: the leader completes it, both services promoted in one status, on every gateway
  for (const g of gateways) {
    await until(`${g.name} sees the release completed`, async () => (await adminGet<View>(g.adminUrl, '/api/v1/releases/both')).phase === 'Healthy', 20_000);
    await until(`${g.name} routes the promotion`, async () => (await versionsAt(g.gatewayUrl, '/web', 'u1')) === 'web-gray' && (await versionsAt(g.gatewayUrl, '/api', 'u1')) === 'api-gray', 10_000);
    const v = await adminGet<View>(g.adminUrl, '/api/v1/releases/both');
    assert.deepEqual(v.services.map((s) => `${s.name}:${s.state}`), ['web:promoted', 'api:promoted']);
  }
});
