// Runs the release example end to end and prints, at each step, which version answered each hop:
//
//   npm run build && npm run example:release
//
// Starts `graylane serve` on graylane.yaml (every listener on a port the OS picks, read from its
// log), then six instances of ../full-link/service.mjs that register themselves: frontend, cart
// and payment, each as stable and gray, calling the next service through the mesh listener. The
// release `checkout-demo` starts at once (step 1: 20% of users in lane gray) and this script walks
// it with the real CLI: `graylane release get`, `promote` (50%), `promote` (past the last step:
// every gray becomes its service's stable in one commit), then `undo` (the previous stables back).
// Everything is stopped at the end, also on Ctrl-C or when a step takes too long (60 s in all).
// Exit 0 when every user walked the path the release's share says at every step.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const cli = here('../../dist/src/cli/main.js');
if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(1);
}

const RELEASE = 'checkout-demo';
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const SERVICES = ['frontend', 'cart', 'payment'];
const START_MS = 10_000; // per process
const TOTAL_MS = 60_000; // the whole run
const token = randomBytes(16).toString('hex');
const children = new Set();
const state = mkdtempSync(join(tmpdir(), 'graylane-release-'));

/** Starts a child process; resolves with it and the first `stream` line matching `ready`. */
function start(name, args, env, stream, ready) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const output = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in ${START_MS / 1000} s:\n${output.join('\n')}`)), START_MS);
    for (const s of ['stdout', 'stderr']) {
      createInterface({ input: child[s] }).on('line', (line) => {
        output.push(line);
        if (s === stream && ready.test(line)) {
          clearTimeout(timer);
          resolve({ child, line });
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}):\n${output.join('\n')}`));
    });
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Starts `graylane serve`; resolves with the entry, mesh and admin URLs it logged. */
async function serve() {
  const args = [cli, 'serve', '--config', here('./graylane.yaml'), '--state', join(state, 'state.db')];
  const env = { GRAYLANE_ADMIN_TOKEN: token };
  const logged = (msg) => new RegExp(`"msg":"${msg}`);
  // The three lines come in this order (src/cli/serve.ts); wait for the last, keep the others.
  const lines = [];
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`graylane serve did not start in ${START_MS / 1000} s:\n${lines.join('\n')}`)), START_MS);
    createInterface({ input: child.stderr }).on('line', (line) => {
      lines.push(line);
      if (logged('admin API listening').test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`graylane serve exited (${code}):\n${lines.join('\n')}`));
    });
  });
  const field = (msg, key) => JSON.parse(lines.find((l) => logged(msg).test(l)))[key];
  return {
    entry: `http://${field('gateway listening', 'listen')}`,
    mesh: `http://${field('mesh listening', 'listen')}`,
    admin: field('admin API listening', 'admin'),
  };
}

