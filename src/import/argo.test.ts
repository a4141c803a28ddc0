/** Argo specifics not covered by the golden example: what the setMirrorRoute warnings say. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importConfigs } from './index.js';
import { loadImported } from '../../test/support/import.js';

const ingress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web }
spec:
  rules:
    - host: web.example.com
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }
`;

const rollout = (steps: string): string => `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: web }
spec:
  strategy:
    canary:
      stableService: web
      canaryService: web-canary
      trafficRouting: { nginx: { stableIngress: web }, managedRoutes: [{ name: m }] }
      steps:
${steps}`;

test('setMirrorRoute: the share, the conditions and the steps it spans are named; the removing step too; no mirror is added', () => {
  const { yaml, warnings } = importConfigs([
    { file: 'i.yaml', text: ingress },
    {
      file: 'r.yaml',
      text: rollout(`        - setWeight: 10
        - setMirrorRoute:
            name: m
            match:
              - method: { exact: GET }
                path: { prefix: /api }
              - headers: { X-Beta: { regex: "^(1|yes)$" } }
        - setWeight: 50
        - setMirrorRoute: { name: m }
        - setWeight: 100
`),
    },
  ]);
  const mirror = warnings.filter((w) => w.path.includes('setMirrorRoute'));
  assert.deepEqual(mirror.map((w) => w.path), ['spec.strategy.canary.steps[1].setMirrorRoute', 'spec.strategy.canary.steps[3].setMirrorRoute']);
  assert.equal(
    mirror[0]!.message,
    'setMirrorRoute "m" is not imported: graylane rollouts have no mirror step. Dropped: from this step to steps[3], a copy of 100% of ' +
      'the requests matching method GET and path starting with /api or header X-Beta matching /^(1|yes)$/ to the canary. ' +
      'A route mirror (`mirror: { lane: canary, percent: 100 }`) is not added for you: it would copy every request of the route, ' +
      'at all times (also between rollouts, when the canary Service selects the stable pods)',
  );
  assert.equal(mirror[1]!.message, 'setMirrorRoute "m" with no match ends that mirror route (set by steps[1]): not imported, as the mirror itself is not, so there is nothing to end');
  const { spec, rollouts } = loadImported(yaml);
  assert.equal(spec.routes[0]!.mirror, undefined);
  assert.deepEqual(
    rollouts[0]!.strategy.kind === 'canary' && rollouts[0]!.strategy.steps,
    [{ kind: 'setWeight', weight: 10 }, { kind: 'setWeight', weight: 50 }, { kind: 'setWeight', weight: 100 }],
  );
});

test('setMirrorRoute with an empty condition mirrors every request: the warning says the requests, with its percentage', () => {
  const { warnings } = importConfigs([
    { file: 'i.yaml', text: ingress },
    { file: 'r.yaml', text: rollout('        - setMirrorRoute: { name: m, percentage: 5, match: [{}] }\n        - setWeight: 100\n') },
  ]);
  const w = warnings.find((x) => x.path.endsWith('setMirrorRoute'));
  assert.match(w?.message ?? '', /Dropped: from this step to the end of the rollout, a copy of 5% of the requests to the canary\. A route mirror \(`mirror: \{ lane: canary, percent: 5 \}`\)/);
});

test('an analysis metric the rollout model would refuse is warned about and dropped; its step becomes a pause', () => {
  const template = (metric: string) => `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: { name: t }
spec:
  metrics:
    - name: m
${metric}`;
  const cases: [string, string, RegExp][] = [
    ['web url', '      provider: { web: { url: "not a url" } }\n', /"not a url" is not an http\(s\) URL graylane can call: this metric is not imported/],
    ['prometheus address', '      provider: { prometheus: { address: "prom:9090", query: up } }\n', /"prom:9090" is not an http\(s\) URL/],
    ['empty query', '      provider: { prometheus: { address: "http://prom:9090", query: "" } }\n', /the Prometheus query is empty/],
    ['count', '      count: 99999999999\n      interval: 1m\n      provider: { web: { url: "http://x/y" } }\n', /99999999999 is not a whole number graylane can use/],
    ['job command', '      provider: { job: { spec: { template: { spec: { containers: [{ name: c, image: i, command: [""] }] } } } } }\n', /no container command graylane can run/],
  ];
  for (const [what, metric, message] of cases) {
    const { yaml, warnings } = importConfigs([
      { file: 'i.yaml', text: ingress },
      { file: 'r.yaml', text: `${rollout('        - analysis: { templates: [{ templateName: t }] }\n        - setWeight: 100\n')}---\n${template(metric)}` },
    ]);
    assert.ok(warnings.some((w) => message.test(w.message)), `${what}: ${warnings.map((w) => w.message).join('\n')}`);
    const { rollouts, templates } = loadImported(yaml);
    assert.deepEqual(templates, {}, what);
    assert.deepEqual(rollouts[0]!.strategy.kind === 'canary' && rollouts[0]!.strategy.steps[0], { kind: 'pause', durationMs: null }, what);
  }
});

test('spec.paused: true is imported as paused: true (the rollout waits for resume); its absence leaves paused out', () => {
  const paused = rollout('        - setWeight: 10\n').replace('spec:\n  strategy:', 'spec:\n  paused: true\n  strategy:');
  const imported = importConfigs([{ file: 'i.yaml', text: ingress }, { file: 'r.yaml', text: paused }]);
  assert.equal(loadImported(imported.yaml).rollouts[0]!.paused, true);
  const plain = importConfigs([{ file: 'i.yaml', text: ingress }, { file: 'r.yaml', text: rollout('        - setWeight: 10\n') }]);
  assert.equal(loadImported(plain.yaml).rollouts[0]!.paused, undefined);
});
