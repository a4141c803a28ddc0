#!/usr/bin/env node
// Runs every compiled test (dist/**/*.test.js) with node's own test runner, after the preflight
// (scripts/preflight.mjs: etcd and chromium are there, or installed, or nothing runs).
// Node 20's `node --test` takes paths, not globs, so the files are collected here.
// Usage: node scripts/test.mjs [--dir DIR] [substring-filter...]   (DIR: where to look; default dist/)
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { preflight } from './preflight.mjs';

/**
 * A test file must never hang the run. Each file runs in its own process; when a failed set-up
 * leaves a server or a browser open, --test-force-exit ends that process once its tests are done,
 * and --test-timeout fails a test or hook that never finishes (tests that need longer say so).
 */
const RUNNER_FLAGS = ['--test', '--test-concurrency=2', '--test-force-exit', '--test-timeout=300000', '--test-reporter=spec'];

const args = process.argv.slice(2);
let root = new URL('../dist', import.meta.url).pathname;
if (args[0] === '--dir') {
  root = resolve(args[1] ?? '.');
  args.splice(0, 2);
}
const filters = args;

if (!preflight()) process.exit(1);

const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(root);
const chosen = files
  .filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)))
  .sort();
if (chosen.length === 0) {
  console.error(`no test files found under ${root}${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, [...RUNNER_FLAGS, ...chosen], { stdio: 'inherit' });
process.exit(r.status ?? 1);
