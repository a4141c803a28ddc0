/**
 * Prometheus analysis, real: a real Prometheus scrapes the admin listener of a running graylane
 * every second, and a rollout judges its canary with the analysis template of docs/rollouts.md
 * (query and conditions as written; only the address and the timing are the test's).
 *
 * Given graylane serving service `checkout` (versions stable, good, bad: bad fails every other
 * request) with no rollout, and Prometheus scraping it,
 * when a rollout is added to the running config (the file reloads),
 * then: a canary on `bad` is aborted by the analysis (AnalysisFailed); a canary on `good` completes;
 * a query Prometheus refuses and an unreachable Prometheus are Error measurements that abort the
 * rollout once more than consecutiveErrorLimit come in a row (AnalysisError), never a success.
 */
import { rename } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import type { App } from '../../src/app.js';
import type { RolloutDetail } from '../../src/admin/rollouts.js';
import { freePort } from '../support/etcd.js';
import {
  adminUrlOf,
  api,
  backgroundTraffic,
  gatewayUrlOf,
  send,
  startTestApp,
  startUpstream,
  tally,
  waitForRollout,
  writeFile,
  type Upstream,
} from '../rollout/helpers.js';
import { prometheusTemplates } from './doc-queries.js';
import { startPrometheus, type PrometheusServer } from './harness.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let upstreams: Record<'stable' | 'good' | 'bad', Upstream>;
let app: App | undefined;
let prom: PrometheusServer | undefined;

const docTemplate = (): Record<string, unknown> & { provider: { prometheus: { address: string; query: string } } } => {
  const found = prometheusTemplates('rollouts.md').find((t) => t.name === 'prometheus-error-rate');
  assert.ok(found, 'docs/rollouts.md has no analysis template prometheus-error-rate');
  return found.template;
};

/** The config: the service, and `rollout` with its templates when given. */
function configText(rollout?: { name: string; canary: string; templates: Record<string, unknown> }): string {
  const doc: Record<string, unknown> = {
    listen: '127.0.0.1:0',
    accessLog: false,
    drain: '0s',
    admin: { listen: '127.0.0.1:0' },
    state: { path: dir.file('state.db') },
    services: {
      checkout: { versions: { stable: [upstreams.stable.url], good: [upstreams.good.url], bad: [upstreams.bad.url] } },
    },
    routes: [{ service: 'checkout', visitorCookie: false }],
  };
  if (rollout !== undefined) {
    doc.rollouts = [
      {
        name: rollout.name,
        service: 'checkout',
        canary: rollout.canary,
        strategy: { canary: { steps: [{ setWeight: 50 }, { analysis: { templates: Object.keys(rollout.templates) } }, { setWeight: 100 }] } },
      },
    ];
    doc.analysisTemplates = rollout.templates;
  }
  return stringify(doc);
}

/**
 * Replaces the config as an editor saves (a whole file renamed over it): a plain write truncates
 * first, and the watcher may read the empty file in between (and report it, which the tests check).
 */
async function saveConfig(text: string): Promise<void> {
  await writeFile(dir.file('graylane.yaml.tmp'), text);
  await rename(dir.file('graylane.yaml.tmp'), dir.file('graylane.yaml'));
}

/** Adds the rollout to the running config and waits for its verdict, with traffic flowing. */
async function runRollout(name: string, canary: string, template: Record<string, unknown>, done: (v: RolloutDetail) => boolean): Promise<RolloutDetail> {
  const traffic = backgroundTraffic(gatewayUrlOf(app!));
  try {
    await saveConfig(configText({ name, canary, templates: { [`${name}-check`]: template } }));
    await until(`the reload that adds ${name}`, async () => {
      const config = await api<{ lastReloadError: unknown }>(adminUrlOf(app!), 'GET', '/api/v1/config');
      assert.equal(config.body.lastReloadError, null, 'the config with the rollout was rejected');
      return (await api(adminUrlOf(app!), 'GET', `/api/v1/rollouts/${name}`)).status === 200;
    }, 15_000);
    return await waitForRollout(adminUrlOf(app!), name, done, 45_000);
  } finally {
    await traffic.stop();
  }
}

/** The docs' template with the test's address and a faster clock. */
function fromDocs(address: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const t = structuredClone(docTemplate());
  t.provider.prometheus.address = address;
  // The docs measure 6 times every 10 s; the test 3 times every 2 s, after Prometheus has scraped
  // the canary's first requests twice (a rate needs two samples).
  return { ...t, interval: '2s', count: 3, initialDelay: '3s', ...overrides };
}

