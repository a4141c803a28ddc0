import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRollouts } from '../../test/support/rollout-driver.js';
import { initialStatus } from '../status/rollout-status.js';
import { startRun } from '../rollout/analysis.js';
import { rolloutView } from '../rollout/view.js';
import { formatLeft, renderList, renderRollout } from './rollout-render.js';

const { rollouts, templates } = loadRollouts(`
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 10
          - pause: { duration: 2m }
          - analysis: { templates: [error-rate] }
          - setHeaderRoute: { header: { name: x-canary, equals: always } }
analysisTemplates:
  error-rate:
    interval: 30s
    count: 3
    successCondition: result < 0.01
    provider: { builtin: { metric: errorRate } }
`);
const time = (t: number) => `T+${t / 1000}s`;

test('get: header, steps with the current one marked, analysis values, events', () => {
  const status = initialStatus(rollouts[0]!, 0);
  Object.assign(status, { phase: 'Paused', reason: 'PauseStep', message: 'step 2/4 (pause 2m)', currentStepIndex: 1, stepStartedAt: 0, weight: 10, pauseDeadline: 120_000 });
  const run = startRun('a1.step2', 'step', 2, ['error-rate'], templates, 0);
  run.metrics[0]!.measurements.push({ index: 0, phase: 'Successful', startedAt: 0, finishedAt: 1, value: 0.00123 });
  run.metrics[0]!.successful = 1;
  status.analysisRuns.push(run);
  const view = rolloutView(rollouts[0]!, status, 7);
  const text = renderRollout(
    { ...view, events: [{ seq: 3, rollout: 'web-beta', time: 0, type: 'Normal', reason: 'StepStarted', message: 'step 2/4 (pause 2m)' }] },
    { now: 37_000, time },
  );
  assert.equal(
    text,
    [
      'Name:          web-beta',
      'Service:       web  (stable -> beta)',
      'Strategy:      Canary',
      'Status:        ॥ Paused (PauseStep)',
      'Message:       step 2/4 (pause 2m)',
      'Attempt:       1',
      'Step:          2/4',
      'Traffic:       stable 90%  beta 10%',
      '',
      'Steps:',
      '  ✔  1  setWeight 10',
      '  ►  2  pause 2m   until T+120s (1m23s left)',
      '     3  analysis error-rate',
      '     4  setHeaderRoute x-canary = always',
      '',
      'Analysis runs:',
      '  ◌ a1.step2  (step 3)  Running',
      '      ◌ error-rate      Running      1 ok, 0 failed, 0 inconclusive, 0 errors  last: 0.001230 (Successful)',
      '',
      'Events:',
      '  T+0s  Normal   StepStarted           step 2/4 (pause 2m)',
      '',
    ].join('\n'),
  );
});

test('get: a metric name as long as its column (a release runs error-rate@frontend) stays apart from its phase', () => {
  const status = initialStatus(rollouts[0]!, 0);
  const run = startRun('a1.bg1', 'background', null, ['error-rate'], templates, 0);
  run.metrics[0]!.name = 'error-rate@frontend';
  run.metrics[0]!.phase = 'Inconclusive';
  status.analysisRuns.push(run);
  const text = renderRollout(rolloutView(rollouts[0]!, status, 7), { now: 0, time });
  assert.match(text, /^ {6}\? error-rate@frontend {2}Inconclusive 0 ok/m, text);
  run.metrics[0]!.name = 'error-rate@cart';
  assert.match(renderRollout(rolloutView(rollouts[0]!, status, 7), { now: 0, time }), /^ {6}\? error-rate@cart Inconclusive 0 ok/m, 'shorter names keep the 16-column alignment');
});

test('list: one aligned row per rollout; a rollout not started yet is Pending', () => {
  const text = renderList([rolloutView(rollouts[0]!, null)]);
  assert.equal(
    text,
    'NAME      SERVICE  STRATEGY  PHASE    STEP  TRAFFIC      MESSAGE\n' + 'web-beta  web      canary    Pending  0/4   stable 100%  not started yet\n',
  );
});

test('time left is rounded up and never negative', () => {
  assert.deepEqual([formatLeft(-5), formatLeft(999), formatLeft(60_000), formatLeft(3_723_000)], ['0s', '1s', '1m', '1h2m']);
});

test('get: an aborted rollout names its withdrawn canary; an abort not written yet says PENDING PERSISTENCE', () => {
  const status = initialStatus(rollouts[0]!, 0);
  Object.assign(status, { phase: 'Degraded', reason: 'Aborted', message: 'aborted by request: all traffic back to stable', abort: true, abortedAt: 5000 });
  const lines = (pending: Parameters<typeof rolloutView>[3]) => renderRollout(rolloutView(rollouts[0]!, status, 7, pending), { now: 9000, time }).split('\n');
  assert.ok(lines(null).includes('Withdrawn:     beta gets no traffic, rules naming its lane included, until retry'));
  assert.ok(!lines(null).some((l) => l.startsWith('Abort:')));
  const held = lines({ since: 5000, attempts: 2, error: 'disk I/O error', nextAttemptAt: 11_000 });
  assert.ok(
    held.includes('Abort:         PENDING PERSISTENCE: routed on this gateway since T+5s, not yet written to the store (2 write(s) refused: disk I/O error)'),
    held.join('\n'),
  );
});

test('get: a builtin compare measurement from real counts shows its verdict with both sample sizes and p-values', async () => {
  const { templates: t } = loadRollouts(`
analysisTemplates:
  cmp:
    provider: { builtin: { compare: { minSamples: 100 } } }
`);
  const { TrafficRecorder } = await import('../traffic/index.js');
  const { providerFor } = await import('../rollout/providers/index.js');
  const { recordMeasurement, markPending } = await import('../rollout/analysis.js');
  const now = 1_000_000;
  const traffic = new TrafficRecorder({ clock: () => now });
  const chance = { route: { name: 'r' }, lane: 'x', assignment: 'chance' as const, upstreamFailure: null };
  for (let i = 0; i < 200; i++) {
    traffic.record('web', 'stable', i % 50 === 0 ? 500 : 200, 10, now, chance);
    traffic.record('web', 'beta', i % 5 === 0 ? 500 : 200, 10, now, chance);
  }
  const outcome = await providerFor(t['cmp']!.provider, { metrics: traffic }).measure({ rollout: { name: 'web-beta', service: 'web', stable: 'stable', canary: 'beta' } });
  const status = initialStatus(rollouts[0]!, 0);
  const run = startRun('a1.step3', 'step', 2, ['cmp'], t, 0);
  markPending(run, 'cmp', 'm1', 0, 0);
  recordMeasurement(run, t['cmp'], 'm1', outcome, 1);
  status.analysisRuns.push(run);
  const text = renderRollout({ ...rolloutView(rollouts[0]!, status, 7), events: [] }, { now: 1, time });
  assert.match(text, /✖ cmp +Failed +0 ok, 1 failed, 0 inconclusive, 0 errors  last: canary vs stable \(Failed\)\n/);
  assert.match(text, /\n {10}canary vs stable: canary n=200, stable n=200; errors 20\.00% vs 2\.00% \((z|fisher), p=[0-9.e-]+ WORSE\); p50 [0-9.]+ms vs [0-9.]+ms \(U, p=1\.0000\); alpha 0\.0250 per check\n/);
  assert.match(run.message, /last: canary n=200/, 'the run message (and so its event) carries the numbers');
});
