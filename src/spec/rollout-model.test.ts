import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { checkRolloutRefs, normalizeRollouts, type RolloutSpec, type ServiceVersions } from './rollout-model.js';
import { NormalizeContext } from './context.js';
import { formatPath } from './paths.js';

/** The issues reported to a NormalizeContext, with their paths written as the loader writes them. */
function issuesOf(ctx: NormalizeContext) {
  return ctx.issues.map((i) => ({ ...i, path: formatPath(i.path) }));
}

function normalize(raw: unknown) {
  const ctx = new NormalizeContext(raw, () => undefined);
  return { ...normalizeRollouts(raw, ctx), issues: issuesOf(ctx) };
}

function refIssues(rollouts: readonly RolloutSpec[], services: ServiceVersions) {
  const ctx = new NormalizeContext({}, () => undefined);
  checkRolloutRefs(rollouts, services, ctx);
  return issuesOf(ctx);
}

const ISSUE_EXAMPLE = `
rollouts:
  - name: whoami-v2
    service: whoami
    stable: stable
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 10
          - pause: { duration: 2m }
          - analysis: { templates: [error-rate, p99] }
          - setHeaderRoute: { header: { name: x-canary, equals: always } }
          - setWeight: 50
          - pause: {}
          - setWeight: 100
        analysis:
          templates: [error-rate]
          startingStep: 1
analysisTemplates:
  error-rate:
    interval: 30s
    count: 10
    failureLimit: 2
    successCondition: result < 0.01
    provider: { builtin: { metric: errorRate, version: canary, window: 1m } }
  p99:
    provider: { prometheus: { address: http://127.0.0.1:9095, query: 'histogram_quantile(0.99, x)' } }
    successCondition: result[0] < 0.3
  smoke:
    provider: { web: { url: http://127.0.0.1:9201/health, jsonPath: $.ok } }
  e2e:
    provider: { job: { command: [npm, run, e2e], timeout: 5m } }
`;

test('the example of the issue normalizes with defaults filled in and durations in ms', () => {
  const { rollouts, templates, issues } = normalize(parse(ISSUE_EXAMPLE));
  assert.deepEqual(issues, []);
  assert.equal(rollouts.length, 1);
  const r = rollouts[0]!;
  assert.equal(r.strategy.kind, 'canary');
  assert.deepEqual(r.strategy.kind === 'canary' && r.strategy.steps, [
    { kind: 'setWeight', weight: 10 },
    { kind: 'pause', durationMs: 120_000 },
    { kind: 'analysis', templates: ['error-rate', 'p99'] },
    { kind: 'setHeaderRoute', header: { name: 'x-canary', equals: 'always' } },
    { kind: 'setWeight', weight: 50 },
    { kind: 'pause', durationMs: null },
    { kind: 'setWeight', weight: 100 },
  ]);
  assert.deepEqual(r.strategy.kind === 'canary' && r.strategy.analysis, { templates: ['error-rate'], startingStep: 1 });
  assert.deepEqual(templates['error-rate'], {
    name: 'error-rate', intervalMs: 30_000, initialDelayMs: 0, count: 10, failureLimit: 2, inconclusiveLimit: 0, consecutiveErrorLimit: 4,
    successCondition: 'result < 0.01', failureCondition: null,
    provider: { kind: 'builtin', metric: 'errorRate', service: null, version: 'canary', windowMs: 60_000, minRequests: 1 },
  });
  assert.equal(templates['p99']!.count, 1, 'no interval: one measurement');
  assert.deepEqual(templates['smoke']!.provider, { kind: 'web', url: 'http://127.0.0.1:9201/health', method: 'GET', headers: {}, body: null, jsonPath: '$.ok', timeoutMs: 30_000 });
  assert.deepEqual(templates['e2e']!.provider, { kind: 'job', command: ['npm', 'run', 'e2e'], env: {}, cwd: null, timeoutMs: 300_000 });
});