/** Runs the real CLI against this gateway's admin API; prints the command and its output. */
function graylane(admin, ...args) {
  console.log(`\n$ graylane ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const env = { ...process.env, GRAYLANE_ADMIN: admin, GRAYLANE_ADMIN_TOKEN: token };
    execFile(process.execPath, [cli, ...args], { env, timeout: START_MS }, (err, stdout, stderr) => {
      process.stdout.write(stdout.replace(/^/gm, '  ').trimEnd() + '\n');
      if (err) reject(new Error(`graylane ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

async function release(admin) {
  const r = await fetch(`${admin}/api/v1/releases/${RELEASE}`);
  if (!r.ok) throw new Error(`GET /api/v1/releases/${RELEASE}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** Polls the release until `cond` holds (bounded: 100 polls, 10 s). */
async function waitFor(admin, what, cond) {
  let last;
  for (let i = 0; i < 100; i++) {
    last = await release(admin);
    if (cond(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`release ${RELEASE}: not ${what} in 10 s (last: ${last?.phase}/${last?.reason}: ${last?.message})`);
}

/** The instances that answered one request as `user`, entry first. */
async function pathOf(entry, user) {
  const answer = await (await fetch(`${entry}/`, { headers: { 'x-user-id': user } })).json();
  const path = [];
  for (let hop = answer; hop !== null; hop = hop.next) path.push(hop.name ?? `HTTP ${hop.status}`);
  return { lane: answer.lane ?? 'stable', path };
}

/**
 * Sends one request per user and prints the version that answered each hop. `expectGray(user)`
 * says which users the release should have in lane gray at this step; any other path (a mixed
 * chain, a hop that failed) fails the run.
 */
async function showUsers(entry, title, expected) {
  console.log(`\n${title}`);
  for (const user of USERS) {
    const { lane, path } = await pathOf(entry, user);
    const want = SERVICES.map((s) => `${s}-${expected(user)}`);
    const ok = path.join() === want.join();
    console.log(`  ${user.padEnd(6)} lane ${lane.padEnd(6)} ${path.join(' -> ')}${ok ? '' : `   UNEXPECTED (want ${want.join(' -> ')})`}`);
    if (!ok) throw new Error(`${user}: answered by ${path.join(' -> ')}, expected ${want.join(' -> ')}`);
  }
}

let code = 1;
let stopping = null; // why the run is being stopped from outside (Ctrl-C, the time bound), if it is
/** Stops everything and exits with `exitCode`; the main flow's failures after this are expected. */
function stopRun(why, exitCode) {
  if (stopping !== null) return;
  stopping = why;
  console.error(`release example: ${why}, stopping`);
  void cleanup().then(() => process.exit(exitCode));
}
const deadline = setTimeout(() => stopRun(`not done in ${TOTAL_MS / 1000} s`, 1), TOTAL_MS);
process.once('SIGINT', () => stopRun('interrupted', 130));
process.once('SIGTERM', () => stopRun('terminated', 143));

async function cleanup() {
  await Promise.all([...children].map(stop));
  rmSync(state, { recursive: true, force: true });
}

try {
  const { entry, mesh, admin } = await serve();
  console.log(`graylane serve: entry ${entry}, mesh ${mesh}, admin ${admin}`);
  const next = { frontend: `${mesh}/cart/hop`, cart: `${mesh}/payment/hop`, payment: '' };
  await Promise.all(
    SERVICES.flatMap((service) =>
      ['stable', 'gray'].map((version) =>
        start(`${service}-${version}`, [here('../full-link/service.mjs')], {
          NAME: `${service}-${version}`,
          SERVICE: service,
          VERSION: version,
          NEXT: next[service],
          GRAYLANE_ADMIN: admin,
          GRAYLANE_TOKEN: token,
        }, 'stdout', /^ready /),
      ),
    ),
  );
  console.log(`six instances registered (${SERVICES.map((s) => `${s}-stable, ${s}-gray`).join(', ')})`);

  // The share is sticky: a user's bucket under the release's salt decides, at every gateway.
  const byShare = (percent) => (user) => (share.get(user) < percent ? 'gray' : 'stable');
  const share = new Map();
  for (const user of USERS) {
    const r = await fetch(`${admin}/api/v1/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${entry}/`, headers: { 'x-user-id': user } }),
    });
    const explained = await r.json();
    // The release's step of marking, with the user's bucket (0..9999) under the release's salt.
    const check = explained.checks?.find((c) => c.step === `release ${RELEASE}`)?.checks[0];
    if (check?.bucket === undefined) throw new Error(`explain for ${user} shows no release bucket: ${JSON.stringify(explained)}`);
    share.set(user, check.bucket / 100);
  }

  await waitFor(admin, 'paused at 20%', (v) => v.reason === 'AwaitingPromotion' && v.share === 20);
  await graylane(admin, 'release', 'get', RELEASE);
  await showUsers(entry, 'step 1: setWeight 20 (sticky 20% of users walk the gray chain, the rest stable):', byShare(20));

  await graylane(admin, 'release', 'promote', RELEASE);
  await waitFor(admin, 'paused at 50%', (v) => v.reason === 'AwaitingPromotion' && v.share === 50);
  await showUsers(entry, 'step 3: setWeight 50 (everyone who was in at 20% is still in):', byShare(50));

  await graylane(admin, 'release', 'promote', RELEASE);
  const done = await waitFor(admin, 'completed', (v) => v.phase === 'Healthy' && v.services.every((s) => s.state === 'promoted'));
  console.log(`  phase ${done.phase}: ${done.services.map((s) => `${s.name} ${s.state}`).join(', ')}`);
  await showUsers(entry, 'promoted: every service\'s gray version is now its stable, for every user:', () => 'gray');

  await graylane(admin, 'release', 'undo', RELEASE);
  await showUsers(entry, 'undone: the previous stables are back, for every user:', () => 'stable');
  await graylane(admin, 'release', 'list');
  console.log('\nrelease example: done');
  code = 0;
} catch (err) {
  if (stopping === null) console.error(`release example failed: ${err.message}`);
} finally {
  clearTimeout(deadline);
  await cleanup();
}
if (stopping === null) process.exit(code); // else stopRun exits with its own code
