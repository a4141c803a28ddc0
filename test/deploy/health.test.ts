/**
 * /healthz and /readyz on the admin listener, asked over real sockets of real `graylane serve`
 * children, as kubelet and docker's HEALTHCHECK ask them: no token, GET or HEAD.
 * - one process: live and ready once it serves; while it drains (SIGTERM with a request in
 *   flight) not ready but still live, every other admin route refused, the request finishing.
 * - clustered: etcd stopped under a running gateway, and a gateway started from its cache while
 *   etcd is down: both stay ready (they serve the cached spec) and say `store.up: false`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { minimalConfig, startServe, startUpstream } from '../packaging/serve-child.js';
import { etcdForFile, freshPrefix } from '../cluster/helpers.js';
import { apply, startClusterGateway, type ClusterGateway } from '../cluster/serve-helpers.js';
import { tempDir } from '../support/temp.js';
import { until } from '../support/wait.js';
import { writeFile } from '../rollout/helpers.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const etcd = etcdForFile();

interface Readiness {
  ready: boolean;
  reason?: string;
  snapshotId: string;
  store: { kind: string; up: boolean };
}

async function probe(admin: string, path: string, method = 'GET'): Promise<{ status: number; body: unknown }> {
  const res = await fetch(admin + path, { method });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

test('one process: live and ready without a token; while draining not ready, still live, other routes refused', async (t) => {
  const dir = await tempDir();
  // An upstream that holds one request until told, so that the drain has something to wait for.
  let release: () => void = () => {};
  let arrived = false;
  const held = http.createServer((req, res) => {
    arrived = true;
    release = () => res.end('released');
  });
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
  const upstream = `http://127.0.0.1:${(held.address() as AddressInfo).port}`;
  await writeFile(dir.file('g.yaml'), `drain: 20s\n${minimalConfig(upstream)}`);
  const serve = await startServe(process.execPath, [CLI], ['-c', dir.file('g.yaml'), '--state', dir.file('state.db')], {
    env: { ...process.env, GRAYLANE_ADMIN_TOKEN: 'secret-token-for-the-test' },
  });
  t.after(async () => {
    release();
    await serve.stop();
    held.closeAllConnections();
    held.close();
    await dir.remove();
  });

  assert.deepEqual(await probe(serve.admin, '/healthz'), { status: 200, body: { status: 'ok' } });
  const ready = await probe(serve.admin, '/readyz');
  assert.equal(ready.status, 200);
  const config = (await probe(serve.admin, '/api/v1/config')).body as { snapshotId: string };
  assert.deepEqual(ready.body, { ready: true, snapshotId: config.snapshotId, store: (ready.body as Readiness).store });
  assert.equal((ready.body as Readiness).store.kind, 'sqlite');
  assert.equal((await probe(serve.admin, '/readyz', 'HEAD')).status, 200);
  assert.equal((await probe(serve.admin, '/readyz', 'POST')).status, 405);

  // Given a request in flight
  const inFlight = fetch(`${serve.gateway}/slow`).then(async (r) => [r.status, await r.text()] as const);
  await until('the upstream holds the request', () => arrived, 10_000);
  // When the process is told to stop
  serve.child.kill('SIGTERM');
  // Then it says it is not ready, stays live, and refuses the rest of the admin API
  await until('not ready', async () => (await probe(serve.admin, '/readyz')).status === 503, 10_000);
  const draining = (await probe(serve.admin, '/readyz')).body as Readiness;
  assert.equal(draining.ready, false);
  assert.equal(draining.reason, 'draining');
  assert.deepEqual(await probe(serve.admin, '/healthz'), { status: 200, body: { status: 'ok' } });
  const refused = await probe(serve.admin, '/api/v1/config');
  assert.equal(refused.status, 503);
  assert.equal((refused.body as { error: string }).error, 'draining');
  // And the request in flight finishes, then the process exits cleanly
  release();
  assert.deepEqual(await inFlight, [200, 'released']);
  assert.equal(await serve.stop(), 0, serve.stderr());
});

test('clustered: etcd down is still ready (the cached spec serves), for a running gateway and one started from its cache', async (t) => {
  const server = await etcd();
  const prefix = freshPrefix();
  const dir = await tempDir();
  const up = await startUpstream();
  const gateways: ClusterGateway[] = [];
  t.after(async () => {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    await up.close();
    await dir.remove();
    if (server.pid === undefined) await server.start();
  });
  await writeFile(dir.file('g.yaml'), `drain: 0s\naccessLog: false\n${minimalConfig(up.url)}`);
  assert.equal((await apply(server.endpoint, prefix, dir.file('g.yaml'))).code, 0);
  const first = await startClusterGateway({ endpoint: server.endpoint, prefix, name: 'gw1', cwd: dir.path, cacheDir: dir.file('cache') });
  gateways.push(first);
  const r1 = (await probe(first.adminUrl, '/readyz')) as { status: number; body: Readiness };
  assert.equal(r1.status, 200);
  assert.equal(r1.body.ready, true);
  assert.equal(r1.body.store.kind, 'etcd');
  await until('gw1 watches etcd', async () => ((await probe(first.adminUrl, '/readyz')).body as Readiness).store.up, 10_000);

  // When etcd stops
  await server.stop();
  // Then the running gateway says the store is down, and stays ready and serving
  await until('gw1 sees etcd down', async () => ((await probe(first.adminUrl, '/readyz')).body as Readiness).store.up === false, 15_000);
  const r2 = (await probe(first.adminUrl, '/readyz')) as { status: number; body: Readiness };
  assert.equal(r2.status, 200);
  assert.equal(r2.body.ready, true);
  assert.equal((await fetch(`${first.gatewayUrl}/x`)).status, 200);
  assert.equal((await probe(first.adminUrl, '/healthz')).status, 200);

  // And a gateway (re)started from the cache while etcd is down is ready from its first answer
  await first.stop('SIGKILL');
  const second = await startClusterGateway({ endpoint: server.endpoint, prefix, name: 'gw2', cwd: dir.path, cacheDir: dir.file('cache') });
  gateways.push(second);
  const r3 = (await probe(second.adminUrl, '/readyz')) as { status: number; body: Readiness };
  assert.equal(r3.status, 200, JSON.stringify(r3.body));
  assert.equal(r3.body.store.up, false);
  assert.equal(await (await fetch(`${second.gatewayUrl}/y`)).text(), 'hello from stable /y');
});
