import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abort, pause, promote, reconcile, resume, retry, setWeight, NO_OBSERVATIONS } from './transitions.js';
import { overlayFor } from './overlay.js';
import { RolloutError } from './errors.js';
import { Driver, hookFailed, hookOk, loadRollouts } from '../../test/support/rollout-driver.js';
import type { ProviderOutcome } from './analysis.js';

const CANARY = `
rollouts:
  - name: whoami-v2
    service: whoami
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 10
          - pause: { duration: 2m }
          - analysis: { templates: [error-rate] }
          - setHeaderRoute: { header: { name: X-Canary, equals: always } }
          - setWeight: 50
          - pause: {}
          - setWeight: 100
        analysis:
          templates: [error-rate-bg]
          startingStep: 1
analysisTemplates:
  error-rate:
    interval: 30s
    count: 3
    successCondition: result < 0.01
    provider: { builtin: { metric: errorRate, version: canary, window: 1m } }
  error-rate-bg:
    interval: 1m
    failureLimit: 1
    successCondition: result < 0.05
    provider: { builtin: { metric: errorRate } }
`;

const value = (v: unknown): ProviderOutcome => ({ kind: 'value', value: v });
const isCode = (code: string) => (e: unknown) => e instanceof RolloutError && e.code === code;

function canary(errorRate: (now: number) => number = () => 0.001) {
  const { rollouts, templates } = loadRollouts(CANARY);
  return new Driver(rollouts[0]!, templates, (_a, now) => value(errorRate(now)));
}

test('given a healthy canary, when every analysis passes and a person promotes the manual pause, then it runs through all steps to Healthy', () => {
  const d = canary();
  const r = d.rollout;

  // given the first reconcile: weight 10, then a timed pause
  let s = d.tick(0).status;
  assert.equal(s.weight, 10);
  assert.equal(s.phase, 'Paused');
  assert.equal(s.reason, 'PauseStep');
  assert.equal(s.pauseDeadline, 120_000);
  assert.deepEqual(overlayFor(r, s), { split: { stable: 90, beta: 10 } });
  assert.equal(s.analysisRuns[0]?.kind, 'background', 'background analysis starts at step 1');

  // when time passes, the pause ends and the step analysis (3 measurements, 30s apart) passes
  s = d.runUntil((x) => x.reason === 'AwaitingPromotion');
  assert.equal(s.currentStepIndex, 5);
  assert.equal(s.weight, 50);
  assert.deepEqual(s.headerRoute, { name: 'x-canary', equals: 'always' });
  const step = s.analysisRuns.find((x) => x.id === 'a1.step2')!;
  assert.equal(step.phase, 'Successful');
  assert.equal(step.metrics[0]!.count, 3);
  assert.deepEqual(overlayFor(r, s), {
    split: { stable: 50, beta: 50 },
    rules: [{ name: 'rollout whoami-v2 header route', lane: 'beta', header: { name: 'x-canary', equals: 'always' } }],
  });

  // a manual pause waits however long it takes
  d.now += 3_600_000;
  assert.equal(d.tick().status.reason, 'AwaitingPromotion');

  // when a person promotes
  d.apply(promote(r, d.status, d.now));
  s = d.runUntil((x) => x.phase === 'Healthy');

  // then the canary serves the stable lane and background analysis was ended cleanly
  assert.equal(s.reason, 'Completed');
  assert.equal(s.currentStepIndex, 7);
  assert.equal(s.headerRoute, null);
  assert.deepEqual(overlayFor(r, s), { stableVersion: 'beta' });
  assert.ok(s.analysisRuns.every((x) => x.phase === 'Successful'));
  const reasons = d.events.map((e) => e.reason);
  for (const want of ['RolloutStarted', 'WeightSet', 'PauseStep', 'StepCompleted', 'AnalysisRunStarted', 'AnalysisRunFinished', 'HeaderRouteSet', 'AwaitingPromotion', 'Promoted', 'Completed']) {
    assert.ok(reasons.includes(want), `event ${want} in ${reasons.join(',')}`);
  }
  assert.ok(d.events.every((e) => typeof e.time === 'number' && e.message !== ''));

  // and a completed rollout stays put
  const again = reconcile(r, s, NO_OBSERVATIONS, d.now + 1000, d.templates);
  assert.equal(again.changed, false);
  assert.deepEqual(again.actions, []);
});

