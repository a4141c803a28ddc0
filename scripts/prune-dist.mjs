#!/usr/bin/env node
/**
 * Removes compiled files whose TypeScript source is gone, before `tsc -b` builds.
 *
 * tsc never deletes an output whose source was moved or removed, so a checkout that has seen a
 * file move keeps running the old compiled tests (scripts/test.mjs runs every *.test.js under
 * dist/) and packs the old modules. A clean clone has no such leftovers; this makes a long-lived
 * checkout behave like one without giving up the incremental build.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
/** Each output tree and the directory its sources live in (rootDir of its tsconfig). */
const TREES = [
  { out: 'dist', src: '.', only: ['src', 'test', 'bench'] },
  { out: 'packages/lanes/dist', src: 'packages/lanes', only: ['src', 'test'] },
];
const OUTPUT = /\.(d\.ts|js|js\.map|d\.ts\.map)$/;

let removed = 0;
for (const tree of TREES) {
  for (const top of tree.only) {
    const dir = join(ROOT, tree.out, top);
    if (!existsSync(dir)) continue;
    for (const file of walk(dir)) {
      const m = OUTPUT.exec(file);
      if (m === null) continue;
      const base = relative(join(ROOT, tree.out), file).slice(0, -m[0].length);
      const source = join(ROOT, tree.src, base);
      if (!existsSync(`${source}.ts`) && !existsSync(`${source}.mts`) && !existsSync(`${source}.cts`)) {
        rmSync(file);
        removed++;
      }
    }
  }
}
if (removed > 0) console.error(`prune-dist: removed ${removed} compiled files whose source is gone`);

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}
