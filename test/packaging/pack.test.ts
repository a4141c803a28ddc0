/**
 * `npm pack` of both packages, installed as a user would (issue #18):
 * - @graylane/lanes: the tarball installs into an empty directory, offline, pulling no dependency,
 *   and works from ES modules and from CommonJS as ONE module instance (require(esm), Node >=
 *   20.19): a lane set through `require` is the lane `import` sees, and both give the same
 *   namespace object. Its types check from .mts and .cts consumers.
 * - graylane: the tarball's contents with the lanes tarball as the workspace, `npm ci --omit=dev`
 *   from the lock file and the local npm cache (offline); its bin validates and serves a request,
 *   and `graylane` imports from ESM and CJS. `--ignore-scripts` skips one install script,
 *   better-sqlite3's native build (a minute of C compiling); the addon the checkout built for this
 *   same Node and module version is copied in instead. The Dockerfile test builds it for real.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, type TempDir } from '../support/temp.js';
import { minimalConfig, startServe, startUpstream } from './serve-child.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const NPM = 'npm';
const QUIET = ['--no-audit', '--no-fund', '--loglevel=error'];

let tmp: TempDir;
let lanesTgz: string;
let gatewayTgz: string;
let lanesFiles: string[];
let gatewayFiles: string[];

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/** `npm pack` of the package in `dir` (already built: the test runs after the build). */
function pack(dir: string): PackResult {
  const out = execFileSync(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.path, ...QUIET], { cwd: dir, encoding: 'utf8' });
  return (JSON.parse(out) as PackResult[])[0]!;
}

function node(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 30_000 });
}

before(() => tempDir().then((t) => {
  tmp = t;
  const lanes = pack(join(REPO, 'packages/lanes'));
  lanesTgz = join(tmp.path, lanes.filename);
  lanesFiles = lanes.files.map((f) => f.path);
  const gateway = pack(REPO);
  gatewayTgz = join(tmp.path, gateway.filename);
  gatewayFiles = gateway.files.map((f) => f.path);
}));
after(() => tmp?.remove());

test('the lanes tarball holds the compiled SDK and its README, no tests; the gateway tarball no SDK copy', () => {
  assert.ok(lanesFiles.includes('dist/src/index.js') && lanesFiles.includes('dist/src/index.d.ts'), lanesFiles.join(' '));
  assert.ok(lanesFiles.includes('README.md'));
  for (const f of lanesFiles) assert.match(f, /^(dist\/src\/[\w.-]+\.(js|d\.ts|js\.map|d\.ts\.map)|README\.md|package\.json)$/);
  assert.ok(!lanesFiles.some((f) => f.includes('.test.')), 'no test files');
  assert.ok(gatewayFiles.includes('dist/src/cli/main.js') && gatewayFiles.includes('dist/src/index.js'));
  assert.ok(!gatewayFiles.some((f) => f.startsWith('dist/src/lanes/') || f.startsWith('packages/') || f.startsWith('dist/test/')), 'the gateway ships no copy of the SDK, no tests');
});

