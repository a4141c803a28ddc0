/**
 * Canary `hook` steps end to end: real commands and a real webhook receiver on 127.0.0.1 run
 * between weights, the rollout waits for each; a failing hook aborts the rollout as a failed
 * analysis does (traffic back on stable), and the canary's cleanup hook runs once however it ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { adminUrlOf, config, gatewayUrlOf, send, startTestApp, startUpstream, tally, waitForRollout, writeFile } from './helpers.js';
import { tempDir } from '../support/temp.js';
import { WEB_BETA } from '../support/rollouts.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

/** A webhook receiver answering `status` and keeping what it received. */
async function receiver(status: number): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'deployed' : 'deploy tool says no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/deploy`, received, close: () => new Promise((r) => server.close(() => r())) };
}

async function setup(opts: { secondHookExit: number; webhookStatus: number }) {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const hook = await receiver(opts.webhookStatus);
  const log = dir.file('hooks.log');
  const append = (what: string) => JSON.stringify(`echo "${what} $GRAYLANE_HOOK $GRAYLANE_ROLLOUT $GRAYLANE_PHASE $GRAYLANE_TEARDOWN" >> '${log}'`);
  const rest = `
rollouts:
  - name: ${WEB_BETA}
    service: web
    canary: beta
    strategy:
      canary:
        hooks:
          cleanup: { command: ${append('cleanup')}, timeout: 10s }
        steps:
          - hook: { name: scale-up, command: ${append('scale')}, timeout: 10s }
          - setWeight: 20
          - hook: { webhook: { url: ${JSON.stringify(hook.url)}, headers: { x-token: t0k } }, timeout: 10s }
          - setWeight: 50
          - hook: { name: smoke, command: ${JSON.stringify(`sleep 0.3; echo smoke >> '${log}'; exit ${opts.secondHookExit}`)}, timeout: 10s }
          - setWeight: 100
`;
  const file = dir.file('graylane.yaml');
  await writeFile(file, config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest }));
  const app = await startTestApp(file);
  return {
    admin: adminUrlOf(app),
    gateway: gatewayUrlOf(app),
    hook,
    lines: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean),
    async close() {
      await app.close({ drainMs: 0 });
      await Promise.all([stable.close(), beta.close(), hook.close()]);
      await dir.remove();
    },
  };
}

test('given canary hook steps between weights, when each hook succeeds, then the rollout waits for each, completes, and cleanup runs once', async (t) => {
  const s = await setup({ secondHookExit: 0, webhookStatus: 200 });
  t.after(() => s.close());

  const v = await waitForRollout(s.admin, WEB_BETA, (x) => x.phase === 'Healthy' && x.hooks['cleanup']?.state === 'finished', 15_000);
  assert.deepEqual(
    v.steps.map((st) => st.description),
    ['hook scale-up', 'setWeight 20', 'hook step3', 'setWeight 50', 'hook smoke', 'setWeight 100'],
  );
  assert.deepEqual(Object.keys(v.hooks).sort(), ['cleanup', 'scale-up', 'smoke', 'step3']);
  assert.equal(v.hooks['step3']?.httpStatus, 200);
  assert.equal(v.hooks['step3']?.output, 'deployed');
  // The webhook got the rollout's description, its idempotency key, and the configured header.
  assert.equal(s.hook.received.length, 1);
  const got = s.hook.received[0]!;
  assert.equal(got.headers['idempotency-key'], `${WEB_BETA}/a1/step3`);
  assert.equal(got.headers['x-token'], 't0k');
  assert.deepEqual([got.body.hook, got.body.rollout, got.body.service, got.body.canary, got.body.phase], ['step3', WEB_BETA, 'web', 'beta', 'Progressing']);
  // Commands ran in order, each once; cleanup after the end, tearing down the old stable.
  assert.deepEqual(await s.lines(), [`scale scale-up ${WEB_BETA} Progressing `, 'smoke', `cleanup cleanup ${WEB_BETA} Healthy stable`]);
  assert.deepEqual(tally(await send(s.gateway, 10)), { beta: 10 });
});

test('given a canary hook step that fails, then the rollout aborts (HookFailed), traffic is back on stable, and cleanup still runs once', async (t) => {
  const s = await setup({ secondHookExit: 3, webhookStatus: 200 });
  t.after(() => s.close());

  const v = await waitForRollout(s.admin, WEB_BETA, (x) => x.phase === 'Degraded' && x.hooks['cleanup']?.state === 'finished', 15_000);
  assert.equal(v.reason, 'HookFailed');
  assert.match(v.message, /hook smoke failed: exit code 3/);
  assert.equal(v.steps[4]?.state, 'aborted');
  assert.deepEqual(v.traffic, { stable: 100 });
  assert.deepEqual(tally(await send(s.gateway, 20)), { stable: 20 });
  assert.deepEqual(await s.lines(), [`scale scale-up ${WEB_BETA} Progressing `, 'smoke', `cleanup cleanup ${WEB_BETA} Degraded beta`]);
});

test('given a webhook hook step answered 500, then the rollout aborts before the next weight', async (t) => {
  const s = await setup({ secondHookExit: 0, webhookStatus: 500 });
  t.after(() => s.close());

  const v = await waitForRollout(s.admin, WEB_BETA, (x) => x.phase === 'Degraded' && x.hooks['cleanup']?.state === 'finished', 15_000);
  assert.equal(v.reason, 'HookFailed');
  assert.match(v.message, /hook step3 failed: POST http:\/\/127\.0\.0\.1:\d+\/deploy: HTTP 500/);
  assert.equal(v.hooks['step3']?.output, 'deploy tool says no');
  assert.equal(v.weight, 0);
  assert.deepEqual(tally(await send(s.gateway, 10)), { stable: 10 });
  assert.equal((await s.lines()).includes('smoke'), false, 'the steps after the failed hook never ran');
});
