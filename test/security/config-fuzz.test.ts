/**
 * Config fuzzing over the loader and the rule compiler (compile(parseSpec(text))), with marking on
 * top: random and mutated YAML, deep nesting, huge numbers and pathological regexes end in a
 * ConfigError or in a Snapshot that marks any request, never in another exception or a hang.
 *
 * The fuzz runs in a child process (config-fuzz-worker.ts) under a watchdog: a case that does not
 * finish within CASE_BUDGET_MS is a failure that names its input. That budget is a hang detector,
 * generous for the slowest case on a shared machine, not a performance assertion.
 * GRAYLANE_FUZZ_RUNS raises the number of runs for a longer local hunt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

const WORKER = new URL('./config-fuzz-worker.js', import.meta.url).pathname;
const RUNS = process.env.GRAYLANE_FUZZ_RUNS ?? '150';
const CASE_BUDGET_MS = 20_000;

interface Outcome {
  code: number | null;
  cases: number;
  lastCase: string;
  failure: string;
  timedOut: boolean;
}

function fuzz(property: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, property, RUNS], { stdio: ['ignore', 'pipe', 'inherit'] });
    const outcome: Outcome = { code: null, cases: 0, lastCase: '', failure: '', timedOut: false };
    let buffered = '';
    let watchdog = setTimeout(onHang, CASE_BUDGET_MS);
    function onHang(): void {
      outcome.timedOut = true;
      child.kill('SIGKILL');
    }
    child.stdout.on('data', (chunk: Buffer) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(onHang, CASE_BUDGET_MS);
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('CASE ')) outcome.lastCase = line.slice(5);
        else if (line === 'OK') outcome.cases++;
        else if (line.startsWith('FAILED ')) outcome.failure = line.slice(7);
      }
    });
    child.once('close', (code) => {
      clearTimeout(watchdog);
      outcome.code = code;
      resolve(outcome);
    });
  });
}

function verdict(o: Outcome): void {
  assert.ok(!o.timedOut, `a case ran past ${CASE_BUDGET_MS} ms (a hang) after ${o.cases} cases; input: ${o.lastCase.slice(0, 600)}`);
  assert.equal(o.failure, '', `after ${o.cases} cases: ${o.failure}; last input: ${o.lastCase.slice(0, 600)}`);
  assert.equal(o.code, 0);
  assert.ok(o.cases >= Number(RUNS), `${o.cases} cases ran`);
}

test('fuzz: mutated, random, deeply nested and huge-number configs through loader, compiler and mark', { timeout: 600_000 }, async () => {
  verdict(await fuzz('documents'));
});

test('fuzz: generated regexes in every slot are rejected or match adversarial input without hanging', { timeout: 600_000 }, async () => {
  verdict(await fuzz('regexes'));
});