test('@graylane/lanes installs offline into an empty directory with no dependency, one instance from ESM and CJS', async () => {
  const app = join(tmp.path, 'lanes-app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  execFileSync(NPM, ['install', '--offline', lanesTgz, ...QUIET], { cwd: app });
  assert.deepEqual(readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.')), ['@graylane'], 'nothing but the SDK');

  // ESM first, then require() of the same package in the same process.
  writeFileSync(
    join(app, 'esm.mjs'),
    `import * as lanes from '@graylane/lanes';
import { createRequire } from 'node:module';
const required = createRequire(import.meta.url)('@graylane/lanes');
const seen = required.runWithLane('beta', () => lanes.currentLane());
console.log(JSON.stringify({ same: required === lanes, sameFn: required.currentLane === lanes.currentLane, seen }));`,
  );
  // CommonJS first, then import() of it; then the SDK at work: a request in lane beta makes an
  // outbound fetch that carries the lane to the next service.
  writeFileSync(
    join(app, 'cjs.cjs'),
    `const lanes = require('@graylane/lanes');
const http = require('node:http');
(async () => {
  const imported = await import('@graylane/lanes');
  const next = http.createServer((req, res) => res.end(String(req.headers['x-gray-lane']) + ' ' + String(req.headers.baggage)));
  await new Promise((r) => next.listen(0, '127.0.0.1', r));
  lanes.installLanePropagation();
  const svc = http.createServer(lanes.withLanes(async (req, res) => {
    const r = await fetch('http://127.0.0.1:' + next.address().port + '/');
    res.end(imported.currentLane() + ' -> ' + (await r.text()));
  }));
  await new Promise((r) => svc.listen(0, '127.0.0.1', r));
  const answer = await (await fetch('http://127.0.0.1:' + svc.address().port + '/', { headers: { 'x-gray-lane': 'beta' } })).text();
  console.log(JSON.stringify({ same: imported === lanes, answer }));
  svc.close(); next.close();
})();`,
  );
  const esm = node(['esm.mjs'], app);
  assert.equal(esm.status, 0, esm.stderr);
  assert.deepEqual(JSON.parse(esm.stdout), { same: true, sameFn: true, seen: 'beta' });
  assert.equal(esm.stderr, '', 'no warning (an ExperimentalWarning would mean require(esm) is not settled on this Node)');
  const cjs = node(['cjs.cjs'], app);
  assert.equal(cjs.status, 0, cjs.stderr);
  assert.deepEqual(JSON.parse(cjs.stdout), { same: true, answer: 'beta -> beta graylane-lane=beta' });
  assert.equal(cjs.stderr, '');
});

test('@graylane/lanes types check from an ES module and from a CommonJS consumer', () => {
  const app = join(tmp.path, 'lanes-app');
  writeFileSync(join(app, 'a.mts'), `import { currentLane, runWithLane } from '@graylane/lanes';\nconst l: string | undefined = runWithLane('beta', () => currentLane());\nexport { l };\n`);
  writeFileSync(join(app, 'b.cts'), `import lanes = require('@graylane/lanes');\nconst l: string | undefined = lanes.runWithLane('beta', () => lanes.currentLane());\nexport = l;\n`);
  // And a misuse, so the check is not vacuous: c.mts, and only c.mts, must fail.
  writeFileSync(join(app, 'c.mts'), `import { currentLane } from '@graylane/lanes';\nconst n: number = currentLane();\n`);
  const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
  const r = node([tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--typeRoots', join(REPO, 'node_modules/@types'), '--types', 'node', '--skipLibCheck', 'a.mts', 'b.cts', 'c.mts'], app);
  const errors = r.stdout.split('\n').filter((l) => /error TS/.test(l));
  assert.equal(errors.length, 1, r.stdout + r.stderr);
  assert.match(errors[0]!, /^c\.mts.*Type 'string \| undefined' is not assignable to type 'number'/);
});

test('graylane: npm ci --omit=dev of the packed contents serves through its bin and imports from ESM and CJS', async () => {
  // The tarball's contents as a checkout would have them: the package, the lock file, the SDK workspace.
  const tree = join(tmp.path, 'graylane');
  mkdirSync(join(tree, 'packages/lanes'), { recursive: true });
  execFileSync('tar', ['xzf', gatewayTgz, '-C', tree, '--strip-components=1']);
  execFileSync('tar', ['xzf', lanesTgz, '-C', join(tree, 'packages/lanes'), '--strip-components=1']);
  cpSync(join(REPO, 'package-lock.json'), join(tree, 'package-lock.json'));
  execFileSync(NPM, ['ci', '--omit=dev', '--offline', '--ignore-scripts', ...QUIET], { cwd: tree });
  assert.ok(!existsSync(join(tree, 'node_modules/typescript')), 'no dev dependency installed');
  copyNativeAddon(tree);

  const bin = join(tree, JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8')).bin.graylane as string);
  const version = node([bin, '--version'], tree);
  assert.equal(version.stdout.trim(), '0.1.0', version.stderr);
  const validate = node([bin, 'validate', join(tree, 'examples/quickstart.yaml')], tree);
  assert.equal(validate.status, 0, validate.stderr);

  // A consumer with graylane installed (as `npm install <dir>` links it).
  const app = join(tmp.path, 'gateway-app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(tree, join(app, 'node_modules/graylane'));
  writeFileSync(
    join(app, 'both.cjs'),
    `const g = require('graylane');
const lanesFromGateway = require(require.resolve('@graylane/lanes', { paths: [require.resolve('graylane')] }));
import('graylane').then(async (ns) => {
  const lanesImported = await import(require.resolve('@graylane/lanes', { paths: [require.resolve('graylane')] }));
  console.log(JSON.stringify({ same: ns === g, startApp: typeof g.startApp, parse: typeof g.parseSpec, lanesSame: lanesImported === lanesFromGateway }));
});`,
  );
  const both = node(['both.cjs'], app);
  assert.equal(both.status, 0, both.stderr);
  assert.deepEqual(JSON.parse(both.stdout), { same: true, startApp: 'function', parse: 'function', lanesSame: true });

  const up = await startUpstream();
  writeFileSync(join(tmp.path, 'gw.yaml'), minimalConfig(up.url));
  const serve = await startServe(process.execPath, [bin], ['-c', join(tmp.path, 'gw.yaml'), '--state', join(tmp.path, 'state.db')], { cwd: tmp.path });
  try {
    const res = await fetch(`${serve.gateway}/from-the-tarball`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello from stable /from-the-tarball');
  } finally {
    assert.equal(await serve.stop(), 0, serve.stderr());
    await up.close();
  }
  assert.ok(existsSync(join(tmp.path, 'state.db')), 'the state file (better-sqlite3) was written');
});

/** better-sqlite3's compiled addon from the checkout, after checking both trees hold the same version. */
function copyNativeAddon(tree: string): void {
  const version = (root: string) => (JSON.parse(readFileSync(join(root, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string }).version;
  assert.equal(version(tree), version(REPO));
  cpSync(join(REPO, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'), join(tree, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'));
}
