import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dueMeasurements, judge, markPending, nextDueAt, recordMeasurement, startRun, terminateRun, MEASUREMENT_RETENTION, type AnalysisRun, type ProviderOutcome } from './analysis.js';
import type { AnalysisTemplate } from '../spec/rollout-model.js';

function template(over: Partial<AnalysisTemplate> = {}): AnalysisTemplate {
  return {
    name: 'm', intervalMs: 10_000, initialDelayMs: 0, count: 5, failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4,
    successCondition: 'result < 0.01', failureCondition: null,
    provider: { kind: 'builtin', metric: 'errorRate', service: null, version: 'canary', windowMs: 60_000, minRequests: 1 },
    ...over,
  };
}

/** Takes measurements with the given outcomes, one per interval, until the run ends or they run out. */
function feed(run: AnalysisRun, t: AnalysisTemplate, outcomes: ProviderOutcome[], start = 0): number {
  let now = start;
  for (const o of outcomes) {
    const due = dueMeasurements(run, now);
    if (due.length === 0) break;
    const id = `m/${due[0]!.index}`;
    markPending(run, due[0]!.metric, id, due[0]!.index, now);
    recordMeasurement(run, t, id, o, now);
    now += t.intervalMs ?? 0;
  }
  return now;
}

const v = (value: unknown): ProviderOutcome => ({ kind: 'value', value });
const err: ProviderOutcome = { kind: 'error', message: 'ECONNREFUSED' };

test('judge follows Argo: failure wins, a lone success condition fails when false, neither true is inconclusive', () => {
  assert.equal(judge(template(), v(0.001)).phase, 'Successful');
  assert.equal(judge(template(), v(0.5)).phase, 'Failed');
  const both = template({ successCondition: 'result < 0.01', failureCondition: 'result > 0.05' });
  assert.equal(judge(both, v(0.03)).phase, 'Inconclusive');
  assert.equal(judge(both, v(0.06)).phase, 'Failed');
  const onlyFailure = template({ successCondition: null, failureCondition: 'result > 0.05' });
  assert.equal(judge(onlyFailure, v(0.03)).phase, 'Successful');
  assert.equal(judge(template({ successCondition: 'result > 1', failureCondition: 'result > 0' }), v(2)).phase, 'Failed', 'both true: Failed');
  const none = template({ successCondition: null });
  assert.equal(judge(none, v(123)).phase, 'Successful');
  assert.equal(judge(none, { kind: 'value', value: 1, verdict: 'Failed' }).phase, 'Failed');
  assert.equal(judge(template(), err).phase, 'Error');
  assert.equal(judge(template(), { kind: 'inconclusive', message: 'few requests' }).phase, 'Inconclusive');
  const evalError = judge(template(), v([0.1]));
  assert.equal(evalError.phase, 'Error');
  assert.match(evalError.message!, /condition: '<' cannot compare a list/);
  assert.equal(judge(template({ successCondition: 'result + 1' }), v(1)).phase, 'Error');
});

test('count measurements one interval apart, then Successful', () => {
  const t = template({ count: 3 });
  const run = startRun('r', 'step', 0, ['m'], { m: t }, 0);
  assert.deepEqual(dueMeasurements(run, 0), [{ metric: 'm', index: 0 }]);
  markPending(run, 'm', 'x', 0, 0);
  assert.deepEqual(dueMeasurements(run, 0), [], 'one at a time');
  assert.equal(nextDueAt(run), null);
  recordMeasurement(run, t, 'x', v(0), 0);
  assert.deepEqual(dueMeasurements(run, 9_999), []);
  assert.equal(nextDueAt(run), 10_000);
  feed(run, t, [v(0), v(0)], 10_000);
  assert.equal(run.phase, 'Successful');
  assert.equal(run.metrics[0]!.count, 3);
  assert.equal(run.finishedAt, 20_000);
});

