/**
 * Notifications end to end, in process: a rollout's events reach a local receiver of every kind
 * in that platform's exact format and signature; receivers that are down, never answer or answer
 * 500 delay neither the rollout nor the gateway; a failing receiver gets its messages once it
 * recovers; the secrets never reach the state store, the admin API or the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { startApp } from '../../src/app.js';
import { adminUrlOf, api, config, gatewayUrlOf, send, startUpstream, waitForRollout, writeFile, TOKEN } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { until } from '../support/wait.js';
import { closedPort, metric, startReceiver } from './helpers.js';
import { webBetaCanary } from '../support/rollouts.js';

const HOOK_SECRET = 'hook-secret-Zq81xPl0';
const LARK_SECRET = 'lark-secret-Yw27aQv9';
const DING_SECRET = 'SECding-Rt55mNb3';
const WECOM_KEY = 'wecom-key-Hh40pLe6';

test('every kind receives the rollout events in its documented format; failing receivers delay nothing; secrets stay out of the store, API and log', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const rx = await startReceiver();
  const down = await closedPort();
  rx.behave('/slow', { kind: 'hang' });
  rx.behave('/flaky', { kind: 'fail', times: 2 });
  rx.behave('/broken', { kind: 'fail', times: 1_000_000 });
  const secretFile = dir.file('lark.secret');
  await writeFile(secretFile, `${LARK_SECRET}\n`);
  process.env.GL_TEST_HOOK_SECRET = HOOK_SECRET;
  process.env.GL_TEST_DING_SECRET = DING_SECRET;
  process.env.GL_TEST_WECOM_URL = `${rx.url}/wecom?key=${WECOM_KEY}`;
  const file = dir.file('graylane.yaml');
  const PAUSE_MS = 600;
  await writeFile(
    file,
    config({
      stable: stable.url,
      beta: beta.url,
      state: dir.file('state.db'),
      rest: `${webBetaCanary(['setWeight: 20', `pause: { duration: ${PAUSE_MS}ms }`, 'setWeight: 50'])}notifications:
  targets:
    hook: { kind: webhook, url: "${rx.url}/hook", secret: { env: GL_TEST_HOOK_SECRET } }
    slack: { kind: slack, url: "${rx.url}/slack" }
    lark: { kind: feishu, url: "${rx.url}/lark", secret: { file: ${JSON.stringify(secretFile)} } }
    ding: { kind: dingtalk, url: "${rx.url}/ding?access_token=tok", secret: { env: GL_TEST_DING_SECRET } }
    wecom: { kind: wecom, url: { env: GL_TEST_WECOM_URL } }
    down: { kind: slack, url: "http://127.0.0.1:${down}/down" }
    slow: { kind: slack, url: "${rx.url}/slow" }
    flaky: { kind: slack, url: "${rx.url}/flaky" }
    broken: { kind: slack, url: "${rx.url}/broken" }
  subscriptions:
    - { targets: [hook, slack, lark, ding, wecom, down, slow, flaky, broken], rollouts: [web-beta] }
  delivery: { attempts: 3, backoff: 50ms, maxBackoff: 100ms, timeout: 5s }
`,
    }),
  );
  const logLines: string[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const app = await startApp({ configFile: file, logger: pino({ level: 'debug' }, logStream), adminToken: TOKEN });
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await rx.close();
    await dir.remove();
    delete process.env.GL_TEST_HOOK_SECRET;
    delete process.env.GL_TEST_DING_SECRET;
    delete process.env.GL_TEST_WECOM_URL;
  });
  const admin = adminUrlOf(app);

  // The rollout walks on time although three receivers fail (one never answers, within a 5 s timeout).
  const paused = await waitForRollout(admin, 'web-beta', (v) => v.currentStep === 1 && v.reason === 'PauseStep');
  const done = await waitForRollout(admin, 'web-beta', (v) => v.phase === 'Healthy', 10_000);
  const late = done.completedAt! - paused.pauseDeadline!;
  assert.ok(late < 1500, `the rollout completed ${late} ms after its pause deadline`);
  // The gateway serves meanwhile (the slow receiver still holds its request open).
  const t0 = Date.now();
  await send(gatewayUrlOf(app), 20);
  assert.ok(Date.now() - t0 < 3000, 'the gateway answered 20 requests promptly');

  const events = ['RolloutStarted', 'StepStarted', 'Completed'];
  await until('webhook got RolloutStarted, StepStarted and Completed', () => events.every((e) => rx.at('/hook').some((r) => r.headers['x-graylane-event'] === e)), 15_000);
  await until('every chat kind got the Completed message', () => ['/slack', '/lark', '/ding', '/wecom'].every((p) => rx.at(p).some((r) => r.body.includes('Completed'))), 15_000);

  // webhook: body schema and signature over "<timestamp>.<body>"
  for (const r of rx.at('/hook')) {
    const ts = String(r.headers['x-graylane-timestamp']);
    const sig = crypto.createHmac('sha256', HOOK_SECRET).update(`${ts}.${r.body}`).digest('hex');
    assert.equal(r.headers['x-graylane-signature'], `sha256=${sig}`);
    assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60, 'the timestamp is now');
    const body = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(body.version, 1);
    assert.equal(body.rollout, 'web-beta');
    assert.equal(body.service, 'web');
    assert.equal(body.id, r.headers['x-graylane-delivery']);
  }
  // feishu: timestamp (s) + sign = base64(HMAC(key = ts\nsecret, "")) from the secret file (newline dropped)
  for (const r of rx.at('/lark')) {
    const b = JSON.parse(r.body) as { timestamp: string; sign: string; msg_type: string; content: { text: string } };
    assert.equal(b.sign, crypto.createHmac('sha256', `${b.timestamp}\n${LARK_SECRET}`).update('').digest('base64'));
    assert.equal(b.msg_type, 'text');
  }
  // dingtalk: ?access_token=tok&timestamp=<ms>&sign=<urlencoded base64(HMAC(secret, ts\nsecret))>
  for (const r of rx.at('/ding')) {
    const u = new URL(r.url, 'http://x');
    const ts = u.searchParams.get('timestamp')!;
    assert.equal(u.searchParams.get('access_token'), 'tok');
    assert.equal(u.searchParams.get('sign'), crypto.createHmac('sha256', DING_SECRET).update(`${ts}\n${DING_SECRET}`).digest('base64'));
    assert.equal((JSON.parse(r.body) as { msgtype: string }).msgtype, 'markdown');
  }
  // wecom: the URL from the environment, markdown body
  for (const r of rx.at('/wecom')) {
    assert.equal(r.url.split('?')[1], `key=${WECOM_KEY}`);
    assert.equal((JSON.parse(r.body) as { msgtype: string }).msgtype, 'markdown');
  }
  // slack
  for (const r of rx.at('/slack')) assert.deepEqual(Object.keys(JSON.parse(r.body) as object), ['text']);

  // flaky answered 500 twice, then took everything: retried, then delivered.
  const sentToSlack = rx.at('/slack').length;
  await until('flaky receives every message after its two 500s', () => rx.at('/flaky').filter((r) => r.body).length >= sentToSlack + 2, 15_000);
  const metrics = async (): Promise<string> => (await (await request(`${admin}/metrics`)).body.text());
  await until('down and broken messages dropped after 3 tries', async () => {
    const m = await metrics();
    return metric(m, 'graylane_notifications_sent_total', { target: 'broken', outcome: 'dropped' }) === sentToSlack && metric(m, 'graylane_notifications_sent_total', { target: 'down', outcome: 'dropped' }) === sentToSlack;
  }, 15_000);
  const m = await metrics();
  assert.equal(metric(m, 'graylane_notifications_sent_total', { target: 'flaky', outcome: 'failed' }), 2);
  assert.equal(metric(m, 'graylane_notifications_sent_total', { target: 'flaky', outcome: 'sent' }), sentToSlack);
  assert.equal(metric(m, 'graylane_notifications_sent_total', { target: 'broken', outcome: 'failed' }), 2 * sentToSlack);
  assert.equal(rx.at('/broken').length, 3 * sentToSlack, 'exactly `attempts` tries each');
  assert.equal(rx.at('/slow').length, 1, 'the slow receiver holds one request: its target waits, nothing else does');
  assert.ok(logLines.some((l) => l.includes('notification dropped') && l.includes('"target":"down"')), 'drops are logged');

  // The secrets are nowhere: the state files, the config answer, the log.
  const configAnswer = JSON.stringify((await api(admin, 'GET', '/api/v1/config')).body);
  const stateBytes = await Promise.all((await readdir(dir.path)).filter((f) => f.startsWith('state.db')).map((f) => readFile(dir.file(f), 'latin1')));
  for (const secret of [HOOK_SECRET, LARK_SECRET, DING_SECRET, WECOM_KEY]) {
    assert.ok(!configAnswer.includes(secret), `/api/v1/config shows ${secret}`);
    assert.ok(!stateBytes.some((b) => b.includes(secret)), `the state store holds ${secret}`);
    assert.ok(!logLines.some((l) => l.includes(secret)), `the log shows ${secret}`);
  }
  assert.ok(stateBytes.some((b) => b.includes('notify/queue/')), 'the queue did live in the state store');
});

test('a rejected reload is told to the subscribed target, and the old config keeps serving', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const rx = await startReceiver();
  const file = dir.file('graylane.yaml');
  const good = config({
    stable: stable.url,
    beta: beta.url,
    state: dir.file('state.db'),
    rest: `notifications:
  targets:
    wecom: { kind: wecom, url: "${rx.url}/wecom?key=k" }
  subscriptions: [ { targets: [wecom], events: [ReloadRejected] } ]
`,
  });
  await writeFile(file, good);
  const app = await startApp({ configFile: file, logger: pino({ level: 'silent' }), adminToken: TOKEN });
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await rx.close();
    await dir.remove();
  });
  await writeFile(file, good.replace('routes:\n  - service: web', 'routes:\n  - service: webb'));
  await until('the ReloadRejected message', () => rx.at('/wecom').length > 0, 15_000);
  const body = JSON.parse(rx.at('/wecom')[0]!.body) as { msgtype: string; markdown: { content: string } };
  assert.equal(body.msgtype, 'markdown');
  assert.match(body.markdown.content, /config rejected/);
  assert.match(body.markdown.content, /routes\[0\]\.service: unknown service "webb"/);
  assert.deepEqual(await send(gatewayUrlOf(app), 1), ['stable']);
});
