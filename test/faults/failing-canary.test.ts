/**
 * A rollout's canary whose only endpoint fails every request, on a served process (gateway,
 * controller, admin API): passive health must not eject that endpoint (the docs: never a version's
 * last one), so every request of the canary's share keeps reaching it, the client sees its errors,
 * and the builtin analysis counts them and aborts the rollout. Ejecting it would have moved the
 * canary's share to stable after a few failures and left the analysis with too few requests to
 * judge (inconclusive, the rollout paused instead of aborted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { Overview } from '../../src/metrics/overview.js';
import { adminUrlOf, api, gatewayUrlOf, startTestApp, startUpstream, waitForRollout, writeFile } from '../rollout/helpers.js';
import { startFaulty, type Behaviour } from './helpers.js';
import { webBetaErrorRateAbort } from '../support/rollouts.js';
import { tempDir } from '../support/temp.js';

const FAILURES: Record<string, { behaviour: Behaviour; status: number }> = {
  'answers 500 on a kept-alive connection': {
    behaviour: (socket) => socket.write('HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nboom'),
    status: 500,
  },
  'resets the connection on every request': { behaviour: (socket) => socket.resetAndDestroy(), status: 502 },
};

for (const [how, { behaviour, status }] of Object.entries(FAILURES)) {
  test(`a canary whose only endpoint ${how} keeps getting its share, and the analysis sees every error and aborts`, async (t) => {
    const dir = await tempDir();
    const stable = await startUpstream('stable');
    const canary = await startFaulty(behaviour);
    const file = dir.file('graylane.yaml');
    await writeFile(
      file,
      `listen: 127.0.0.1:0
accessLog: false
drain: 0s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(dir.file('state.db'))} }
services:
  web:
    passiveHealth: { consecutiveFailures: 3, eject: 1m }
    versions:
      stable: [${stable.url}]
      beta: [${canary.url}]
routes:
  - service: web
    visitorCookie: false
` + webBetaErrorRateAbort(20),
    );
    const app = await startTestApp(file);
    t.after(async () => {
      await app.close({ drainMs: 0 });
      await stable.close();
      await canary.close();
      await dir.remove();
    });
    const admin = adminUrlOf(app);
    await waitForRollout(admin, 'web-beta', (v) => v.currentStep === 1 && v.phase === 'Paused');

    // When 40 requests go through at 50% (smooth WRR: exactly 20 to the canary)
    const answers: number[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await request(`${gatewayUrlOf(app)}/`);
      const body = await res.body.text();
      if (res.statusCode === 200) assert.equal(res.headers['x-version'], 'stable');
      if (res.statusCode === 502) assert.equal((JSON.parse(body) as { version: string }).version, 'beta');
      answers.push(res.statusCode);
    }

    // Then every one of the canary's 20 reached it and the client got its error: none was moved
    assert.equal(canary.requests, 20, 'requests that reached the canary');
    assert.deepEqual(
      answers.filter((_, i) => i % 2 === 1),
      Array(20).fill(status),
      `every other answer is the canary's (${answers.join(' ')})`,
    );
    assert.deepEqual(
      answers.filter((_, i) => i % 2 === 0),
      Array(20).fill(200),
    );
    // And its endpoint is still in rotation, with every failure counted
    const web = (await api<Overview>(admin, 'GET', '/api/v1/overview')).body.services[0]!;
    const endpoint = web.versions.find((v) => v.name === 'beta')!.endpoints[0]!;
    assert.deepEqual([endpoint.up, endpoint.failures, endpoint.ejections], [true, 20, 0]);

    // And the analysis counted all 20 as errors and aborted the rollout
    const v = await waitForRollout(admin, 'web-beta', (x) => x.phase === 'Degraded', 10_000);
    assert.equal(v.reason, 'AnalysisFailed');
    const measured = v.analysisRuns[0]!.metrics[0]!.measurements.at(-1)!;
    assert.equal(measured.phase, 'Failed');
    assert.equal(Number(measured.value), 1);
  });
}
