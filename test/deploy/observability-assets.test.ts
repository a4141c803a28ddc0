/**
 * deploy/grafana/graylane-dashboard.json and deploy/prometheus/graylane-alerts.yaml, held to what a
 * real graylane exports: `graylane serve --workers 2` runs a rollout whose analysis fails (so the
 * rollout, analysis, worker and failure series all exist), its /metrics is scraped, and every
 * metric name in the dashboard's and the rules' PromQL must be one it exports, every label a
 * selector or a grouping names one those metrics carry. promtool then checks the rules, runs their
 * unit tests (graylane-alerts.test.yaml), and parses every dashboard expression.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { parse as parseYaml } from 'yaml';
import { closedPort } from '../gateway/helpers.js';
import { api, spawnServe, waitForRollout } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { makeCa, type Leaf } from '../support/tls.js';
import { startUpstream } from '../support/upstream.js';
import { sleep, until } from '../support/wait.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DASHBOARD = join(REPO, 'deploy/grafana/graylane-dashboard.json');
const RULES = join(REPO, 'deploy/prometheus/graylane-alerts.yaml');
const RULE_TESTS = join(REPO, 'deploy/prometheus/graylane-alerts.test.yaml');

/** Labels Prometheus adds to every scraped series (the target's), so a rule may group by them. */
const TARGET_LABELS = ['instance', 'job'];

interface Exported {
  /** Every metric name a scrape declared (`# TYPE`) or had a sample of, histogram series included. */
  names: Set<string>;
  /** Label names seen on each series name's samples. */
  labels: Map<string, Set<string>>;
}

function parseExposition(text: string): Exported {
  const names = new Set<string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      names.add(type[1]!);
      if (type[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(type[1]! + suffix);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    names.add(m[1]!);
    const set = labels.get(m[1]!) ?? new Set<string>();
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) set.add(l[1]!);
    labels.set(m[1]!, set);
  }
  return { names, labels };
}

/** The PromQL expressions of the dashboard's panels (and its variables' queries), with where each is. */
function dashboardExprs(): { where: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: { title: string; type: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; definition?: string }[] };
  };
  const out: { where: string; expr: string }[] = [];
  for (const p of dash.panels) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const v of dash.templating.list) {
    const m = v.definition === undefined ? null : /^label_values\((\w+), (\w+)\)$/.exec(v.definition);
    if (m) out.push({ where: `variable ${v.name}`, expr: `${m[1]}{${m[2]}!=""}` });
  }
  return out;
}

function ruleExprs(): { where: string; expr: string }[] {
  const doc = parseYaml(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })));
}

/** Grafana's variables as values Prometheus takes, for parsing and checking the dashboard's queries. */
function withoutGrafanaVariables(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$service', '.*');
}

/** Metric names (graylane's) an expression reads, each with the label names its selector matches on. */
function selectors(expr: string): { metric: string; labels: string[] }[] {
  const out: { metric: string; labels: string[] }[] = [];
  for (const m of expr.matchAll(/\b(graylane_[a-z0-9_]+)\s*(\{([^}]*)\})?/g)) {
    out.push({ metric: m[1]!, labels: [...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!) });
  }
  return out;
}

/** Label names in `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`, `group_left (...)`. */
function groupingLabels(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );
}

/** A TLS listener, so certificate expiry is exported, and a plain one last (spawnServe's gatewayUrl: the last listening). */
function config(stable: string, beta: string, tls: Leaf): string {
  return `
listen:
  - { address: 127.0.0.1:0, tls: { certificates: [{ cert: ${tls.cert}, key: ${tls.key} }] } }
  - 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
accessLog: false
services:
  web:
    versions:
      stable: { endpoints: [${stable}] }
      beta: { endpoints: [${beta}] }
routes:
  - name: web
    match: { pathPrefix: / }
    service: web
    mirror: { lane: beta, percent: 100 }
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 50
          # Promoted once beta has failed requests in the window (a loaded machine may be slow to send them).
          - pause: {}
          - analysis: { templates: [beta-errors] }
          - setWeight: 100
analysisTemplates:
  beta-errors:
    interval: 500ms
    count: 3
    successCondition: result < 0.05
    provider: { builtin: { metric: errorRate, version: canary, window: 1m, minRequests: 3 } }
notifications:
  targets:
    ops: { kind: webhook, url: "http://127.0.0.1:${new URL(beta).port}/hook", secret: { env: GRAYLANE_TEST_HOOK_SECRET } }
  subscriptions:
    - { targets: [ops] }
`;
}