test('issues name the key path; an unknown key is placed on the key', () => {
  const raw = parse(`
rollouts:
  - name: r
    service: whoami
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 10
          - pause: { duration: 2 minutes }
          - setWeight: 150
          - analysis: { templates: [nope] }
          - setHeaderRoute: { header: { name: x, equals: a, present: true } }
          - stpes: 1
analysisTemplates:
  bad:
    interval: 10s
    successCondition: result <
    provider: { builtin: { metric: errorRatio } }
  count-without-interval:
    count: 3
    provider: { web: { url: 'ftp://x', jsonPath: '$..x' } }
`);
  const { rollouts, issues } = normalize(raw);
  assert.equal(rollouts.length, 0, 'a rollout with issues is left out');
  const byPath = Object.fromEntries(issues.map((i) => [i.path, i]));
  assert.match(byPath['rollouts[0].strategy.canary.steps[1].pause.duration']!.message, /is not a duration/);
  assert.equal(byPath['rollouts[0].strategy.canary.steps[1].pause.duration']!.code, 'bad-duration');
  assert.equal(byPath['rollouts[0].strategy.canary.steps[2].setWeight']!.code, 'out-of-range');
  assert.match(byPath['rollouts[0].strategy.canary.steps[3].analysis.templates[0]']!.message, /unknown analysis template "nope" \(known: count-without-interval\)|unknown analysis template "nope"/);
  assert.match(byPath['rollouts[0].strategy.canary.steps[4].setHeaderRoute.header']!.message, /exactly one of equals, in, pattern or present/);
  assert.equal(byPath['rollouts[0].strategy.canary.steps[5].stpes']!.code, 'unknown-key');
  assert.match(byPath['analysisTemplates.bad.successCondition']!.message, /unexpected end of expression \(at column 9\)/);
  assert.match(byPath['analysisTemplates.bad.provider.builtin.metric']!.message, /must be one of requests, errors, errorRate/);
  assert.match(byPath['analysisTemplates.count-without-interval.count']!.message, /needs an interval/);
  assert.equal(byPath['analysisTemplates.count-without-interval.provider.web.url']!.code, 'bad-url');
  assert.match(byPath['analysisTemplates.count-without-interval.provider.web.jsonPath']!.message, /unsupported JSON path/);
  assert.equal(byPath['rollouts[0].strategy.canary.steps[5].stpes']!.at, 'key');
  assert.equal(byPath['rollouts[0].strategy.canary.steps[2].setWeight']!.at, undefined);
});

test('a template that is itself broken is reported once, not again where it is used', () => {
  const { issues } = normalize(
    parse(`
rollouts:
  - { name: r, service: s, canary: beta, strategy: { canary: { steps: [ { analysis: { templates: [broken] } } ] } } }
analysisTemplates:
  broken: { provider: { builtin: { metric: nope } } }
`),
  );
  assert.deepEqual(issues.map((i) => i.path), ['analysisTemplates.broken.provider.builtin.metric']);
});

test('rollouts: names unique, one per service, exactly one strategy, canary differs from stable', () => {
  const { rollouts, issues } = normalize(
    parse(`
rollouts:
  - { name: a, service: s1, canary: beta, strategy: { canary: { steps: [ { setWeight: 5 } ] } } }
  - { name: a, service: s2, canary: beta, strategy: { canary: { steps: [ { setWeight: 5 } ] } } }
  - { name: b, service: s1, canary: beta, strategy: { canary: { steps: [ { setWeight: 5 } ] } } }
  - { name: c, service: s3, canary: beta, strategy: {} }
  - { name: d, service: s4, canary: stable, strategy: { canary: { steps: [ { setWeight: 5 } ] } } }
  - { name: e, service: s5, strategy: { canary: { steps: [] } } }
`),
  );
  assert.deepEqual(rollouts.map((r) => r.name), ['a']);
  assert.deepEqual(
    issues.map((i) => `${i.path}: ${i.code}`),
    [
      'rollouts[1].name: duplicate-name',
      'rollouts[2].service: duplicate-name',
      'rollouts[3].strategy: missing-key',
      'rollouts[4].canary: invalid-value',
      'rollouts[5].strategy.canary.steps: wrong-type',
      'rollouts[5].canary: missing-key',
    ],
  );
});

test('blue-green: the preview lane is the new version; defaults and hooks', () => {
  const { rollouts, issues } = normalize(
    parse(`
rollouts:
  - name: checkout-blue
    service: checkout
    strategy:
      blueGreen:
        previewLane: blue
        previewWeight: 50
        autoPromotionDelay: 30s
        hooks:
          preRollout: { command: "./deploy.sh blue", env: { REGION: eu }, timeout: 2m }
          cleanup: { webhook: { url: http://127.0.0.1:9/cleanup, headers: { authorization: Bearer x } } }
  - name: bad
    service: other
    canary: green
    strategy: { blueGreen: { previewLane: blue, promotion: sideways, hooks: { postPromotion: { command: [x], webhook: http://x } } } }
`),
  );
  const r = rollouts[0]!;
  assert.equal(r.canary, 'blue');
  assert.equal(r.stable, 'stable');
  assert.deepEqual(r.strategy, {
    kind: 'blueGreen', previewLane: 'blue', previewWeight: 50, prePromotionAnalysis: null, autoPromotionEnabled: true,
    autoPromotionDelayMs: 30_000, promotion: 'switch',
    hooks: {
      preRollout: { kind: 'command', command: ['/bin/sh', '-c', './deploy.sh blue'], env: { REGION: 'eu' }, cwd: null, timeoutMs: 120_000 },
      cleanup: { kind: 'webhook', url: 'http://127.0.0.1:9/cleanup', headers: { authorization: 'Bearer x' }, timeoutMs: 300_000 },
    },
  });
  assert.deepEqual(issues.map((i) => i.path), [
    'rollouts[1].strategy.blueGreen.previewLane',
    'rollouts[1].strategy.blueGreen.promotion',
    'rollouts[1].strategy.blueGreen.hooks.postPromotion',
  ]);
});

