#!/usr/bin/env node
// Folder-level import graph of src/ (and web/src, which may import the wire module only).
// Reads the TypeScript sources, not dist/, so it needs no build: every `import ... from`,
// `export ... from` and `import('...')` with a relative specifier is an edge from the importing
// file's folder to the imported file's folder (src/app.ts is the folder `app`). Type-only imports
// count: a type is a contract, and a contract that points back up is the loop this guards against.
//
// Usage: node scripts/imports.mjs [--edges] [--files] [--check]
//   (default) prints the folder cycles (strongly connected components) and the upward edges
//   --edges   also prints every folder -> folder edge with its number of importing files
//   --files   with --edges, names the files behind each edge
//   --check   exits 1 on an edge against LAYERS that KNOWN_EDGES does not list (docs/architecture.md)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(new URL('..', import.meta.url).pathname);

/**
 * The one-way rule of docs/architecture.md, top to bottom: a folder imports only from layers below
 * its own; folders of one layer do not import each other. A new folder needs a place here.
 */
export const LAYERS = [
  ['cli', 'index'],
  ['demo', 'import', 'export'],
  ['app'],
  ['admin'],
  ['workers'],
  ['cluster', 'notify'],
  ['rollout'],
  ['source'],
  ['store', 'registry'],
  ['metrics'],
  ['traffic', 'decide', 'tracing'],
  ['gateway'],
  ['http1', 'http2'],
  ['routing'],
  ['status'],
  ['spec'],
  ['lanes'],
  ['errors', 'log'],
];

/**
 * Edges against the layers that exist today, each with why and what would remove it. --check
 * passes with these and fails on any other: a new upward or sideways edge (and so any new folder
 * cycle, since a cycle needs at least one edge that does not run down) fails until it is removed
 * or listed here with its reason.
 */
export const KNOWN_EDGES = new Map([
  // None today. The last three went with issue #20: store -> rollout (the persisted status types
  // moved to src/status), metrics -> rollout and metrics -> store (the view and event types moved
  // there too; the controller's rollouts reach metrics through its RolloutSource interface).
]);

/** web/src is the dashboard, a separate build: it may import the admin API's wire types and nothing else. */
export const WEB_MAY_IMPORT = ['src/admin/wire.ts'];

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const SPECIFIER = /(?:^|[\s;}])(?:import|export)\s[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

/** The relative specifiers a file imports, resolved to repository paths with .ts endings. */
export function importsOf(file, text) {
  const out = [];
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of code.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec || !spec.startsWith('.')) continue;
    const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
    out.push(relative(ROOT, target));
  }
  return out;
}

/** src/app.ts -> app, src/store/etcd.ts -> store, web/src/api.ts -> web, anything else -> null. */
export function folderOf(path) {
  const parts = path.split('/');
  if (parts[0] === 'web') return 'web';
  if (parts[0] !== 'src') return null;
  if (parts.length === 2) return parts[1].replace(/\.tsx?$/, '');
  return parts[1];
}

/** folder -> folder -> [importing file -> imported file] for src/ and web/src/. */
export function folderGraph() {
  const edges = new Map();
  const files = [...walk(join(ROOT, 'src'), []), ...walk(join(ROOT, 'web/src'), [])];
  for (const abs of files) {
    const from = relative(ROOT, abs);
    const a = folderOf(from);
    for (const to of importsOf(abs, readFileSync(abs, 'utf8'))) {
      const b = folderOf(to);
      if (b === null || a === b) continue;
      if (!edges.has(a)) edges.set(a, new Map());
      const row = edges.get(a);
      if (!row.has(b)) row.set(b, []);
      row.get(b).push(`${from} -> ${to}`);
    }
  }
  return edges;
}

/** Tarjan's strongly connected components with more than one folder: each is an import cycle. */
export function cycles(edges) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  let n = 0;
  const nodes = new Set([...edges.keys(), ...[...edges.values()].flatMap((r) => [...r.keys()])]);
  function visit(v) {
    index.set(v, n);
    low.set(v, n);
    n++;
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  }
  for (const v of [...nodes].sort()) if (!index.has(v)) visit(v);
  return out;
}

function layerOf(folder) {
  return LAYERS.findIndex((l) => l.includes(folder));
}

/** Edges that break the rule: upward, sideways without a reason, from/to a folder with no layer, web beyond the wire module. */
export function violations(edges) {
  const out = [];
  for (const [a, row] of edges) {
    for (const [b, via] of row) {
      if (a === 'web') {
        const bad = via.filter((e) => !WEB_MAY_IMPORT.includes(e.split(' -> ')[1]));
        if (bad.length) out.push({ edge: `web -> ${b}`, why: 'web/src imports only the wire module', via: bad });
        continue;
      }
      const la = layerOf(a);
      const lb = layerOf(b);
      if (la < 0 || lb < 0) out.push({ edge: `${a} -> ${b}`, why: `folder ${la < 0 ? a : b} has no layer in scripts/imports.mjs`, via });
      else if (lb < la) out.push({ edge: `${a} -> ${b}`, why: 'upward', via });
      else if (lb === la) out.push({ edge: `${a} -> ${b}`, why: 'sideways', via });
    }
  }
  return out;
}

function main() {
  const args = new Set(process.argv.slice(2));
  const edges = folderGraph();
  if (args.has('--edges')) {
    for (const a of [...edges.keys()].sort()) {
      for (const b of [...edges.get(a).keys()].sort()) {
        const via = edges.get(a).get(b);
        console.log(`${a} -> ${b}  (${via.length})`);
        if (args.has('--files')) for (const e of via) console.log(`    ${e}`);
      }
    }
  }
  const cyc = cycles(edges);
  console.log(`folder cycles: ${cyc.length}`);
  for (const c of cyc) console.log(`  ${c.join(' <-> ')}`);
  const all = violations(edges);
  const known = all.filter((v) => KNOWN_EDGES.has(v.edge));
  const bad = all.filter((v) => !KNOWN_EDGES.has(v.edge));
  console.log(`known edges against the layers: ${known.length}`);
  for (const v of known) console.log(`  ${v.edge}  (${v.why}; ${v.via.length} imports): ${KNOWN_EDGES.get(v.edge)}`);
  console.log(`new edges against the layers: ${bad.length}`);
  for (const v of bad) {
    console.log(`  ${v.edge}  (${v.why})`);
    for (const e of v.via) console.log(`      ${e}`);
  }
  const count = [...edges.values()].reduce((s, r) => s + r.size, 0);
  console.log(`folder edges: ${count}`);
  if (args.has('--check') && bad.length) process.exit(1);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) main();
