// Runs the Zadig blue-green flow of graylane.yaml end to end and prints what happens:
//
//   npm run build && npm run example:blue-green
//
// Starts `graylane serve` on graylane.yaml (gateway 127.0.0.1:18180, admin 127.0.0.1:19190; the
// rollout is `paused: true`), deploys production v1 by hand, then with the real CLI: resumes the
// rollout (preRollout deploys blue v2), counts 100 requests (50/50), approves with `rollout promote`
// (postPromotion upgrades production to v2 in place, cleanup tears blue down), counts 100 requests
// again. Everything is stopped at the end; the run directory (state, pids, logs) is removed.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '../../dist/src/cli/main.js');
const GATEWAY = 'http://127.0.0.1:18180';
const ADMIN = 'http://127.0.0.1:19190';
const runDir = mkdtempSync(join(tmpdir(), 'graylane-blue-green-'));
const env = { ...process.env, GRAYLANE_ADMIN: ADMIN, GRAYLANE_ADMIN_TOKEN: randomBytes(16).toString('hex'), BG_RUN_DIR: runDir };

if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(1);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const graylane = (...args) => {
  const r = spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`graylane ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
};
const hooks = (...args) => {
  const r = spawnSync(process.execPath, ['hooks.mjs', ...args], { cwd: here, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hooks.mjs ${args.join(' ')}: ${r.stderr}`);
  process.stdout.write(r.stdout);
};
async function count(n) {
  const seen = {};
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${GATEWAY}/`);
    await res.arrayBuffer();
    const key = res.ok ? `${res.headers.get('x-version')} ${res.headers.get('x-release')}` : `status ${res.status}`;
    seen[key] = (seen[key] ?? 0) + 1;
  }
  return Object.entries(seen).map(([k, v]) => `${k}: ${v}`).join(', ');
}
async function waitFor(what, cond) {
  for (let i = 0; i < 300; i++) {
    const view = JSON.parse(graylane('rollout', 'get', 'shop-blue', '--json'));
    if (cond(view)) return view;
    await sleep(200);
  }
  throw new Error(`shop-blue did not reach ${what} in 60 s`);
}

const serve = spawn(process.execPath, [cli, 'serve', '-c', 'graylane.yaml', '--state', join(runDir, 'state.db'), '--no-access-log'], {
  cwd: here,
  env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
try {
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('graylane serve did not start in 15 s')), 15_000);
    createInterface({ input: serve.stderr }).on('line', (line) => {
      if (line.includes('admin API listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    serve.once('exit', (code) => reject(new Error(`graylane serve exited (${code}): are ports 18180 and 19190 free?`)));
  });
  console.log('$ node hooks.mjs deploy stable v1      # production, by hand');
  hooks('deploy', 'stable', 'v1');
  console.log(`100 requests: ${await count(100)}\n`);
  console.log('$ graylane rollout get shop-blue       # added with paused: true');
  console.log(graylane('rollout', 'get', 'shop-blue').split('\n').slice(0, 8).join('\n'));
  console.log('\n$ graylane rollout resume shop-blue    # preRollout deploys blue v2');
  graylane('rollout', 'resume', 'shop-blue');
  await waitFor('the preview', (v) => v.reason === 'AwaitingPromotion');
  console.log(`100 requests: ${await count(100)}\n`);
  console.log('$ graylane rollout promote shop-blue   # approval: postPromotion upgrades production, cleanup tears blue down');
  graylane('rollout', 'promote', 'shop-blue');
  await waitFor('completion and cleanup', (v) => v.phase === 'Healthy' && v.hooks.cleanup?.state === 'finished');
  console.log(`100 requests: ${await count(100)}\n`);
  console.log('hooks run (hooks.log):');
  console.log(readFileSync(join(runDir, 'hooks.log'), 'utf8'));
} finally {
  serve.kill('SIGTERM');
  const pids = existsSync(join(runDir, 'pids')) ? readFileSync(join(runDir, 'pids'), 'utf8').trim().split('\n').map(Number) : [];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already stopped by a hook
    }
  }
  await sleep(200);
  rmSync(runDir, { recursive: true, force: true });
}
