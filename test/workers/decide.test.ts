/**
 * Decide mode with `graylane serve --workers 2` (real processes): the workers share the syslog
 * socket and the `POST /report` listener (node:cluster binds each once and hands it to both), every
 * outcome is counted by exactly one worker, and the primary sums what they counted, so builtin
 * analysis in the primary aborts a rollout on 5xx the edge proxy alone reported, and /metrics
 * shows each outcome once. GRAYLANE_REPORT_TOKEN reaches the workers through their environment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import { spawnServe, waitForRollout } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { until } from '../support/wait.js';
import { configOf, metrics, metricSum, stopPrimary, writeConfig } from './helpers.js';

async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An outcome line exactly as the exported nginx config sends it over syslog. */
const line = (version: string, status: number) =>
  `<190>Dec  5 11:20:00 graylane: ${JSON.stringify({ route: 'shop', service: 'web', version, lane: version, status: String(status), time: '0.002' })}`;

test('two workers: syslog and POST /report outcomes are each counted once, summed in the primary, and their 5xx abort the rollout', async (t) => {
  const dir = await tempDir();
  const [syslogPort, reportPort, decidePort] = [await freePort('udp'), await freePort('tcp'), await freePort('tcp')];
  const file = dir.file('graylane.yaml');
  await writeConfig(
    file,
    `listen: 127.0.0.1:0
accessLog: false
drain: 0s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(dir.file('state.db'))} }
decide: { listen: 127.0.0.1:${decidePort}, proxy: nginx, report: { syslog: 127.0.0.1:${syslogPort}, http: 127.0.0.1:${reportPort} } }
services:
  web:
    versions:
      stable: [http://127.0.0.1:1]
      beta: [http://127.0.0.1:2]
routes:
  - { name: shop, match: { host: shop.example.com }, service: web }
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: {}
        analysis: { templates: [canary-errors] }
analysisTemplates:
  canary-errors:
    interval: 200ms
    failureLimit: 0
    inconclusiveLimit: 1000
    successCondition: result < 0.2
    provider: { builtin: { metric: errorRate, version: canary, window: 1m, minRequests: 20 } }
`,
  );
  // The real CLI with GRAYLANE_REPORT_TOKEN: the workers, which run the listener, inherit it.
  const serve = await spawnServe(['-c', file, '--workers', '2', '--log-format', 'json'], dir.path, { GRAYLANE_REPORT_TOKEN: 'workers-report-token' });
  const pids = (await configOf(serve.adminUrl)).workers.map((w) => w.pid!);
  assert.equal(pids.length, 2);
  t.after(async () => {
    await stopPrimary(serve, pids);
    await dir.remove();
  });
  await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.currentStep === 1 && v.phase === 'Paused');

  // Healthy first: 40 stable 200s over syslog, 20 beta 200s in one POST /report batch.
  const socket = dgram.createSocket('udp4');
  t.after(() => new Promise<void>((r) => socket.close(() => r())));
  const send = async (datagrams: string[]) => {
    for (const d of datagrams) await new Promise<void>((resolve, reject) => socket.send(d, syslogPort, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  };
  await send(Array.from({ length: 40 }, () => line('stable', 200)));
  const batch = Array.from({ length: 20 }, () => ({ route: 'shop', service: 'web', version: 'beta', lane: 'beta', status: 200, time: 0.002 }));
  const unauthorized = await request(`http://127.0.0.1:${reportPort}/report`, { method: 'POST', body: JSON.stringify(batch) });
  assert.equal(unauthorized.statusCode, 401);
  await unauthorized.body.dump();
  const posted = await request(`http://127.0.0.1:${reportPort}/report`, { method: 'POST', body: JSON.stringify(batch), headers: { authorization: 'Bearer workers-report-token' } });
  assert.equal(posted.statusCode, 200);
  assert.equal(((await posted.body.json()) as { counted: number }).counted, 20);

  // Each outcome counted once, by one of the two workers, and summed at the primary.
  const counted = async (via: string) => metricSum(await metrics(serve.adminUrl), 'graylane_decide_outcomes_total', `via="${via}",result="counted"`);
  await until('the primary counts 40 syslog and 20 HTTP outcomes', async () => (await counted('syslog')) === 40 && (await counted('http')) === 20, 10_000);
  assert.equal(metricSum(await metrics(serve.adminUrl), 'graylane_requests_total'), 60);
  assert.equal((await waitForRollout(serve.adminUrl, 'web-beta', () => true)).phase, 'Paused', 'a healthy canary is not aborted');

  // Then nginx reports the canary failing: 5xx for beta over syslog only.
  await send(Array.from({ length: 30 }, () => line('beta', 503)));
  const view = await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.phase === 'Degraded', 15_000);
  assert.equal(view.reason, 'AnalysisFailed');
  await until('the primary counts every 5xx once', async () => metricSum(await metrics(serve.adminUrl), 'graylane_requests_total', 'class="5xx"') === 30, 5_000);
  assert.equal(await counted('syslog'), 70);
});