const measurementPhases = (v: RolloutDetail): string[] =>
  v.analysisRuns.flatMap((r) => r.metrics.flatMap((m) => m.measurements.map((x) => x.phase)));

before(async () => {
  dir = await tempDir();
  upstreams = {
    stable: await startUpstream('stable'),
    good: await startUpstream('good'),
    bad: await startUpstream('bad', { failEvery: 2 }),
  };
  await saveConfig(configText());
  app = await startTestApp(dir.file('graylane.yaml'));
  prom = await startPrometheus({ targets: [`127.0.0.1:${app.admin.address.port}`] });
  await prom.waitForScrapes(1);
});

after(async () => {
  await prom?.cleanup();
  await app?.close({ drainMs: 0 });
  for (const u of Object.values(upstreams ?? {})) await u.close();
  await dir?.remove();
});

test('a canary whose version answers 5xx is aborted by the Prometheus analysis of the docs; traffic back on stable', async () => {
  const v = await runRollout('checkout-bad', 'bad', fromDocs(prom!.address), (x) => x.phase === 'Degraded');
  assert.equal(v.reason, 'AnalysisFailed', v.message);
  assert.ok(measurementPhases(v).includes('Failed'), JSON.stringify(v.analysisRuns));
  const failed = v.analysisRuns[0]!.metrics[0]!.measurements.find((m) => m.phase === 'Failed')!;
  assert.ok(Array.isArray(failed.value) && (failed.value[0] as number) > 0.3, `measured error rate ${JSON.stringify(failed.value)}, expected about 0.5`);
  assert.deepEqual(tally(await send(gatewayUrlOf(app!), 20)), { stable: 20 });
});

test('a healthy canary passes the same analysis and completes', async () => {
  const v = await runRollout('checkout-good', 'good', fromDocs(prom!.address), (x) => x.phase === 'Healthy' || x.phase === 'Degraded');
  assert.equal(v.phase, 'Healthy', `${v.reason}: ${v.message} ${JSON.stringify(v.analysisRuns)}`);
  const run = v.analysisRuns[0]!.metrics[0]!;
  assert.equal(run.successful, 3, JSON.stringify(run));
  for (const m of run.measurements.filter((x) => x.phase === 'Successful')) {
    assert.deepEqual(m.value, [0], `a healthy canary's error rate is 0, measured ${JSON.stringify(m.value)}`);
  }
  // Completed: the canary serves the stable lane.
  assert.deepEqual(tally(await send(gatewayUrlOf(app!), 10)), { good: 10 });
});

test('a query Prometheus refuses is an Error measurement; past consecutiveErrorLimit the rollout aborts', async () => {
  const t = fromDocs(prom!.address, { interval: '1s', initialDelay: '0s' });
  (t.provider as { prometheus: { query: string } }).prometheus.query = 'sum(rate(graylane_requests_total[1m])'; // one ')' short
  const v = await runRollout('checkout-typo', 'good', t, (x) => x.phase === 'Degraded' || x.phase === 'Healthy');
  assert.equal(v.reason, 'AnalysisError', `${v.phase}: ${v.message}`);
  const phases = measurementPhases(v);
  assert.deepEqual(phases, ['Error', 'Error', 'Error'], 'consecutiveErrorLimit 2: the third error in a row aborts, nothing passes');
  const last = v.analysisRuns[0]!.metrics[0]!.measurements.at(-1)!;
  assert.match(last.message ?? '', /bad_data/);
  assert.deepEqual(tally(await send(gatewayUrlOf(app!), 10)), { stable: 10 });
});

test('an unreachable Prometheus is an Error measurement; past consecutiveErrorLimit the rollout aborts', async () => {
  const closed = await freePort(); // free a moment ago: nothing listens there
  const v = await runRollout('checkout-unreachable', 'good', fromDocs(`http://127.0.0.1:${closed}`, { interval: '1s', initialDelay: '0s' }), (x) => x.phase === 'Degraded' || x.phase === 'Healthy');
  assert.equal(v.reason, 'AnalysisError', `${v.phase}: ${v.message}`);
  assert.deepEqual(measurementPhases(v), ['Error', 'Error', 'Error']);
  assert.match(v.analysisRuns[0]!.metrics[0]!.measurements.at(-1)!.message ?? '', /ECONNREFUSED/);
});
