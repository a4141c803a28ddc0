/**
 * /metrics over the real process (gateway + controller + admin API, startApp) with real upstreams:
 * after a known mix of requests, the scrape, parsed by a real Prometheus text parser, has exactly
 * those counts per route, version, lane and status class; upstream failures, endpoint health,
 * mirror copies, config and rollout state are there; and nothing from the requests themselves (user
 * ids, paths, random lanes) ever becomes a label.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../src/app.js';
import { adminUrlOf, api, gatewayUrlOf, runCli, startTestApp, startUpstream, waitForRollout, writeFile, type Upstream } from '../rollout/helpers.js';
import { allLabelValues, deadUrl, family, histograms, hit, samples, scrape, startSilentUpstream, total, value } from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

/** A bucket bound as a number (`+Inf` included). */
const le = (bound: string): number => (bound === '+Inf' ? Infinity : Number(bound));

interface Setup {
  app: App;
  admin: string;
  gateway: string;
  file: string;
  close(): Promise<void>;
}

function configText(urls: { stable: string; beta: string; broken: string; slow: string }, state: string): string {
  return `
listen: 127.0.0.1:0
accessLog: false
drain: 0s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(state)} }
timeouts: { headers: 300ms }
services:
  web:
    passiveHealth: { consecutiveFailures: 3, eject: 60s }
    versions:
      stable: [${urls.stable}]
      beta: [${urls.beta}]
      broken: [${urls.broken}]
      slow: [${urls.slow}]
  api:
    versions:
      stable: [${urls.stable}]
      beta: [${urls.beta}]
routes:
  - name: trusted
    match: { host: trusted.test }
    service: web
    trustLane: true
    visitorCookie: false
  - name: mirrored
    match: { host: mirror.test }
    service: web
    visitorCookie: false
    mirror: { lane: beta, percent: 100 }
  - name: api
    match: { host: api.test }
    service: api
    visitorCookie: false
  - name: web
    service: web
    visitorCookie: false
    rules:
      - { name: beta-testers, lane: beta, header: { name: x-beta, equals: "1" } }
      - { name: broken, lane: broken, header: { name: x-test, equals: broken } }
      - { name: slow, lane: slow, header: { name: x-test, equals: slow } }
rollouts:
  - name: api-beta
    service: api
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 20
          - pause: {}
`;
}

async function setup(): Promise<Setup> {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  // Every 4th request to beta answers 500.
  const beta: Upstream = await startUpstream('beta', { failEvery: 4 });
  const slow = await startSilentUpstream();
  const file = dir.file('graylane.yaml');
  await writeFile(file, configText({ stable: stable.url, beta: beta.url, broken: await deadUrl(), slow: slow.url }, dir.file('state.db')));
  const app = await startTestApp(file);
  return {
    app,
    admin: adminUrlOf(app),
    gateway: gatewayUrlOf(app),
    file,
    async close() {
      await app.close({ drainMs: 0 });
      await Promise.all([stable.close(), beta.close(), slow.close()]);
      await dir.remove();
    },
  };
}