test('given a canary whose error rate is too high, when the step analysis fails, then it aborts to Degraded with weight 0', () => {
  const d = canary((now) => (now >= 120_000 ? 0.2 : 0.001));
  const s = d.runUntil((x) => x.phase === 'Degraded');
  assert.equal(s.reason, 'AnalysisFailed');
  assert.equal(s.weight, 0);
  assert.equal(s.abort, true);
  assert.match(s.message, /a1\.step2 Failed/);
  assert.deepEqual(overlayFor(d.rollout, s), { split: { stable: 100 }, withdrawn: ['beta'] });
  const degraded = d.events.find((e) => e.reason === 'AnalysisFailed')!;
  assert.equal(degraded.type, 'Warning');
  // no measurement is asked for after the abort
  const before = d.actions.length;
  d.tick(d.now + 600_000);
  assert.equal(d.actions.length, before);
});

test('given background analysis, when it fails twice (failureLimit 1), then the rollout aborts even during a pause', () => {
  const d = canary(() => 0.5);
  const s = d.runUntil((x) => x.phase === 'Degraded');
  assert.equal(s.reason, 'AnalysisFailed');
  const bg = s.analysisRuns.find((x) => x.kind === 'background')!;
  assert.equal(bg.phase, 'Failed');
  assert.equal(bg.metrics[0]!.failed, 2);
});

test('given a manual pause, when a person promotes, then the next step runs', () => {
  const { rollouts, templates } = loadRollouts(`
rollouts:
  - name: r
    service: s
    canary: beta
    strategy: { canary: { steps: [ { setWeight: 20 }, { pause: {} }, { setWeight: 40 } ] } }
`);
  const r = rollouts[0]!;
  const d = new Driver(r, templates, () => value(0));
  assert.equal(d.tick(0).status.reason, 'AwaitingPromotion');
  assert.equal(d.tick(10_000_000).status.reason, 'AwaitingPromotion');
  const promoted = d.apply(promote(r, d.status, 10_000_001));
  assert.equal(promoted.phase, 'Progressing', 'promote ends the wait at once');
  const s = d.tick(10_000_002).status;
  assert.equal(s.phase, 'Healthy');
  assert.equal(s.weight, 100);
  assert.throws(() => promote(r, s, 10_000_003), isCode('ROLLOUT_COMPLETED'));
});

test('given a timed pause, when the controller restarts mid-pause, then the pause ends on its original deadline and no step repeats', () => {
  const d = canary();
  d.tick(0);
  d.tick(0); // the background measurement result lands
  assert.equal(d.status!.pauseDeadline, 120_000);
  const startedBefore = d.events.filter((e) => e.reason === 'StepStarted').length;

  d.restart(); // kill -9: the status comes back from its JSON
  const mid = d.tick(60_000).status;
  assert.equal(mid.reason, 'PauseStep');
  assert.equal(mid.pauseDeadline, 120_000, 'deadline kept, not restarted');
  assert.equal(mid.currentStepIndex, 1);
  assert.equal(d.events.filter((e) => e.reason === 'StepStarted').length, startedBefore, 'the pause step did not start again');
  assert.equal(d.events.filter((e) => e.reason === 'WeightSet').length, 1, 'setWeight 10 ran once');

  assert.equal(d.tick(119_999).status.currentStepIndex, 1);
  const after = d.tick(120_000).status;
  assert.equal(after.currentStepIndex, 2, 'pause over exactly at the deadline');
  assert.equal(after.analysisRuns.filter((x) => x.kind === 'step').length, 1);
});

test('given a measurement in flight, when the controller restarts, then it becomes an Error measurement and is taken again later, not twice at once', () => {
  const { rollouts, templates } = loadRollouts(CANARY);
  const r = rollouts[0]!;
  const t0 = reconcile(r, null, NO_OBSERVATIONS, 0, templates);
  const measure = t0.actions.find((a) => a.type === 'measure')!;
  assert.ok(measure);
  // restart: nothing running, no result
  const t1 = reconcile(r, t0.status, { results: [], running: [] }, 1000, templates);
  const metric = t1.status.analysisRuns[0]!.metrics[0]!;
  assert.equal(metric.error, 1);
  assert.equal(metric.measurements[0]!.phase, 'Error');
  assert.match(metric.measurements[0]!.message!, /interrupted/);
  assert.equal(t1.actions.filter((a) => a.type === 'measure').length, 0, 'next one waits for the interval');
  // while it runs, nothing is interrupted
  const t2 = reconcile(r, t0.status, { results: [], running: [measure.id] }, 1000, templates);
  assert.equal(t2.status.analysisRuns[0]!.metrics[0]!.error, 0);
  assert.equal(t2.changed, false);
});

