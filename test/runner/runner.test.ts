/**
 * The README's test command on a machine that is not ready for it (issue #19, item 15):
 * - a missing tool stops the run before any test, one line per tool with the command that installs
 *   it, when the run cannot install it (no apt-get on PATH, or not root);
 * - a test file whose set-up fails after opening a server does not hang the run.
 * Both run the real scripts/test.mjs as a child process, on fixture test files in a temporary
 * directory, bounded in time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp.js';

const RUNNER = new URL('../../../scripts/test.mjs', import.meta.url).pathname;

/** The `test` tools of .ci/debian-packages, in its order: the one list the preflight reads too. */
const TEST_TOOLS = readFileSync(new URL('../../../.ci/debian-packages', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'))
  .map((l) => /^(\S+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(l)!)
  .filter((m) => m[3] === 'test')
  .map((m) => ({ command: m[1]!, pkg: m[2]!, why: m[4]!.trim() }))
  // Programs looked up on PATH (an absolute path names a file, a module, that PATH does not hide).
  .filter((t) => !t.command.startsWith('/'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs scripts/test.mjs ARGS with `env`; kills it and fails after `ms`. */
function runRunner(args: string[], env: NodeJS.ProcessEnv, ms: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    // Without the variable node --test sets for the files it runs: the runner is a run of its own here.
    const { NODE_TEST_CONTEXT: _, ...own } = env;
    const child = spawn(process.execPath, [RUNNER, ...args], { env: own, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL'); // the runner and the test processes it started
      reject(new Error(`the test runner was still running after ${ms} ms:\n${stdout}\n${stderr}`));
    }, ms);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A directory of stand-in programs (each exits 0) for PATH. */
function binWith(bin: string, commands: string[]): string {
  mkdirSync(bin, { recursive: true });
  for (const c of commands) {
    writeFileSync(join(bin, c), '#!/bin/sh\nexit 0\n');
    chmodSync(join(bin, c), 0o755);
  }
  return bin;
}

test('a missing tool stops the run before any test: one line per tool with the command that installs it', async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  // A test that leaves a mark if it runs at all.
  const tests = dir.file('tests');
  mkdirSync(tests);
  const mark = dir.file('ran');
  writeFileSync(join(tests, 'mark.test.js'), `require('node:test').test('runs', () => require('node:fs').writeFileSync(${JSON.stringify(mark)}, 'x'));\n`);

  // Every tool but etcd there, and no apt-get to install it with.
  assert.ok(TEST_TOOLS.length >= 5 && TEST_TOOLS.some((t) => t.command === 'etcd'), JSON.stringify(TEST_TOOLS));
  const onlyChromium = binWith(dir.file('a'), TEST_TOOLS.map((t) => t.command).filter((c) => c !== 'etcd'));
  const r = await runRunner(['--dir', tests], { ...process.env, PATH: onlyChromium }, 20_000);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[0]!, /^preflight: the tests need programs that are not installed, and this run cannot install them \((no apt-get on PATH|not running as root)\); no test was run:$/);
  assert.deepEqual(lines.slice(1), ['  etcd: not found on PATH (clustered-mode tests start their own etcd); install it with: sudo apt-get install -y etcd-server']);
  assert.equal(r.stdout, '');
  assert.equal(existsSync(mark), false, 'no test ran');

  // Nothing there: a line for each.
  const empty = binWith(dir.file('b'), []);
  const none = await runRunner(['--dir', tests], { ...process.env, PATH: empty }, 20_000);
  assert.equal(none.code, 1, none.stderr);
  assert.deepEqual(
    none.stderr.trim().split('\n').slice(1),
    TEST_TOOLS.map((t) => `  ${t.command}: not found on PATH (${t.why}); install it with: sudo apt-get install -y ${t.pkg}`),
  );
  assert.ok(none.stderr.includes('  chromium: not found on PATH (the dashboard test drives it with playwright-core); install it with: sudo apt-get install -y chromium'));
  assert.equal(existsSync(mark), false, 'no test ran');
});

test('a test file whose before() fails after opening a server does not hang the run; the other files still run', async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const tests = dir.file('tests');
  mkdirSync(tests);
  writeFileSync(
    join(tests, 'failed-set-up.test.js'),
    `const { before, test } = require('node:test');
const http = require('node:http');
before(async () => {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  throw new Error('set-up failed after opening a server');
});
test('needs the set-up', () => {});
`,
  );
  writeFileSync(join(tests, 'fine.test.js'), `require('node:test').test('an unrelated test passes', () => {});\n`);
  const r = await runRunner(['--dir', tests], process.env, 60_000);
  assert.equal(r.code, 1, 'the run fails');
  assert.match(r.stdout, /set-up failed after opening a server/);
  assert.match(r.stdout, /✔ an unrelated test passes/);
  assert.match(r.stdout, /ℹ pass 1\n/);
  t.diagnostic(`the runner finished in ${r.ms} ms`);
});
