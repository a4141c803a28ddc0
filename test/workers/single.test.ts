/**
 * `workers: 1` (the default) is the one-process gateway, unchanged: no fork, no pool. The worker
 * header is opt-in: absent by default, `0` with `debug.workerHeader` in one process, on proxied
 * answers and on the gateway's own. Raw bytes in, bytes out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { raw } from '../security/helpers.js';
import { startTestApp, startUpstream, writeFile } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';

async function app(t: { after(fn: () => Promise<void>): void }, extra: string) {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    `listen: 127.0.0.1:0\naccessLog: false\ndrain: 0s\nadmin: { listen: 127.0.0.1:0 }\nstate: { path: ${JSON.stringify(dir.file('state.db'))} }\n${extra}services:\n  web:\n    versions:\n      stable: [${stable.url}]\nroutes:\n  - match: { pathPrefix: /app }\n    service: web\n`,
  );
  const a = await startTestApp(file);
  t.after(async () => {
    await a.close({ drainMs: 0 });
    await stable.close();
    await dir.remove();
  });
  return a;
}

const REQUESTS = 'GET /app HTTP/1.1\r\nHost: a\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';

test('workers: 1 is one process: no fork, no pool, and no worker header unless asked for', async (t) => {
  const a = await app(t, 'workers: 1\n');
  assert.equal(a.role, 'single');
  assert.equal(a.workers, null);
  assert.equal(Object.keys(cluster.workers ?? {}).length, 0, 'nothing was forked');
  const r = await raw(a.gateway.address.port, REQUESTS, { responses: 2 });
  assert.deepEqual(r.responses.map((x) => x.status), [200, 404]);
  for (const res of r.responses) assert.equal(res.headers['x-graylane-worker'], undefined);
});

test('debug.workerHeader in one process names worker 0, on proxied answers and the gateway’s own', async (t) => {
  const a = await app(t, 'debug: { workerHeader: true }\n');
  assert.equal(a.role, 'single');
  const r = await raw(a.gateway.address.port, REQUESTS, { responses: 2 });
  assert.deepEqual(r.responses.map((x) => [x.status, x.headers['x-graylane-worker']]), [
    [200, '0'],
    [404, '0'],
  ]);
});