test('given an inconclusive analysis, the rollout pauses until promote accepts it', () => {
  const { rollouts, templates } = loadRollouts(`
rollouts:
  - name: r
    service: s
    canary: beta
    strategy: { canary: { steps: [ { setWeight: 5 }, { analysis: { templates: [t] } }, { setWeight: 50 } ] } }
analysisTemplates:
  t: { provider: { builtin: { metric: errorRate, minRequests: 10 } }, successCondition: result < 0.1 }
`);
  const r = rollouts[0]!;
  const d = new Driver(r, templates, () => ({ kind: 'inconclusive', message: 'only 3 requests in the window, need 10' }));
  const s = d.runUntil((x) => x.phase === 'Paused');
  assert.equal(s.reason, 'InconclusiveAnalysis');
  assert.equal(s.weight, 5);
  assert.equal(d.events.find((e) => e.reason === 'InconclusiveAnalysis')?.type, 'Warning');
  d.apply(promote(r, d.status, d.now));
  assert.equal(d.runUntil((x) => x.phase === 'Healthy').weight, 100);
});

test('given an inconclusive background analysis at a manual pause, promote only accepts it: the pause waits for a second promote', () => {
  const { rollouts, templates } = loadRollouts(`
rollouts:
  - name: r
    service: s
    canary: beta
    strategy:
      canary:
        steps: [ { setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: {} }, { setWeight: 100 } ]
        analysis: { templates: [t] }
analysisTemplates:
  t: { interval: 1m, provider: { builtin: { metric: errorRate, minRequests: 10 } }, successCondition: result < 0.1 }
`);
  const r = rollouts[0]!;
  let measured = 0;
  const d = new Driver(r, templates, () => (measured++ === 0 ? { kind: 'inconclusive', message: 'only 3 requests in the window, need 10' } : value(0)));
  // given the first measurement is inconclusive while the rollout is at its first pause
  const waiting = d.runUntil((x) => x.reason === 'InconclusiveAnalysis');
  assert.equal(waiting.currentStepIndex, 1);
  assert.equal(waiting.weight, 20);

  // when a person promotes: the result is accepted and the pause step still waits
  const promoted = d.apply(promote(r, d.status, d.now));
  assert.equal(promoted.skipUntil, 0, 'no step is skipped');
  assert.equal(promoted.reason, 'AwaitingPromotion');
  assert.ok(d.events.some((e) => e.reason === 'Promoted' && e.message === 'inconclusive analysis run a1.bg1 accepted'));
  d.tick(d.now + 3_600_000);
  const paused = d.tick().status;
  assert.equal(paused.reason, 'AwaitingPromotion', 'an hour later the pause still waits');
  assert.equal(paused.currentStepIndex, 1);
  assert.equal(paused.weight, 20);
  assert.ok(!d.events.some((e) => e.reason === 'StepSkipped'), 'nothing was skipped');

  // when a person promotes again: the pause ends, and the next pause waits in turn
  d.apply(promote(r, d.status, d.now));
  const next = d.tick().status;
  assert.equal(next.currentStepIndex, 3);
  assert.equal(next.weight, 50);
  assert.equal(next.reason, 'AwaitingPromotion');
});

