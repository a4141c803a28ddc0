/**
 * The gateway's per-version counters that builtin analysis reads: a real gateway reporting to a
 * TrafficRecorder through its `observer` option.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import { startGateway } from '../../src/gateway/index.js';
import { TrafficRecorder } from '../../src/traffic/index.js';
import { compile } from '../../src/routing/index.js';
import { parseSpec } from '../../src/spec/index.js';
import { startUpstream } from './helpers.js';

test('every proxied request is counted for the version that served it, upstream failures as errors', async (t) => {
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta', { failEvery: 2 });
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));

  const spec = parseSpec(
    `services:
  web:
    versions: { stable: [${stable.url}], beta: [${beta.url}] }
  down:
    versions: { stable: [http://127.0.0.1:${deadPort}] }
routes:
  - { match: { host: down.test }, service: down }
  - { service: web, split: { stable: 1, beta: 1 } }
`,
    'gl.yaml',
  );
  const window = new TrafficRecorder();
  const gateway = await startGateway({ snapshot: compile(spec), host: '127.0.0.1', port: 0, accessLog: false, observer: window });
  t.after(async () => {
    await gateway.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
  });
  const base = `http://127.0.0.1:${gateway.address.port}`;
  for (let i = 0; i < 20; i++) await (await request(`${base}/`)).body.dump();
  for (let i = 0; i < 3; i++) await (await request(`${base}/`, { headers: { host: 'down.test' } })).body.dump();

  const w = (service: string, version: string) => {
    const s = window.window(service, version, 60_000);
    return { requests: s.requests, errors: s.errors, latency: s.p99 > 0 };
  };
  assert.deepEqual(w('web', 'stable'), { requests: 10, errors: 0, latency: true });
  assert.deepEqual(w('web', 'beta'), { requests: 10, errors: 5, latency: true });
  assert.deepEqual(w('down', 'stable'), { requests: 3, errors: 3, latency: true });
});