test('failureLimit: failures up to the limit are tolerated, one more fails the run at once', () => {
  const t = template({ count: 10, failureLimit: 2 });
  const run = startRun('r', 'step', 0, ['m'], { m: t }, 0);
  feed(run, t, [v(0.5), v(0), v(0.5), v(0)]);
  assert.equal(run.phase, 'Running');
  feed(run, t, [v(0.5)], 40_000);
  assert.equal(run.phase, 'Failed');
  assert.match(run.message, /3 failed measurements exceed failureLimit 2/);
  assert.deepEqual(dueMeasurements(run, 1e9), []);
});

test('errors are retried and do not count; more than consecutiveErrorLimit in a row is Error', () => {
  const t = template({ count: 2, consecutiveErrorLimit: 2 });
  const run = startRun('r', 'step', 0, ['m'], { m: t }, 0);
  feed(run, t, [err, err, v(0), err, err, v(0)]);
  assert.equal(run.phase, 'Successful', 'two errors in a row are within the limit');
  assert.equal(run.metrics[0]!.error, 4);
  const run2 = startRun('r2', 'step', 0, ['m'], { m: t }, 0);
  feed(run2, t, [err, err, err]);
  assert.equal(run2.phase, 'Error');
  assert.match(run2.message, /3 consecutive errors exceed consecutiveErrorLimit 2: ECONNREFUSED/);
});

test('inconclusive beyond inconclusiveLimit; fail fast across metrics, and the others stop', () => {
  const t = template({ count: 3, inconclusiveLimit: 1 });
  const run = startRun('r', 'step', 0, ['m'], { m: t }, 0);
  feed(run, t, [{ kind: 'inconclusive', message: 'x' }, v(0), { kind: 'inconclusive', message: 'y' }]);
  assert.equal(run.phase, 'Inconclusive');

  const a = template({ name: 'a', count: 5 });
  const b = template({ name: 'b', count: 5 });
  const two = startRun('two', 'step', 0, ['a', 'b'], { a, b }, 0);
  for (const d of dueMeasurements(two, 0)) markPending(two, d.metric, d.metric, d.index, 0);
  recordMeasurement(two, a, 'a', v(0.9), 1);
  assert.equal(two.phase, 'Failed');
  assert.equal(two.metrics[1]!.pending, null, 'the other metric stops');
  assert.equal(recordMeasurement(two, b, 'b', v(0), 2), false, 'a late answer changes nothing');
});

test('background metrics without count run until terminated; terminate keeps the verdict of the counts', () => {
  const t = template({ count: null, failureLimit: 1 });
  const run = startRun('bg', 'background', null, ['m'], { m: t }, 0);
  feed(run, t, Array.from({ length: 30 }, () => v(0)));
  assert.equal(run.phase, 'Running');
  assert.equal(run.metrics[0]!.measurements.length, MEASUREMENT_RETENTION, 'only the last measurements are kept');
  assert.equal(run.metrics[0]!.count, 30);
  assert.equal(run.metrics[0]!.measurements.at(-1)!.index, 29);
  terminateRun(run, { m: t }, 'rollout completed', 300_000);
  assert.equal(run.phase, 'Successful');
  assert.match(run.message, /^terminated: rollout completed/);
});

test('initial delay, missing templates, and JSON-safe values', () => {
  const t = template({ initialDelayMs: 5_000, count: 1 });
  const run = startRun('r', 'step', 0, ['m'], { m: t }, 100);
  assert.deepEqual(dueMeasurements(run, 5_099), []);
  assert.equal(dueMeasurements(run, 5_100).length, 1);
  feed(run, t, [v(Number.NaN)], 5_100);
  assert.equal(run.metrics[0]!.measurements[0]!.value, 'NaN');
  assert.equal(JSON.parse(JSON.stringify(run)).metrics[0].measurements[0].value, 'NaN');

  const gone = startRun('g', 'step', 0, ['nope'], {}, 0);
  assert.equal(gone.phase, 'Error');
  assert.match(gone.message, /template "nope" no longer exists/);
});