test('given an inconclusive step analysis followed by a manual pause, promote accepts it and the pause waits', () => {
  const { rollouts, templates } = loadRollouts(`
rollouts:
  - name: r
    service: s
    canary: beta
    strategy: { canary: { steps: [ { setWeight: 5 }, { analysis: { templates: [t] } }, { pause: {} }, { setWeight: 100 } ] } }
analysisTemplates:
  t: { provider: { builtin: { metric: errorRate, minRequests: 10 } }, successCondition: result < 0.1 }
`);
  const r = rollouts[0]!;
  const d = new Driver(r, templates, () => ({ kind: 'inconclusive', message: 'only 3 requests in the window, need 10' }));
  assert.equal(d.runUntil((x) => x.phase === 'Paused').reason, 'InconclusiveAnalysis');
  d.apply(promote(r, d.status, d.now));
  const s = d.tick().status;
  assert.equal(s.currentStepIndex, 2);
  assert.equal(s.reason, 'AwaitingPromotion');
  assert.equal(s.weight, 5);
  assert.ok(d.events.some((e) => e.reason === 'StepCompleted' && /analysis run a1\.step1 Inconclusive/.test(e.message)), 'the analysis step ends as accepted, not skipped');
});

test('given a rollout paused by a person, steps do not advance until resume, even past a pause deadline', () => {
  const d = canary();
  const r = d.rollout;
  d.tick(0);
  d.apply(pause(r, d.status, 1));
  assert.equal(d.status!.reason, 'PausedByUser');
  assert.throws(() => pause(r, d.status, 2), isCode('ALREADY_PAUSED'));
  assert.equal(d.tick(500_000).status.currentStepIndex, 1);
  assert.equal(d.tick(500_000).status.reason, 'PausedByUser');
  d.apply(resume(r, d.status, 500_001));
  assert.throws(() => resume(r, d.status, 500_002), isCode('NOT_PAUSED'));
  assert.equal(d.tick(500_002).status.currentStepIndex, 2, 'the expired pause ends on resume');
});

test('abort takes all traffic back in the same write, and retry starts a new attempt', () => {
  const d = canary();
  const r = d.rollout;
  d.tick(0);
  const s = d.apply(abort(r, d.status, 5));
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'Aborted');
  assert.deepEqual(overlayFor(r, s), { split: { stable: 100 }, withdrawn: ['beta'] }, 'the canary gets nothing, rules included');
  assert.ok(s.analysisRuns.every((x) => x.phase !== 'Running'), 'analysis stopped');
  assert.throws(() => abort(r, s, 6), isCode('ROLLOUT_ABORTED'));
  assert.throws(() => promote(r, s, 6), isCode('ROLLOUT_ABORTED'));
  assert.equal(d.tick(1000).status.phase, 'Degraded', 'stays aborted');

  const again = d.apply(retry(r, d.status, 2000));
  assert.equal(again.attempt, 2);
  assert.equal(again.currentStepIndex, 0);
  assert.equal(again.analysisRuns.length, 0);
  assert.equal(d.tick(2000).status.weight, 10);
  assert.deepEqual(overlayFor(r, d.status), { split: { stable: 90, beta: 10 } }, 'after retry the canary is back');
  assert.throws(() => retry(r, d.status, 2001), isCode('NOT_ABORTED'));
});

test('commands refuse invalid requests with stable codes and change nothing', () => {
  const d = canary();
  const r = d.rollout;
  d.tick(0);
  const before = JSON.stringify(d.status);
  assert.throws(() => setWeight(r, d.status, 1, 150), (e: unknown) => isCode('INVALID_WEIGHT')(e) && (e as RolloutError).httpStatus === 400);
  assert.throws(() => setWeight(r, d.status, 1, 2.5), isCode('INVALID_WEIGHT'));
  assert.throws(() => setWeight(r, d.status, 1, -1), isCode('INVALID_WEIGHT'));
  assert.throws(() => promote(r, d.status, 1, { toStep: 99 }), (e: unknown) => isCode('UNKNOWN_STEP')(e) && (e as RolloutError).httpStatus === 400);
  assert.throws(() => promote(r, d.status, 1, { toStep: 0 }), isCode('UNKNOWN_STEP'));
  assert.equal(JSON.stringify(d.status), before);

  const set = setWeight(r, d.status, 1, 30);
  assert.equal(set.status.weight, 30);
  assert.equal(set.events[0]?.reason, 'WeightSetManually');
  assert.deepEqual(overlayFor(r, set.status), { split: { stable: 70, beta: 30 } });
});