test('every metric and label the dashboard and the alert rules read is one a running graylane exports', async () => {
  const stable = await startUpstream('stable');
  // beta's endpoint refuses connections: 502s, upstream failures, failed mirror copies, a failed analysis.
  const beta = `http://127.0.0.1:${await closedPort()}`;
  const dir = await tempDir();
  const leaf = makeCa(dir.path).issue('gateway', ['gateway.example.test']);
  writeFileSync(dir.file('graylane.yaml'), config(stable.url, beta, leaf));
  const serve = await spawnServe(['-c', dir.file('graylane.yaml'), '--workers', '2', '--log-format', 'json'], dir.path, { GRAYLANE_TEST_HOOK_SECRET: 'k' });
  try {
    let text = '';
    await waitForRollout(serve.adminUrl, 'web-beta', (v) => v.reason === 'AwaitingPromotion', 20_000);
    for (let i = 0; i < 20; i++) await (await request(`${serve.gatewayUrl}/x`)).body.dump();
    await sleep(600); // the workers' last batch (every 250 ms) reaches the primary's window
    assert.equal((await api(serve.adminUrl, 'POST', '/api/v1/rollouts/web-beta/promote', {})).status, 200);
    await until(
      'the rollout aborted by its failed analysis',
      async () => {
        for (let i = 0; i < 10; i++) await (await request(`${serve.gatewayUrl}/x`)).body.dump();
        text = await (await request(`${serve.adminUrl}/metrics`)).body.text();
        return /graylane_rollout_analysis_runs\{[^}]*phase="Failed"[^}]*\} 1\b/.test(text) && /graylane_rollout_phase\{[^}]*phase="Degraded"[^}]*\} 1\b/.test(text);
      },
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${text.split('\n').filter((l) => l.startsWith('graylane_rollout')).join('\n')}\n${serve.log.slice(-5).join('\n')}`);
    });
    await sleep(600); // a last worker batch (250 ms) in the scrape
    text = await (await request(`${serve.adminUrl}/metrics`)).body.text();
    const exported = parseExposition(text);

    const exprs = [...dashboardExprs(), ...ruleExprs()];
    assert.ok(exprs.length > 20, `${exprs.length} expressions`);
    const problems: string[] = [];
    const read = new Set<string>();
    for (const { where, expr } of exprs) {
      const used = selectors(withoutGrafanaVariables(expr));
      if (used.length === 0) problems.push(`${where}: reads no graylane metric`);
      const available = new Set<string>(TARGET_LABELS);
      for (const { metric, labels } of used) {
        read.add(metric);
        if (!exported.names.has(metric)) {
          problems.push(`${where}: ${metric} is not exported`);
          continue;
        }
        const has = exported.labels.get(metric);
        if (has === undefined) {
          problems.push(`${where}: ${metric} has no sample to check its labels against`);
          continue;
        }
        for (const l of has) available.add(l);
        for (const l of labels) if (!has.has(l) && !TARGET_LABELS.includes(l)) problems.push(`${where}: ${metric} has no label ${l}`);
      }
      for (const l of groupingLabels(expr)) if (!available.has(l)) problems.push(`${where}: groups by ${l}, which none of its metrics has`);
    }
    assert.deepEqual(problems, []);
    // The alerts the issue asks for each have a rule.
    const alerts = ruleExprs().map((r) => r.where);
    for (const name of ['GraylaneVersionHighErrorRate', 'GraylaneRolloutAborted', 'GraylaneAnalysisFailed', 'GraylaneConfigReloadRejected', 'GraylaneStoreDown', 'GraylaneWorkerRestarts', 'GraylaneUpstreamEjected', 'GraylaneCertificateExpiresSoon']) {
      assert.ok(alerts.includes(`rule ${name}`), name);
    }
    // Every graylane metric is on the dashboard: a new one makes this fail until it is shown.
    const families = [...exported.names].filter((n) => n.startsWith('graylane_') && !/_(bucket|sum|count)$/.test(n));
    const shown = new Set([...dashboardExprs()].flatMap((e) => selectors(withoutGrafanaVariables(e.expr)).map((s) => s.metric.replace(/_(bucket|sum|count)$/, ''))));
    assert.deepEqual(families.filter((f) => !shown.has(f)), [], 'metrics the dashboard does not show');
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    await Promise.all([stable.close(), dir.remove()]);
  }
});

test('promtool accepts the rules, their unit tests pass, and every dashboard query parses', async () => {
  const run = (args: string[]): string => execFileSync('promtool', args, { cwd: join(REPO, 'deploy/prometheus'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(run(['check', 'rules', RULES]), /SUCCESS: \d+ rules found/);
  assert.match(run(['test', 'rules', RULE_TESTS]), /SUCCESS/);
  // promtool parses a rule's expression: the dashboard's queries become recording rules for it.
  const dir = await tempDir();
  try {
    const rules = dashboardExprs().map((e, i) => ({ record: `graylane:dashboard:query${i}`, expr: withoutGrafanaVariables(e.expr) }));
    writeFileSync(dir.file('dashboard.rules.json'), JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    assert.match(run(['check', 'rules', dir.file('dashboard.rules.json')]), new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    await dir.remove();
  }
});
