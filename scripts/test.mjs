#!/usr/bin/env node
// Runs every compiled test (dist/**/*.test.js) with node's own test runner, after the preflight
// (scripts/preflight.mjs: etcd and chromium are there, or installed, or nothing runs).
// Node 20's `node --test` takes paths, not globs, so the files are collected here.
// Usage: node scripts/test.mjs [--dir DIR] [substring-filter...]
// (DIR: where to look; default dist/ and each workspace's packages/NAME/dist/, whose files a filter
// sees as packages/NAME/dist/..., so `lanes` picks the SDK package's tests and the gateway's alike)
import { existsSync, readdirSync, statSync } from 'node:fs';
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
const repo = new URL('..', import.meta.url).pathname;
let root = join(repo, 'dist');
/** Where to look, with the directory each file's filter key is relative to. */
let roots = [{ dir: root, base: root }, ...workspaceDists()];
if (args[0] === '--dir') {
  root = resolve(args[1] ?? '.');
  roots = [{ dir: root, base: root }];
  args.splice(0, 2);
}
const filters = args;

if (!preflight()) process.exit(1);

/** packages/NAME/dist of every workspace package that has been built. */
function workspaceDists() {
  const packages = join(repo, 'packages');
  if (!existsSync(packages)) return [];
  return readdirSync(packages)
    .map((name) => join(packages, name, 'dist'))
    .filter((dir) => existsSync(dir))
    .map((dir) => ({ dir, base: repo }));
}

const files = [];
for (const { dir, base } of roots) {
  (function walk(d) {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.test.js')) files.push({ path: p, key: relative(base, p) });
    }
  })(dir);
}
const chosen = files
  .filter((f) => filters.length === 0 || filters.some((s) => f.key.includes(s)))
  .map((f) => f.path)
  .sort();
if (chosen.length === 0) {
  console.error(`no test files found under ${root}${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, [...RUNNER_FLAGS, ...chosen], { stdio: 'inherit' });
process.exit(r.status ?? 1);
