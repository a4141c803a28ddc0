/**
 * Every PromQL example of the docs, run by a real Prometheus scraping a real `graylane serve`: a
 * renamed metric or label makes its query come back empty, and this test fails naming the doc line.
 *
 * Given a `graylane serve` with service `checkout` (stable healthy, beta failing one request in
 * five) and a rollout sending beta half the traffic, some traffic, and a rejected reload (so the
 * alert query of observability.md has something to find), then each query answers `success` with a
 * non-empty result.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { prometheusProvider } from '../../src/rollout/providers/prometheus.js';
import { api, send, spawnServe, startUpstream, writeFile, type ServeChild, type Upstream } from '../rollout/helpers.js';
import { promqlQueries, prometheusTemplates } from './doc-queries.js';
import { startPrometheus, type PrometheusServer } from './harness.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

const ROLLOUT = { name: 'checkout-beta', service: 'checkout', stable: 'stable', canary: 'beta' };

let dir: Awaited<ReturnType<typeof tempDir>>;
let upstreams: Upstream[] = [];
let serve: ServeChild | undefined;
let prom: PrometheusServer | undefined;

function configText(stable: string, beta: string, state: string): string {
  return `listen: 127.0.0.1:0
accessLog: false
drain: 0s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(state)} }
services:
  checkout:
    versions:
      stable: [${stable}]
      beta: [${beta}]
routes:
  - service: checkout
    visitorCookie: false
rollouts:
  - name: ${ROLLOUT.name}
    service: checkout
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: {}
`;
}

before(async () => {
  dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta', { failEvery: 5 });
  upstreams = [stable, beta];
  const file = dir.file('graylane.yaml');
  await writeFile(file, configText(stable.url, beta.url, dir.file('state.db')));
  serve = await spawnServe(['-c', file], dir.path);
  await until('weight 50', async () => (await api<{ weight: number }>(serve!.adminUrl, 'GET', `/api/v1/rollouts/${ROLLOUT.name}`)).body.weight === 50, 15_000);
  prom = await startPrometheus({ targets: [new URL(serve.adminUrl).host] });
  // Traffic before the first scrapes and after: every counter has two samples or more in [1m].
  await send(serve.gatewayUrl, 100);
  await prom.waitForScrapes(2);
  await send(serve.gatewayUrl, 100);
  // A rejected reload: graylane_config_last_reload_successful goes to 0 and the old config serves.
  await writeFile(file, 'services: [this is not a mapping\n');
  await until('prometheus to see the rejected reload', async () => {
    const a = await prom!.query('graylane_config_last_reload_successful == 0');
    return Array.isArray(a.data?.result) && a.data.result.length > 0;
  }, 20_000);
  await prom.waitForScrapes(4);
});

after(async () => {
  await prom?.cleanup();
  if (serve !== undefined) {
    serve.child.kill('SIGKILL');
    await serve.exited;
  }
  for (const u of upstreams) await u.close();
  await dir?.remove();
});

test('every ```promql query of docs/observability.md and docs/rollouts.md answers with data from a real Prometheus', async () => {
  for (const doc of ['observability.md', 'rollouts.md']) {
    const queries = promqlQueries(doc);
    if (doc === 'observability.md') assert.ok(queries.length >= 4, `expected the 4 queries of docs/${doc}, found ${queries.length}`);
    for (const { where, query } of queries) {
      const answer = await prom!.query(query);
      assert.equal(answer.status, 'success', `${where}: ${query}\n${answer.errorType}: ${answer.error}`);
      assert.ok(Array.isArray(answer.data?.result) && answer.data.result.length > 0, `${where}: no data for\n${query}`);
    }
    if (doc === 'observability.md') {
      // The first is the error rate per version: stable, without a single 5xx, shows 0 too.
      const rows = (await prom!.query(queries[0]!.query)).data!.result as { metric: { version: string }; value: [number, string] }[];
      const byVersion = Object.fromEntries(rows.map((r) => [r.metric.version, Number(r.value[1])]));
      assert.equal(byVersion.stable, 0, `${queries[0]!.where}: ${JSON.stringify(rows)}`);
      assert.ok(byVersion.beta! > 0.1 && byVersion.beta! < 0.3, `${queries[0]!.where}: ${JSON.stringify(rows)}`);
    }
  }
});

test('every prometheus analysis template of docs/rollouts.md measures a number through the provider', async () => {
  const templates = prometheusTemplates('rollouts.md');
  assert.deepEqual(
    templates.map((t) => t.name),
    ['prometheus-error-rate', 'prometheus-p99'],
  );
  for (const { where, name, template } of templates) {
    const provider = prometheusProvider({ kind: 'prometheus', address: prom!.address, query: template.provider.prometheus.query, headers: {}, timeoutMs: 10_000 });
    const outcome = await provider.measure({ rollout: ROLLOUT });
    assert.equal(outcome.kind, 'value', `${where} ${name}: ${JSON.stringify(outcome)}`);
    const values = (outcome as { value: number[] }).value;
    assert.equal(values.length, 1, `${where} ${name}: one sample expected, got ${JSON.stringify(values)}`);
    assert.ok(Number.isFinite(values[0]), `${where} ${name}: ${values[0]} is not a number`);
  }
  // The canary's error rate is the one its upstream makes: one request in five fails.
  const errorRate = templates[0]!.template.provider.prometheus.query;
  const measured = await prometheusProvider({ kind: 'prometheus', address: prom!.address, query: errorRate, headers: {}, timeoutMs: 10_000 }).measure({ rollout: ROLLOUT });
  const rate = (measured as { value: number[] }).value[0]!;
  assert.ok(rate > 0.1 && rate < 0.3, `beta's error rate ${rate}, expected about 0.2`);
});
