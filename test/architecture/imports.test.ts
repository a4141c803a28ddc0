/**
 * The one-way rule of docs/architecture.md: folders import downwards only (cli -> app -> admin ->
 * cluster -> rollout -> ... -> routing -> spec), the dashboard (web/) imports only the admin API's
 * wire module, and no edge against the layers appears that scripts/imports.mjs does not list with
 * its reason. Reads the TypeScript sources as they are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const ROOT = new URL('../../../', import.meta.url).pathname;
const SCRIPT = `${ROOT}scripts/imports.mjs`;

interface ImportsModule {
  violations(edges: Map<string, Map<string, string[]>>): { edge: string; why: string; via: string[] }[];
  cycles(edges: Map<string, Map<string, string[]>>): string[][];
  folderOf(path: string): string | null;
  KNOWN_EDGES: Map<string, string>;
}
const load = (): Promise<ImportsModule> => import(SCRIPT) as Promise<ImportsModule>;

/** A folder graph from `a -> b` lines, each edge carried by one made-up import. */
function graph(...lines: string[]): Map<string, Map<string, string[]>> {
  const g = new Map<string, Map<string, string[]>>();
  for (const line of lines) {
    const [a, b] = line.split(' -> ') as [string, string];
    if (!g.has(a)) g.set(a, new Map());
    g.get(a)!.set(b, [`src/${a}/x.ts -> ${b === 'web' ? 'web/src/x.ts' : `src/${b}/y.ts`}`]);
  }
  return g;
}

test('the source tree keeps the one-way rule: no edge against the layers beyond the listed ones', async () => {
  const run = await promisify(execFile)(process.execPath, [SCRIPT, '--check'], { cwd: ROOT }).catch((e: { stdout: string; code: number }) => e);
  assert.equal('code' in run ? run.code : 0, 0, run.stdout);
  assert.match(run.stdout, /new edges against the layers: 0/);
});

test('the check names an upward edge, a sideways one, a folder with no layer, and web beyond the wire module', async () => {
  const { violations } = await load();
  const found = violations(graph('routing -> spec', 'spec -> routing', 'rollout -> cluster', 'newfolder -> spec'));
  assert.deepEqual(
    found.map((v) => `${v.edge}: ${v.why}`),
    ['spec -> routing: upward', 'rollout -> cluster: upward', 'newfolder -> spec: folder newfolder has no layer in scripts/imports.mjs'],
  );
  const web = new Map([['web', new Map([['admin', ['web/src/api.ts -> src/admin/wire.ts']], ['metrics', ['web/src/api.ts -> src/metrics/overview.ts']]])]]);
  assert.deepEqual(violations(web).map((v) => v.edge), ['web -> metrics']);
  assert.deepEqual(violations(graph('gateway -> routing', 'cluster -> store')), []);
  assert.deepEqual(violations(graph('store -> registry')).map((v) => v.why), ['sideways']);
});

test('the source tree has no folder cycle, and the edges issue #20 removed have not come back', async () => {
  const { folderGraph, cycles } = (await load()) as ImportsModule & { folderGraph(): Map<string, Map<string, string[]>> };
  const edges = folderGraph();
  assert.deepEqual(cycles(edges), []);
  // Listed in KNOWN_EDGES or not: the store persists src/status types, metrics reads views through an interface.
  for (const [a, b] of [['store', 'rollout'], ['metrics', 'rollout'], ['metrics', 'store']] as const) {
    assert.deepEqual(edges.get(a)?.get(b) ?? [], [], `${a} -> ${b}`);
  }
});

test('cycles are found at folder level; every known exception has its reason', async () => {
  const { cycles, folderOf, KNOWN_EDGES } = await load();
  assert.deepEqual(cycles(graph('a -> b', 'b -> c', 'c -> a', 'c -> d')), [['a', 'b', 'c']]);
  assert.deepEqual(cycles(graph('a -> b', 'b -> c')), []);
  assert.equal(folderOf('src/app.ts'), 'app');
  assert.equal(folderOf('src/app/clustered.ts'), 'app');
  assert.equal(folderOf('src/store/etcd.ts'), 'store');
  assert.equal(folderOf('web/src/api.ts'), 'web');
  for (const [edge, why] of KNOWN_EDGES) assert.ok(why.length > 20, `${edge} needs its reason`);
});
