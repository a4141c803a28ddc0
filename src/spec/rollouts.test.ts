import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './errors.js';
import { parseSpec } from './load.js';

const BASE = `services:
  web:
    versions:
      stable: [http://127.0.0.1:9001]
      beta: [http://127.0.0.1:9002]
routes:
  - service: web
`;

function issuesOf(text: string): string[] {
  try {
    parseSpec(text, 'gl.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n');
  }
  assert.fail('expected config issues');
}

test('rollouts, templates, state and admin are loaded into the Spec, normalized', () => {
  const spec = parseSpec(
    `${BASE}state: { path: /var/lib/graylane/state.db }
admin: { listen: 127.0.0.1:9191 }
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps: [ { setWeight: 10 }, { pause: { duration: 2m } }, { analysis: { templates: [err] } } ]
analysisTemplates:
  err:
    interval: 30s
    count: 2
    successCondition: result < 0.01
    provider: { builtin: { metric: errorRate } }
`,
    'gl.yaml',
  );
  assert.deepEqual(spec.state, { path: '/var/lib/graylane/state.db' });
  assert.deepEqual(spec.admin, { listen: '127.0.0.1:9191' });
  assert.deepEqual(spec.rollouts?.[0]?.strategy, {
    kind: 'canary',
    steps: [
      { kind: 'setWeight', weight: 10 },
      { kind: 'pause', durationMs: 120_000 },
      { kind: 'analysis', templates: ['err'] },
    ],
    analysis: null,
  });
  assert.equal(spec.analysisTemplates?.err?.intervalMs, 30_000);
  assert.ok(Object.isFrozen(spec.rollouts![0]!.strategy));
});

test('rollout problems are reported like every other issue: file:line:col, key path, once each', () => {
  const lines = issuesOf(`${BASE}admin: { listen: "127.0.0.1:99999", token: abc }
rollouts:
  - name: broken
    service: web
    strategy: {}
  - name: web-beta
    service: webb
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 150
          - pause: { duration: 2 min }
          - setWeigth: 5
analysisTemplates:
  err:
    count: 0
    successCondition: result <<< 1
    provider: { builtin: { metric: errRate } }
`);
  assert.deepEqual(lines, [
    'gl.yaml:8:18: admin.listen: port must be 0..65535, got "127.0.0.1:99999"',
    'gl.yaml:8:37: admin.token: unknown key "token"; known keys: listen',
    'gl.yaml:12:5: rollouts[0].strategy: needs exactly one of canary or blueGreen',
    'gl.yaml:19:24: rollouts[1].strategy.canary.steps[0].setWeight: must be <= 100, got 150',
    'gl.yaml:20:32: rollouts[1].strategy.canary.steps[1].pause.duration: must be a duration like 250ms, 5s, 2m, 1h, 30d, or a whole number of milliseconds, got "2 min"',
    'gl.yaml:21:13: rollouts[1].strategy.canary.steps[2].setWeigth: unknown key "setWeigth" (did you mean setWeight?)',
    'gl.yaml:24:12: analysisTemplates.err.count: must be >= 1, got 0',
    'gl.yaml:25:23: analysisTemplates.err.successCondition: unexpected \'<\' (at column 9)',
    'gl.yaml:26:36: analysisTemplates.err.provider.builtin.metric: must be one of "requests", "errors", "errorRate", "successRate", "p50", "p90", "p99", got "errRate"',
  ]);
});

test('references to services and versions are checked at the rollout\'s own position in the file', () => {
  const lines = issuesOf(`${BASE}rollouts:
  - name: broken
    service: web
    strategy: {}
  - name: web-gamma
    service: web
    canary: gamma
    strategy: { canary: { steps: [ { setWeight: 5 } ] } }
  - name: other
    service: nope
    canary: beta
    strategy: { canary: { steps: [ { setWeight: 5 } ] } }
`);
  assert.deepEqual(lines, [
    'gl.yaml:11:5: rollouts[0].strategy: needs exactly one of canary or blueGreen',
    'gl.yaml:14:13: rollouts[1].canary: service "web" has no version "gamma"',
    'gl.yaml:17:14: rollouts[2].service: unknown service "nope"',
  ]);
});
