/**
 * The Dockerfile, kept honest without a daemon (issue #18):
 * - lint: two stages, the native build and the prune in the build stage, a non-root numeric USER,
 *   the OCI labels, a volume that is the working directory, `graylane serve` as the default command,
 *   a HEALTHCHECK on /healthz, a .dockerignore that keeps host builds out of the context;
 * - replay: the build context (.dockerignore applied) in a temporary directory, the build stage's
 *   RUN steps, the runtime stage's COPY --from=build lines as written, then ENTRYPOINT + CMD from
 *   the copied tree with `/` mapped to a temporary root: it serves a request, its HEALTHCHECK
 *   passes, and it writes nowhere but its volume.
 *   Two build steps are stood in for by what the checkout already did with the same commands:
 *   `npm ci --ignore-scripts && npm rebuild ...` (node_modules, installed from the same lock file;
 *   rebuilding better-sqlite3 takes minutes) and `npm run build` (dist/, built by `npm test` before
 *   any test runs). `npm prune --omit=dev` runs for real. Any other RUN fails the test, so a
 *   Dockerfile change cannot slip past it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, type TempDir } from '../support/temp.js';
import { minimalConfig, startServe, startUpstream } from '../packaging/serve-child.js';
import { dockerignore, execForm, keyValues, parseDockerfile, stages, type Instruction, type Stage } from './dockerfile.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DOCKERFILE = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
const [build, runtime] = stages(parseDockerfile(DOCKERFILE)) as [Stage, Stage];

const only = (stage: Stage, op: string): Instruction[] => stage.instructions.filter((i) => i.op === op);
const last = (stage: Stage, op: string): Instruction => {
  const all = only(stage, op);
  assert.ok(all.length > 0, `${stage.name} has no ${op}`);
  return all.at(-1)!;
};

test('Dockerfile: a build stage and a runtime stage from the same Node', () => {
  assert.equal(stages(parseDockerfile(DOCKERFILE)).length, 2);
  assert.equal(build.name, 'build');
  assert.equal(runtime.from, build.from, 'the native addon is built for the Node that runs it');
  assert.match(DOCKERFILE, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
  const runs = only(build, 'RUN').map((r) => r.args);
  assert.ok(runs.some((r) => /\bnpm ci\b/.test(r) && /npm rebuild better-sqlite3\b/.test(r)), 'the native module is built in the build stage');
  assert.ok(runs.includes('npm run build'));
  assert.ok(runs.some((r) => r.startsWith('npm prune --omit=dev')));
  assert.equal(only(runtime, 'RUN').filter((r) => /\bnpm\b|apt-get/.test(r.args)).length, 0, 'nothing installed or compiled in the runtime stage');
});

test('Dockerfile: the runtime runs as a non-root numeric user, from its volume, with labels, a health check and serve', () => {
  const user = last(runtime, 'USER').args;
  assert.match(user, /^\d+(:\d+)?$/, 'numeric, so that runAsNonRoot can check it');
  assert.notEqual(Number(user.split(':')[0]), 0);
  const volume = execForm(last(runtime, 'VOLUME'));
  assert.deepEqual(volume, ['/var/lib/graylane']);
  assert.equal(last(runtime, 'WORKDIR').args, '/var/lib/graylane', 'relative state and cache paths land on the volume');
  const labels = new Map<string, string>();
  for (const l of only(runtime, 'LABEL')) for (const [k, v] of keyValues(l.args)) labels.set(k, v);
  for (const k of ['title', 'description', 'version', 'licenses', 'revision', 'source']) assert.ok(labels.has(`org.opencontainers.image.${k}`), k);
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; license: string };
  assert.match(DOCKERFILE, new RegExp(`^ARG VERSION=${pkg.version.replace(/\./g, '\\.')}$`, 'm'), 'the default VERSION is the package version');
  assert.equal(labels.get('org.opencontainers.image.licenses'), pkg.license);
  assert.match(last(runtime, 'HEALTHCHECK').args, /\/healthz/);
  assert.deepEqual(execForm(last(runtime, 'ENTRYPOINT')), ['node', '/opt/graylane/dist/src/cli/main.js']);
  assert.deepEqual(execForm(last(runtime, 'CMD')), ['serve', '-c', '/etc/graylane/graylane.yaml']);
  assert.equal(last(runtime, 'STOPSIGNAL').args, 'SIGTERM', 'SIGTERM drains');
});

test('.dockerignore keeps host builds and installs out of the context, and the sources in', () => {
  const ignored = dockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
  for (const p of ['node_modules/better-sqlite3/build/Release/better_sqlite3.node', 'dist/src/app.js', 'packages/lanes/node_modules/x', 'packages/lanes/dist/src/index.js', '.git/HEAD', 'packages/lanes/dist/tsconfig.tsbuildinfo']) {
    assert.ok(ignored(p), `${p} is sent to the daemon`);
  }
  for (const p of ['package.json', 'package-lock.json', 'src/app.ts', 'packages/lanes/src/index.ts', 'packages/lanes/package.json', 'web/index.html', 'schema/graylane.schema.json', 'tsconfig.json']) {
    assert.ok(!ignored(p), `${p} is left out of the context`);
  }
});

let tmp: TempDir;
before(async () => (tmp = await tempDir()));
after(() => tmp?.remove());

/** Every file under `dir` with its size and mtime, to see that nothing was written there. */
function listing(dir: string): string[] {
  const out: string[] = [];
  (function walk(d: string) {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.isDirectory()) walk(p);
      else out.push(`${p} ${st.size} ${st.mtimeMs}`);
    }
  })(dir);
  return out.sort();
}