test('promote --to-step applies the weights passed over and skips their waits', () => {
  const d = canary();
  const r = d.rollout;
  d.tick(0);
  d.apply(promote(r, d.status, 1, { toStep: 5 }));
  const s = d.tick(1).status;
  assert.equal(s.currentStepIndex, 5);
  assert.equal(s.weight, 50);
  assert.deepEqual(s.headerRoute, { name: 'x-canary', equals: 'always' });
  assert.equal(s.analysisRuns.filter((x) => x.kind === 'step').length, 0, 'the skipped analysis step never ran');
  assert.equal(s.reason, 'AwaitingPromotion');
});

test('promote --full skips every remaining pause and analysis, background analysis included', () => {
  const d = canary();
  const r = d.rollout;
  d.tick(0);
  d.apply(promote(r, d.status, 1, { full: true }));
  const s = d.tick(1).status;
  assert.equal(s.phase, 'Healthy');
  assert.ok(s.analysisRuns.every((x) => x.phase !== 'Running'));
});

test('a changed rollout spec aborts the running attempt, then starts a new one from step 0', () => {
  const d = canary();
  d.tick(0);
  const { rollouts, templates } = loadRollouts(CANARY.replace('setWeight: 10', 'setWeight: 15'));
  const changed = rollouts[0]!;
  const t1 = reconcile(changed, d.status, NO_OBSERVATIONS, 10, templates);
  assert.equal(t1.status.phase, 'Degraded');
  assert.equal(t1.status.reason, 'SpecChanged');
  const t2 = reconcile(changed, t1.status, NO_OBSERVATIONS, 20, templates);
  assert.equal(t2.status.attempt, 2);
  assert.equal(t2.status.weight, 15);
});

// ---- blue-green --------------------------------------------------------------------------------

const BLUE_GREEN = `
rollouts:
  - name: checkout-blue
    service: checkout
    strategy:
      blueGreen:
        previewLane: blue
        previewWeight: 50
        prePromotionAnalysis: { templates: [e2e] }
        autoPromotionEnabled: false
        hooks:
          preRollout: { command: [deploy, blue], timeout: 2m }
          postPromotion: { webhook: http://127.0.0.1:9/promoted }
          cleanup: { command: "teardown blue", timeout: 1m }
analysisTemplates:
  e2e: { provider: { job: { command: [npm, run, e2e], timeout: 5m } } }
`;

function blueGreen(jobPasses = true, hook?: Driver['hook']) {
  const { rollouts, templates } = loadRollouts(BLUE_GREEN);
  return new Driver(rollouts[0]!, templates, () => ({ kind: 'value', value: jobPasses ? 0 : 1, verdict: jobPasses ? 'Successful' : 'Failed' }), hook);
}

test('given a blue-green rollout, when the checks pass and it is promoted, then it switches and cleanup runs exactly once', () => {
  const d = blueGreen();
  const r = d.rollout;
  assert.equal(r.canary, 'blue');
  let s = d.runUntil((x) => x.reason === 'AwaitingPromotion');
  assert.equal(d.hookActions('preRollout').length, 1);
  assert.deepEqual(overlayFor(r, s), { split: { stable: 50, blue: 50 } });
  assert.equal(s.analysisRuns[0]!.phase, 'Successful');

  d.apply(promote(r, d.status, d.now));
  s = d.runUntil((x) => x.phase === 'Healthy');
  assert.deepEqual(overlayFor(r, s), { stableVersion: 'blue' });
  assert.equal(d.hookActions('postPromotion').length, 1);
  for (let i = 0; i < 5; i++) d.tick(d.now + 1000);
  assert.equal(d.hookActions('cleanup').length, 1, 'cleanup ran exactly once');
  assert.equal(d.status!.hooks.cleanup?.state, 'finished');
  const cleanup = d.hookActions('cleanup')[0]!;
  assert.equal(cleanup.type === 'runHook' && cleanup.phase, 'Healthy');
});

