import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { normalizeRollouts } from '../spec/rollout-model.js';
import { NormalizeContext } from '../spec/context.js';
import { formatPath } from '../spec/paths.js';
import { promote } from './transitions.js';
import { overlayFor } from './overlay.js';
import { specHash } from '../status/rollout-status.js';
import { RolloutError } from './errors.js';
import { Driver, hookFailed, hookOk, loadRollouts } from '../../test/support/rollout-driver.js';

const canary = (steps: string, hooks = '') => `
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
${hooks}        steps:
${steps}`;

function issues(yaml: string): string[] {
  const raw: unknown = parse(yaml);
  const ctx = new NormalizeContext(raw, () => undefined);
  normalizeRollouts(raw, ctx);
  return ctx.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}

test('a hook step reads as a blue-green hook plus a name; names default to step<N> and must be unique and not a rollout hook name', () => {
  const { rollouts } = loadRollouts(canary('          - hook: { command: [./deploy.sh, beta], timeout: 30s }\n          - hook: { name: ci, webhook: "http://127.0.0.1:1/ci" }\n'));
  const st = rollouts[0]!.strategy;
  assert.equal(st.kind, 'canary');
  assert.deepEqual(st.kind === 'canary' ? st.steps : null, [
    { kind: 'hook', name: 'step1', hook: { kind: 'command', command: ['./deploy.sh', 'beta'], env: {}, cwd: null, timeoutMs: 30_000 } },
    { kind: 'hook', name: 'ci', hook: { kind: 'webhook', url: 'http://127.0.0.1:1/ci', headers: {}, timeoutMs: 300_000 } },
  ]);
  assert.deepEqual(issues(canary('          - hook: { name: cleanup, command: "true" }\n')), [
    'rollouts[0].strategy.canary.steps[0].hook.name: "cleanup" is the name of a rollout hook; name the step something else',
  ]);
  assert.deepEqual(issues(canary('          - hook: { name: x, command: "true" }\n          - hook: { name: x, command: "true" }\n')), [
    'rollouts[0].strategy.canary.steps[1].hook.name: hook step "x" is already defined at steps[0]',
  ]);
  assert.deepEqual(issues(canary('          - hook: { name: x }\n')), ['rollouts[0].strategy.canary.steps[0].hook: needs exactly one of command or webhook']);
  assert.deepEqual(issues(canary('          - hook: { command: "true", url: x }\n')), [
    'rollouts[0].strategy.canary.steps[0].hook.url: unknown key "url" (expected command, env, cwd, webhook, timeout)',
  ]);
  assert.deepEqual(issues(canary('          - setWeight: 5\n', '        hooks: { preRollout: { command: "true" } }\n')), [
    'rollouts[0].strategy.canary.hooks.preRollout: unknown key "preRollout" (expected cleanup)',
  ]);
});

test('a canary without hooks keeps its spec hash (no cleanup key appears in its strategy)', () => {
  const { rollouts } = loadRollouts(canary('          - setWeight: 5\n'));
  const st = rollouts[0]!.strategy;
  assert.equal('cleanup' in st, false);
  assert.equal(specHash(rollouts[0]!), specHash({ ...rollouts[0]!, strategy: { kind: 'canary', steps: [{ kind: 'setWeight', weight: 5 }], analysis: null } }));
});

test('given a hook step between weights, the rollout waits for it, promote cannot skip it, and a failure aborts with traffic back on stable', () => {
  const { rollouts, templates } = loadRollouts(
    canary('          - setWeight: 20\n          - hook: { name: deploy, command: "true" }\n          - setWeight: 60\n', '        hooks: { cleanup: { command: "true" } }\n'),
  );
  const d = new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: 0 }), () => 'hang');
  let s = d.tick(0).status;
  assert.equal(s.weight, 20);
  assert.equal(s.hooks['deploy']?.state, 'started');
  assert.equal(s.currentStepIndex, 1);
  assert.throws(() => promote(d.rollout, s, 1), (e: unknown) => e instanceof RolloutError && e.code === 'HOOK_RUNNING' && /runs hook deploy/.test(e.message));
  // when it fails
  d.finishHook(`${d.rollout.name}/a1/deploy`, hookFailed(2, 'exit code 9'));
  s = d.tick(2).status;
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'HookFailed');
  assert.match(s.message, /hook deploy failed: exit code 9/);
  assert.deepEqual(overlayFor(d.rollout, s), { split: { stable: 100 }, withdrawn: ['beta'] });
  // then cleanup is started (once), with the attempt's end phase
  const cleanups = d.hookActions('cleanup');
  assert.equal(cleanups.length, 1);
  assert.equal(cleanups[0]?.type === 'runHook' ? cleanups[0].phase : null, 'Degraded');
});

test('given a hook step that succeeds, the next weight applies and cleanup runs after completion', () => {
  const { rollouts, templates } = loadRollouts(
    canary('          - setWeight: 20\n          - hook: { command: "true" }\n          - setWeight: 60\n', '        hooks: { cleanup: { command: "true" } }\n'),
  );
  const d = new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: 0 }), (_a, now) => hookOk(now));
  const s = d.runUntil((x) => x.phase === 'Healthy' && x.hooks['cleanup']?.state === 'finished');
  assert.equal(s.hooks['step2']?.ok, true);
  assert.deepEqual(d.actions.filter((a) => a.type === 'runHook').map((a) => (a.type === 'runHook' ? a.hook : '')), ['step2', 'cleanup']);
});