test('replay: the pruned runtime tree serves through ENTRYPOINT + CMD and writes only to its volume', async () => {
  const ctx = join(tmp.path, 'src');
  const root = join(tmp.path, 'root');
  // The build context: what git has (tracked and new files), less what .dockerignore leaves out.
  const ignored = dockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter((f) => f !== '' && !ignored(f) && existsSync(join(REPO, f)));
  for (const f of files) cpSync(join(REPO, f), join(ctx, f), { verbatimSymlinks: true });

  // The build stage's RUN steps, in order.
  for (const run of only(build, 'RUN')) {
    if (run.args.startsWith('apt-get update')) continue; // the toolchain: this machine has it (.ci/debian-packages)
    else if (/^npm ci --ignore-scripts\b.*&& npm rebuild better-sqlite3\b/.test(run.args)) cpSync(join(REPO, 'node_modules'), join(ctx, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    else if (run.args === 'npm run build') {
      cpSync(join(REPO, 'dist'), join(ctx, 'dist'), { recursive: true });
      cpSync(join(REPO, 'packages/lanes/dist'), join(ctx, 'packages/lanes/dist'), { recursive: true });
    } else if (run.args.startsWith('npm prune --omit=dev')) execFileSync('npm', [...run.args.split(/\s+/).slice(1), '--offline', '--loglevel=error'], { cwd: ctx });
    else assert.fail(`Dockerfile:${run.line}: the test does not know how to replay RUN ${run.args}`);
  }
  assert.ok(!existsSync(join(ctx, 'node_modules/typescript')) && !existsSync(join(ctx, 'node_modules/vite')), 'dev dependencies pruned');
  assert.ok(existsSync(join(ctx, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')));

  // The runtime stage: its COPY --from=build lines as written, `/` being `root`.
  let workdir = '/';
  for (const ins of runtime.instructions) {
    if (ins.op === 'WORKDIR') workdir = ins.args;
    else if (ins.op === 'COPY') {
      const m = /^--from=build\s+(\/src\/\S+)\s+(\S+)$/.exec(ins.args);
      assert.ok(m, `Dockerfile:${ins.line}: COPY ${ins.args}`);
      const from = join(ctx, m[1]!.slice('/src/'.length));
      const to = join(root, m[2]!.startsWith('/') ? m[2]! : join(workdir, m[2]!));
      assert.ok(existsSync(from), `Dockerfile:${ins.line}: ${m[1]} does not exist after the build`);
      mkdirSync(dirname(to), { recursive: true });
      cpSync(from, to, { recursive: true, verbatimSymlinks: true });
    } else if (ins.op === 'RUN') {
      const m = /^mkdir -p (\S+) && chown \d+:\d+ \1$/.exec(ins.args);
      assert.ok(m, `Dockerfile:${ins.line}: the test does not know how to replay RUN ${ins.args}`);
      mkdirSync(join(root, m[1]!), { recursive: true });
    }
  }
  const volume = join(root, workdir);
  const home = join(tmp.path, 'home');
  const tmpdir = join(tmp.path, 'tmpdir');
  mkdirSync(home);
  mkdirSync(tmpdir);
  const up = await startUpstream();
  mkdirSync(join(root, 'etc/graylane'), { recursive: true });
  writeFileSync(join(root, 'etc/graylane/graylane.yaml'), minimalConfig(up.url));
  const before = listing(join(root, 'opt'));

  const entrypoint = execForm(last(runtime, 'ENTRYPOINT'));
  const cmd = execForm(last(runtime, 'CMD'));
  assert.equal(entrypoint[0], 'node');
  assert.equal(cmd[0], 'serve');
  const inRoot = (a: string) => (a.startsWith('/') ? join(root, a) : a);
  const env = { PATH: process.env.PATH, NODE_ENV: 'production', HOME: home, TMPDIR: tmpdir };
  const serve = await startServe(process.execPath, entrypoint.slice(1).map(inRoot), cmd.slice(1).map(inRoot), { cwd: volume, env });
  try {
    const res = await fetch(`${serve.gateway}/from-the-image`);
    assert.equal(await res.text(), 'hello from stable /from-the-image');
    // The HEALTHCHECK command, run as docker runs it (its URL pointed at this child's admin port).
    const health = execForm({ ...last(runtime, 'HEALTHCHECK'), args: last(runtime, 'HEALTHCHECK').args.replace(/^.*?CMD\s+/, '') });
    const ok = spawnSync(process.execPath, health.slice(1), { env: { ...env, GRAYLANE_HEALTH_URL: `${serve.admin}/healthz` }, timeout: 10_000 });
    assert.equal(ok.status, 0, String(ok.stderr));
    assert.equal((await fetch(`${serve.admin}/readyz`)).status, 200);
  } finally {
    assert.equal(await serve.stop(), 0, serve.stderr());
    await up.close();
  }
  const health = execForm({ ...last(runtime, 'HEALTHCHECK'), args: last(runtime, 'HEALTHCHECK').args.replace(/^.*?CMD\s+/, '') });
  const down = spawnSync(process.execPath, health.slice(1), { env: { ...env, GRAYLANE_HEALTH_URL: `${serve.admin}/healthz` }, timeout: 10_000 });
  assert.equal(down.status, 1, 'the health check fails once the process is gone');

  // Read-only root: the image's files are as copied, HOME and TMPDIR untouched, the state on the volume.
  assert.deepEqual(listing(join(root, 'opt')), before);
  assert.deepEqual(readdirSync(home), []);
  assert.deepEqual(readdirSync(tmpdir), []);
  assert.ok(existsSync(join(volume, '.graylane/state.db')), 'the SQLite state is on the volume');
});