test('a known mix of requests is counted exactly by route, version, lane and status class', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  const user = { 'x-user-id': 'alice-4821' };

  // Given: 10 plain requests (stable), 8 beta testers (every 4th answer of beta is a 500),
  // 3 to a version whose endpoint refuses connections, 1 to a version that never answers.
  assert.deepEqual(await hit(s.gateway, 10, '/users/alice-4821/orders?uid=alice-4821', user), Array(10).fill(200));
  const betaStatuses = await hit(s.gateway, 8, '/cart/9f86d081884c7d65', { ...user, 'x-beta': '1' });
  assert.deepEqual(betaStatuses, [200, 200, 200, 500, 200, 200, 200, 500]);
  assert.deepEqual(await hit(s.gateway, 3, '/', { 'x-test': 'broken' }), [502, 502, 502]);
  assert.deepEqual(await hit(s.gateway, 1, '/', { 'x-test': 'slow' }), [504]);
  // A trusting route passes client lanes on: a made-up one (served by stable) and a real one.
  for (let i = 0; i < 4; i++) assert.deepEqual(await hit(s.gateway, 1, '/', { host: 'trusted.test', 'x-gray-lane': `lane-of-user-${i}-7d1e` }), [200]);
  assert.deepEqual(await hit(s.gateway, 2, '/', { host: 'trusted.test', 'x-gray-lane': 'beta' }), [200, 200]);

  // When: scraped.
  const m = await scrape(s.admin);

  // Then: exact counts per label set.
  assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
  const req = (route: string, version: string, lane: string, cls: string) =>
    value(m, 'graylane_requests_total', { route, service: 'web', version, lane, class: cls });
  assert.equal(req('web', 'stable', 'stable', '2xx'), 10);
  assert.equal(req('web', 'beta', 'beta', '2xx'), 6);
  assert.equal(req('web', 'beta', 'beta', '5xx'), 2);
  assert.equal(req('web', 'broken', 'broken', '5xx'), 3);
  assert.equal(req('web', 'slow', 'slow', '5xx'), 1);
  assert.equal(req('trusted', 'stable', '_other', '2xx'), 4);
  assert.equal(req('trusted', 'beta', 'beta', '2xx'), 2);
  assert.equal(total(m, 'graylane_requests_total'), 10 + 8 + 3 + 1 + 4 + 2);
  assert.equal(family(m, 'graylane_requests_total').type, 'counter');

  // Latency histogram per version: counts match, buckets are cumulative and end at the count.
  const byVersion = Object.fromEntries(histograms(m, 'graylane_request_duration_seconds').map((h) => [h.labels.version, h]));
  assert.deepEqual(Object.keys(byVersion).sort(), ['beta', 'broken', 'slow', 'stable']);
  assert.equal(byVersion.stable!.count, 14);
  assert.equal(byVersion.beta!.count, 10);
  assert.equal(byVersion.broken!.count, 3);
  assert.equal(byVersion.slow!.count, 1);
  assert.equal(byVersion.stable!.buckets['+Inf'], 14);
  const bounds = Object.keys(byVersion.stable!.buckets).sort((a, b) => le(a) - le(b));
  assert.equal(bounds.at(-1), '+Inf');
  assert.equal(bounds.length, 15);
  for (let i = 1; i < bounds.length; i++) assert.ok(byVersion.stable!.buckets[bounds[i]!]! >= byVersion.stable!.buckets[bounds[i - 1]!]!);
  // The timeout took at least timeouts.headers (300 ms).
  assert.equal(byVersion.slow!.buckets['0.25'], 0);
  assert.equal(byVersion.slow!.buckets['+Inf'], 1);
  assert.ok(byVersion.slow!.sum! >= 0.3, String(byVersion.slow!.sum));

  assert.equal(value(m, 'graylane_upstream_failures_total', { service: 'web', version: 'broken', kind: 'error' }), 3);
  assert.equal(value(m, 'graylane_upstream_failures_total', { service: 'web', version: 'slow', kind: 'timeout' }), 1);
  assert.equal(value(m, 'graylane_upstream_failures_total', { service: 'web', version: 'beta', kind: 'error' }), 0);

  // Three refused connections in a row, but the broken endpoint is its version's only one: passive
  // health never ejects that, so every endpoint is in rotation.
  const endpoints = samples(m, 'graylane_endpoint_up', { service: 'web' });
  assert.equal(endpoints.length, 4);
  for (const e of endpoints) assert.equal(e.value, 1, e.labels.endpoint);

  // No label anywhere holds a user id, a request path or a lane a client made up.
  const labelValues = allLabelValues(m);
  assert.ok(labelValues.length > 50, String(labelValues.length));
  for (const v of labelValues) {
    assert.doesNotMatch(v, /alice|4821|9f86d081|\/users|\/cart|lane-of-user/, `label value ${v}`);
  }
  assert.doesNotMatch(m.text, /alice|9f86d081|lane-of-user/);
});

