/**
 * Workers in clustered mode: `graylane serve --store etcd://... --workers 2` on a real etcd. Only the
 * primary talks to etcd; a spec applied with the real `graylane apply` reaches both workers, and the
 * counters published to etcd are the workers' sum, under the primary's one gateway key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseCountersDocument } from '../../src/traffic/index.js';
import { Connections, etcdForFile, freshPrefix } from '../cluster/helpers.js';
import { apply } from '../cluster/serve-helpers.js';
import { spawnServe, writeFile } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { until } from '../support/wait.js';
import { configOf, fromEveryWorker, startUpstream, stopPrimary } from './helpers.js';

const etcd = etcdForFile();

/** TCP connections to `port` on 127.0.0.1, by owning pid (from `ss -tnp`). */
function connectionsTo(port: number): Map<number, number> {
  const out = spawnSync('ss', ['-Htnp', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' }).stdout;
  const by = new Map<number, number>();
  for (const m of out.matchAll(/pid=(\d+)/g)) by.set(Number(m[1]), (by.get(Number(m[1])) ?? 0) + 1);
  return by;
}

test('clustered mode with workers: only the primary talks to etcd; an applied spec reaches every worker; counters are published summed', async (t) => {
  const server = await etcd();
  const prefix = freshPrefix();
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const conns = new Connections();
  const spec = (lane: string): string =>
    `accessLog: false\ndrain: 0s\ndebug: { workerHeader: true }\nservices:\n  web:\n    versions:\n      stable: [${stable.url}]\n      beta: [${beta.url}]\nroutes:\n  - service: web\n    lane: ${lane}\n`;
  await writeFile(dir.file('graylane.yaml'), spec('stable'));
  assert.equal((await apply(server.endpoint, prefix, dir.file('graylane.yaml'))).code, 0);
  const endpoint = server.endpoint.replace(/^http:\/\//, '');
  const serve = await spawnServe(
    ['--store', `etcd://${endpoint}`, '--prefix', prefix, '--name', 'gw', '--cache-dir', dir.file('cache'), '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--no-access-log', '--workers', '2', '--log-format', 'json'],
    dir.path,
  );
  const pids = (await configOf(serve.adminUrl)).workers.map((w) => w.pid!);
  t.after(async () => {
    conns.closeAll();
    await stopPrimary(serve, pids);
    await Promise.all([stable.close(), beta.close()]);
    await dir.remove();
  });

  const before = await fromEveryWorker(serve.gatewayUrl, 2);
  for (const list of before.values()) assert.ok(list.every((a) => a.version === 'stable'));

  const etcdPort = Number(new URL(server.endpoint).port);
  const talking = connectionsTo(etcdPort);
  assert.ok((talking.get(serve.child.pid!) ?? 0) > 0, `the primary is connected to etcd: ${JSON.stringify([...talking])}`);
  for (const pid of pids) assert.equal(talking.get(pid) ?? 0, 0, `worker ${pid} has no connection to etcd`);

  await writeFile(dir.file('graylane.yaml'), spec('beta'));
  assert.equal((await apply(server.endpoint, prefix, dir.file('graylane.yaml'))).code, 0);
  await until('every worker serves the applied spec', async () => {
    const c = await configOf(serve.adminUrl);
    return c.reloads === 1 && c.workers.every((w) => w.snapshotId === c.snapshotId);
  });
  const after = await fromEveryWorker(serve.gatewayUrl, 2);
  for (const [worker, list] of after) assert.ok(list.every((a) => a.version === 'beta'), `worker ${worker}: ${JSON.stringify(list)}`);

  // What the primary publishes for the cluster's analysis: every request of both workers, one document.
  const sent = [...before.values(), ...after.values()].flat();
  const etcdConn = conns.open(server.endpoint, prefix);
  let published = -1;
  await until(
    'the published counters hold every request',
    async () => {
      const { entry } = await etcdConn.get('read counters', etcdConn.keys.counters(`gw-${serve.child.pid}`));
      const doc = entry === null ? null : parseCountersDocument(entry.value.toString());
      published = doc === null ? -1 : Object.values(doc.versions.web ?? {}).reduce((n, v) => n + v.requests, 0);
      return published === sent.length;
    },
    10_000,
  ).catch((e: Error) => assert.fail(`${e.message}: published ${published} of ${sent.length}`));
});
