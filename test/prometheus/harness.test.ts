/** Without Prometheus installed, the tests that need it fail at once saying what to install. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

test('a missing prometheus binary is a clear error naming the package, not a wait', () => {
  const harness = new URL('./harness.js', import.meta.url).href;
  const started = Date.now();
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `const h = await import(${JSON.stringify(harness)}); await h.startPrometheus({ targets: ['127.0.0.1:1'] });`],
    { env: { PATH: '/nonexistent' }, encoding: 'utf8', timeout: 20_000 },
  );
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /cannot run `prometheus --version`.*apt-get install prometheus/);
  assert.ok(Date.now() - started < 15_000, 'it failed at once');
});