test('given a blue-green rollout awaiting approval, when it is aborted, then cleanup runs exactly once and retry waits for it', () => {
  const d = blueGreen(true, (a, now) => (a.hook === 'cleanup' ? 'hang' : hookOk(now)));
  const r = d.rollout;
  d.runUntil((x) => x.reason === 'AwaitingPromotion');
  d.apply(abort(r, d.status, d.now));
  assert.deepEqual(overlayFor(r, d.status), { split: { stable: 100 }, withdrawn: ['blue'] });
  d.tick();
  d.tick();
  assert.equal(d.hookActions('cleanup').length, 1);
  assert.throws(() => retry(r, d.status, d.now), isCode('HOOK_RUNNING'));
  const cleanupId = d.hookActions('cleanup')[0]!.id;
  d.finishHook(cleanupId, hookOk(d.now));
  d.tick();
  d.tick();
  assert.equal(d.hookActions('cleanup').length, 1, 'still once');
  assert.equal(d.status!.hooks.cleanup?.ok, true);

  d.apply(retry(r, d.status, d.now));
  d.tick();
  const pre = d.hookActions('preRollout');
  assert.equal(pre.length, 2, 'the new attempt deploys again');
  assert.notEqual(pre[0]!.id, pre[1]!.id);
});

test('given a blue-green rollout, when the pre-promotion job fails, then it aborts and cleanup still runs exactly once', () => {
  const d = blueGreen(false);
  const s = d.runUntil((x) => x.phase === 'Degraded');
  assert.equal(s.reason, 'AnalysisFailed');
  assert.deepEqual(overlayFor(d.rollout, s), { split: { stable: 100 }, withdrawn: ['blue'] });
  for (let i = 0; i < 5; i++) d.tick(d.now + 1000);
  assert.equal(d.hookActions('cleanup').length, 1);
  assert.equal(d.hookActions('postPromotion').length, 0);
  assert.equal(d.status!.hooks.cleanup?.state, 'finished');
});

test('given a blue-green switch, when postPromotion fails, then traffic goes back to the old stable version', () => {
  const d = blueGreen(true, (a, now) => (a.hook === 'postPromotion' ? hookFailed(now, 'HTTP 500') : hookOk(now)));
  const r = d.rollout;
  d.runUntil((x) => x.reason === 'AwaitingPromotion');
  d.apply(promote(r, d.status, d.now));
  const s = d.runUntil((x) => x.phase === 'Degraded');
  assert.equal(s.reason, 'HookFailed');
  assert.equal(s.switched, false);
  assert.deepEqual(overlayFor(r, s), { split: { stable: 100 }, withdrawn: ['blue'] });
  d.tick();
  assert.equal(d.hookActions('cleanup').length, 1);
});

test('given a deploy hook running when the controller is killed, then after restart it is not run again: the rollout aborts and cleans up', () => {
  const d = blueGreen(true, (a, now) => (a.hook === 'preRollout' ? 'hang' : hookOk(now)));
  d.tick(0);
  assert.equal(d.status!.hooks.preRollout?.state, 'started');
  d.restart();
  const s = d.tick(1000).status;
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'HookFailed');
  assert.equal(s.hooks.preRollout?.interrupted, true);
  d.tick(2000);
  assert.equal(d.hookActions('preRollout').length, 1, 'deploy ran once');
  assert.equal(d.hookActions('cleanup').length, 1);
});

test('given a Zadig-style upgrade, postPromotion runs while the preview keeps its share, then stable takes all traffic', () => {
  const { rollouts, templates } = loadRollouts(BLUE_GREEN.replace('previewWeight: 50', 'previewWeight: 50\n        promotion: upgrade'));
  const r = rollouts[0]!;
  let sharesDuringUpgrade: unknown;
  const d = new Driver(r, templates, () => ({ kind: 'value', value: 0, verdict: 'Successful' }), (a, now) => {
    if (a.hook === 'postPromotion') sharesDuringUpgrade = overlayFor(r, d.status);
    return hookOk(now);
  });
  d.runUntil((x) => x.reason === 'AwaitingPromotion');
  d.apply(promote(r, d.status, d.now));
  const s = d.runUntil((x) => x.phase === 'Healthy');
  assert.deepEqual(sharesDuringUpgrade, { split: { stable: 50, blue: 50 } });
  assert.deepEqual(overlayFor(r, s), {});
  assert.equal(s.weight, 0);
  d.tick();
  assert.equal(d.hookActions('cleanup').length, 1);
});

test('promote cannot skip a running hook', () => {
  const d = blueGreen(true, (a, now) => (a.hook === 'preRollout' ? 'hang' : hookOk(now)));
  d.tick(0);
  assert.throws(() => promote(d.rollout, d.status, 1), isCode('HOOK_RUNNING'));
  assert.throws(() => setWeight(d.rollout, d.status, 1, 101), isCode('INVALID_WEIGHT'));
});
