/**
 * Clustered mode: two `graylane serve --store etcd://` children, one elected. Every message is
 * delivered exactly once (only the leader sends), also the ones a follower queued for a command it
 * committed; the webhook secret never reaches etcd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectEtcd } from '../../src/store/etcd-connection.js';
import { startUpstream, waitForRollout, writeFile } from '../rollout/helpers.js';
import { etcdForFile, freshPrefix } from '../cluster/helpers.js';
import { adminPost, apply, startClusterGateway, type ClusterGateway } from '../cluster/serve-helpers.js';
import { until, sleep } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { startReceiver } from './helpers.js';
import { webBetaCanary } from '../support/rollouts.js';

const etcd = etcdForFile();
const SECRET = 'cluster-hook-secret-Wq72';

test('clustered: only the leader sends, each message once, including one queued by a follower; no secret in etcd', { timeout: 120_000 }, async (t) => {
  const server = await etcd();
  const prefix = freshPrefix();
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const rx = await startReceiver();
  process.env.GL_TEST_CLUSTER_SECRET = SECRET;
  const gateways: ClusterGateway[] = [];
  t.after(async () => {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    await stable.close();
    await beta.close();
    await rx.close();
    await dir.remove();
    delete process.env.GL_TEST_CLUSTER_SECRET;
  });
  const opts = { endpoint: server.endpoint, prefix, cwd: dir.path };
  gateways.push(await startClusterGateway({ ...opts, name: 'ctl' }));
  gateways.push(await startClusterGateway({ ...opts, name: 'gw', controller: false }));
  const [, gw] = gateways as [ClusterGateway, ClusterGateway];
  await writeFile(
    dir.file('graylane.yaml'),
    'accessLog: false\ndrain: 0s\n' +
      `services:\n  web:\n    versions:\n      stable: [${stable.url}]\n      beta: [${beta.url}]\n` +
      'routes:\n  - service: web\n    visitorCookie: false\n' +
      webBetaCanary(['setWeight: 40', 'pause: {}']) +
      `notifications:\n  targets:\n    hook: { kind: webhook, url: "${rx.url}/hook", secret: { env: GL_TEST_CLUSTER_SECRET } }\n  subscriptions: [ { targets: [hook] } ]\n`,
  );
  assert.equal((await apply(server.endpoint, prefix, dir.file('graylane.yaml'))).code, 0);
  for (const g of gateways) await waitForRollout(g.adminUrl, 'web-beta', (v) => v.reason === 'AwaitingPromotion', 15_000);
  await until('AwaitingPromotion delivered', () => rx.at('/hook').some((r) => r.headers['x-graylane-event'] === 'AwaitingPromotion'), 15_000);

  // A promote through the gateway that does not lead: it commits, queues; the leader sends
  assert.equal((await adminPost(gw.adminUrl, '/api/v1/rollouts/web-beta/promote')).status, 200);
  await until('Completed delivered', () => rx.at('/hook').some((r) => r.headers['x-graylane-event'] === 'Completed'), 15_000);
  await sleep(1500); // passes of both senders
  const ids = rx.at('/hook').map((r) => String(r.headers['x-graylane-delivery']));
  assert.equal(new Set(ids).size, ids.length, `a message arrived twice: ${rx.at('/hook').map((r) => r.headers['x-graylane-event']).join(', ')}`);
  assert.equal(rx.at('/hook').filter((r) => r.headers['x-graylane-event'] === 'Promoted').length, 1);
  assert.equal(rx.at('/hook').filter((r) => r.headers['x-graylane-event'] === 'RolloutStarted').length, 1);

  const conn = connectEtcd({ endpoints: [server.endpoint], prefix, timeoutMs: 2000 });
  try {
    const all = await conn.client.getAll().prefix(prefix).strings();
    const text = JSON.stringify(all);
    assert.ok(!text.includes(SECRET), 'etcd holds the webhook secret');
    assert.ok(Object.keys(all).length > 0);
  } finally {
    conn.close();
  }
});