test('checkRolloutRefs: services and versions must exist, stable must be the fallback', () => {
  const { rollouts } = normalize(parse(ISSUE_EXAMPLE));
  const ok = refIssues(rollouts, { whoami: { fallback: 'stable', versions: { stable: {}, beta: {} } } });
  assert.deepEqual(ok, []);
  const issues = refIssues(rollouts, { whoami: { fallback: 'main', versions: { main: {} } } });
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.code}`), [
    'rollouts[0].stable: invalid-value',
    'rollouts[0].stable: unknown-version',
    'rollouts[0].canary: unknown-version',
  ]);
  assert.deepEqual(refIssues(rollouts, {}).map((i) => i.code), ['unknown-service']);
});

test('no rollouts at all is fine; wrong shapes at the top are issues', () => {
  assert.deepEqual(normalize({}), { rollouts: [], templates: {}, issues: [] });
  assert.deepEqual(normalize(undefined).issues, []);
  const { issues } = normalize({ rollouts: {}, analysisTemplates: [] });
  assert.deepEqual(issues.map((i) => i.path), ['analysisTemplates', 'rollouts']);
});

test('builtin compare: defaults, both checks when neither is named, and clear errors for what does not fit', () => {
  const raw = parse(`
analysisTemplates:
  plain:
    provider: { builtin: { compare: {} } }
  tuned:
    interval: 10s
    count: 3
    provider:
      builtin:
        window: 2m
        compare: { alpha: 0.01, minSamples: 2000, latency: { quantile: 0.9, tolerance: 20ms } }
  bad-alpha:
    provider: { builtin: { compare: { alpha: 5 } } }
  bad-quantile:
    provider: { builtin: { compare: { latency: { quantile: 1 } } } }
  with-condition:
    successCondition: result.verdict == 'Successful'
    provider: { builtin: { compare: {} } }
  with-metric:
    provider: { builtin: { metric: p99, compare: {} } }
  with-min-requests:
    provider: { builtin: { minRequests: 5, compare: { errorRate: {} } } }
  unknown-key:
    provider: { builtin: { compare: { errorRate: { alpha: 0.05 } } } }
`);
  const { templates, issues } = normalize(raw);
  assert.deepEqual(templates['plain']!.provider, {
    kind: 'compare', service: null, windowMs: 60_000, alpha: 0.05, minSamples: 500, errorRate: {}, latency: { quantile: 0.5, toleranceMs: 0 },
  });
  assert.deepEqual(templates['tuned']!.provider, {
    kind: 'compare', service: null, windowMs: 120_000, alpha: 0.01, minSamples: 2000, errorRate: null, latency: { quantile: 0.9, toleranceMs: 20 },
  });
  const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
  assert.match(byPath['analysisTemplates.bad-alpha.provider.builtin.compare.alpha']!, /above 0 and below 0.5/);
  assert.match(byPath['analysisTemplates.bad-quantile.provider.builtin.compare.latency.quantile']!, /above 0 and below 1/);
  assert.match(byPath['analysisTemplates.with-condition.successCondition']!, /builtin compare gives its own verdict/);
  assert.match(byPath['analysisTemplates.with-metric.provider.builtin.metric']!, /not with compare/);
  assert.match(byPath['analysisTemplates.with-min-requests.provider.builtin.minRequests']!, /compare.minSamples/);
  assert.ok(byPath['analysisTemplates.unknown-key.provider.builtin.compare.errorRate.alpha'], JSON.stringify(byPath));
  for (const bad of ['bad-alpha', 'bad-quantile', 'with-condition', 'with-metric', 'with-min-requests', 'unknown-key']) assert.equal(templates[bad], undefined, bad);
});
