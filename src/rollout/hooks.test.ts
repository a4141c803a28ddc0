import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runHook, type HookContext } from './hooks.js';
import { runAction } from './effects.js';
import { TrafficRecorder } from '../traffic/index.js';
import type { HookSpec, RolloutSpec } from '../spec/rollout-model.js';

const ctx: HookContext = {
  id: 'checkout-blue/a2/cleanup',
  hook: 'cleanup',
  rollout: { name: 'checkout-blue', service: 'checkout', stable: 'stable', canary: 'blue' },
  attempt: 2,
  phase: 'Degraded',
};

const command = (cmd: string[] | string, timeoutMs = 10_000): HookSpec => ({
  kind: 'command', command: typeof cmd === 'string' ? ['/bin/sh', '-c', cmd] : cmd, env: { EXTRA: 'e' }, cwd: null, timeoutMs,
});

async function server(status: number | null): Promise<{ url: string; seen: { headers: IncomingHttpHeaders; body: string }[] }> {
  const seen: { headers: IncomingHttpHeaders; body: string }[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      if (status !== null) res.writeHead(status).end(`answer ${status}`);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`, seen };
}

test('command hook: exit 0 succeeds with the rollout in its environment and its output kept', async () => {
  const r = await runHook(command('echo "$GRAYLANE_ROLLOUT $GRAYLANE_HOOK $GRAYLANE_ATTEMPT $GRAYLANE_PHASE $GRAYLANE_CANARY $GRAYLANE_HOOK_ID $EXTRA"'), ctx);
  assert.equal(r.ok, true);
  assert.equal(r.exitCode, 0);
  assert.equal(r.output.trim(), 'checkout-blue cleanup 2 Degraded blue checkout-blue/a2/cleanup e');
  assert.equal(r.message, 'exit code 0');
  assert.ok(r.finishedAt >= r.startedAt);
});

test('command hook: a non-zero exit, a timeout and a missing program fail', async () => {
  const fail = await runHook(command('echo deploying; echo "no space left" >&2; exit 7'), ctx);
  assert.deepEqual([fail.ok, fail.exitCode, fail.message, fail.timedOut], [false, 7, 'exit code 7', false]);
  assert.match(fail.output, /deploying\nno space left/);
  const slow = await runHook(command(['/bin/sleep', '30'], 200), ctx);
  assert.deepEqual([slow.ok, slow.timedOut, slow.message], [false, true, 'timed out after 200 ms']);
  const missing = await runHook(command(['/nonexistent/deploy']), ctx);
  assert.equal(missing.ok, false);
  assert.match(missing.message, /could not start: .*ENOENT/);
});

test('command hook: only the tail of a long output is kept', async () => {
  const r = await runHook(command('i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done'), ctx);
  assert.equal(r.ok, true);
  assert.ok(r.output.length <= 4096);
  assert.match(r.output, /line 1999\n$/);
});

test('webhook hook: POSTs the rollout as JSON with the effect id as Idempotency-Key; 2xx succeeds', async () => {
  const srv = await server(204);
  const r = await runHook({ kind: 'webhook', url: srv.url, headers: { authorization: 'Bearer s3cret' }, timeoutMs: 5000 }, ctx);
  assert.equal(r.ok, true);
  assert.equal(r.httpStatus, 204);
  const got = srv.seen[0]!;
  assert.equal(got.headers['idempotency-key'], 'checkout-blue/a2/cleanup');
  assert.equal(got.headers.authorization, 'Bearer s3cret');
  assert.equal(got.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(got.body), {
    id: 'checkout-blue/a2/cleanup', hook: 'cleanup', rollout: 'checkout-blue', service: 'checkout', stable: 'stable', canary: 'blue', attempt: 2, phase: 'Degraded', promotion: null, teardown: 'blue',
  });
});

test('webhook hook: another status, no answer in time, or nobody listening fails', async () => {
  const bad = await server(500);
  const r500 = await runHook({ kind: 'webhook', url: bad.url, headers: {}, timeoutMs: 5000 }, ctx);
  assert.deepEqual([r500.ok, r500.httpStatus, r500.output], [false, 500, 'answer 500']);
  const silent = await server(null);
  const late = await runHook({ kind: 'webhook', url: silent.url, headers: {}, timeoutMs: 200 }, ctx);
  assert.equal(late.ok, false);
  assert.equal(late.timedOut, true);
  assert.match(late.message, /timed out after 200 ms/);
  const down = await runHook({ kind: 'webhook', url: 'http://127.0.0.1:1/hook', headers: {}, timeoutMs: 2000 }, ctx);
  assert.equal(down.ok, false);
  assert.match(down.message, /ECONNREFUSED/);
});

test('runAction turns hook and measure actions into the observations reconcile reads', async () => {
  const rollout: RolloutSpec = { name: 'r', service: 'whoami', stable: 'stable', canary: 'beta', strategy: { kind: 'canary', steps: [], analysis: null } };
  const hook = await runAction({ type: 'runHook', id: 'r/a1/preRollout', rollout: 'r', hook: 'preRollout', spec: command('exit 0'), attempt: 1, phase: 'Progressing' }, rollout);
  assert.equal(hook.type, 'hook');
  assert.equal(hook.type === 'hook' && hook.result.ok, true);

  const window = new TrafficRecorder({ clock: () => 5_000 });
  window.record('whoami', 'beta', 500, 3, 5_000);
  const measured = await runAction(
    {
      type: 'measure', id: 'r/a1.step0/t/0', rollout: 'r', runId: 'a1.step0', since: 0,
      template: {
        name: 't', intervalMs: null, initialDelayMs: 0, count: 1, failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4, successCondition: 'result < 0.5', failureCondition: null,
        provider: { kind: 'builtin', metric: 'errorRate', service: null, version: 'canary', windowMs: 60_000, minRequests: 1 },
      },
    },
    rollout,
    { metrics: window, clock: () => 42 },
  );
  assert.deepEqual(measured, { type: 'measurement', id: 'r/a1.step0/t/0', outcome: { kind: 'value', value: 1, message: '1 requests, 1 errors' }, finishedAt: 42 });
});

test('cleanup is told what to tear down: the old stable after a switch, the preview after an upgrade or an abort', async () => {
  const env = async (promotion: 'switch' | 'upgrade', phase: 'Healthy' | 'Degraded', hook: 'cleanup' | 'preRollout' = 'cleanup') =>
    (await runHook(command('echo "$GRAYLANE_PROMOTION:$GRAYLANE_TEARDOWN"'), { ...ctx, hook, phase, promotion })).output.trim();
  assert.equal(await env('switch', 'Healthy'), 'switch:stable');
  assert.equal(await env('upgrade', 'Healthy'), 'upgrade:blue');
  assert.equal(await env('switch', 'Degraded'), 'switch:blue');
  assert.equal(await env('upgrade', 'Degraded'), 'upgrade:blue');
  assert.equal(await env('switch', 'Healthy', 'preRollout'), 'switch:');
});