test('mirror copies, config reloads and rollout state are exported', async (t) => {
  const s = await setup();
  t.after(() => s.close());

  // Mirror: every request of the route is copied to beta.
  assert.deepEqual(await hit(s.gateway, 3, '/', { host: 'mirror.test' }), [200, 200, 200]);
  await until('three mirror copies sent', async () => value(await scrape(s.admin), 'graylane_mirror_copies_total', { result: 'sent' }) === 3, 5000);

  // The rollout stops at its pause: step index 1, the canary at 20%.
  await waitForRollout(s.admin, 'api-beta', (v) => v.reason === 'AwaitingPromotion');
  let m = await scrape(s.admin);
  assert.equal(value(m, 'graylane_mirror_copies_total', { result: 'dropped' }), 0);
  assert.equal(value(m, 'graylane_rollout_phase', { rollout: 'api-beta', service: 'api', phase: 'Paused' }), 1);
  assert.equal(total(m, 'graylane_rollout_phase', { rollout: 'api-beta' }), 1);
  assert.equal(samples(m, 'graylane_rollout_phase', { rollout: 'api-beta' }).length, 5);
  assert.equal(value(m, 'graylane_rollout_step', { rollout: 'api-beta' }), 1);
  assert.equal(value(m, 'graylane_rollout_canary_weight', { rollout: 'api-beta', canary: 'beta' }), 20);
  // No analysis has run: a series per phase, each 0 (the failed analysis is in test/deploy/observability-assets.test.ts).
  assert.equal(samples(m, 'graylane_rollout_analysis_runs', { rollout: 'api-beta' }).length, 5);
  assert.equal(total(m, 'graylane_rollout_analysis_runs', { rollout: 'api-beta' }), 0);
  assert.equal(value(m, 'graylane_store_up'), 1);

  // Config: the served snapshot's id and the config's content hash, the one `graylane validate`
  // prints for the same file; no reloads yet.
  const config = await api<{ snapshotId: string; configHash: string }>(s.admin, 'GET', '/api/v1/config');
  const validated = await runCli(['validate', s.file]);
  assert.equal(validated.code, 0, validated.stderr);
  const printedHash = /config hash ([0-9a-f]{12})\)/.exec(validated.stdout)?.[1];
  assert.equal(printedHash, config.body.configHash, validated.stdout);
  assert.equal(value(m, 'graylane_config_info', { id: config.body.snapshotId, hash: config.body.configHash }), 1);
  assert.equal(samples(m, 'graylane_config_info').length, 1);
  assert.equal(value(m, 'graylane_config_reloads_total', { result: 'ok' }), 0);
  assert.equal(value(m, 'graylane_config_last_reload_successful'), 1);
  const loadedAt = value(m, 'graylane_config_last_reload_timestamp_seconds');
  assert.ok(loadedAt > 1.7e9 && loadedAt < Date.now() / 1000 + 1, String(loadedAt));

  // A broken config is rejected: counted, and the last reload is marked failed.
  const { readFile } = await import('node:fs/promises');
  const good = await readFile(s.file, 'utf8');
  await writeFile(s.file, good.replace('consecutiveFailures: 3', 'consecutiveFailures: lots'));
  await until('a rejected reload', async () => value(await scrape(s.admin), 'graylane_config_reloads_total', { result: 'failed' }) === 1, 8000);
  m = await scrape(s.admin);
  assert.equal(value(m, 'graylane_config_last_reload_successful'), 0);

  // A good one again: applied, counted, and the info gauge follows the new snapshot.
  await writeFile(s.file, good.replace('eject: 60s', 'eject: 30s'));
  await until('an applied reload', async () => value(await scrape(s.admin), 'graylane_config_reloads_total', { result: 'ok' }) === 1, 8000);
  m = await scrape(s.admin);
  assert.equal(value(m, 'graylane_config_last_reload_successful'), 1);
  const after = await api<{ snapshotId: string; configHash: string }>(s.admin, 'GET', '/api/v1/config');
  assert.notEqual(after.body.snapshotId, config.body.snapshotId);
  assert.notEqual(after.body.configHash, config.body.configHash, 'a changed config has a new hash');
  assert.equal(value(m, 'graylane_config_info', { id: after.body.snapshotId, hash: after.body.configHash }), 1);
  assert.equal(samples(m, 'graylane_config_info').length, 1);
});
