// Runs the full-link gray example end to end and prints the path each request took:
//
//   npm run build && npm run example:full-link
//
// Starts `graylane serve` on graylane.yaml (entry 127.0.0.1:18480, mesh 127.0.0.1:18481 speaking
// h2c, admin 127.0.0.1:18489), then five instances that register themselves: a-stable, a-gray and
// b-stable (HTTP, service.mjs), c-stable and c-gray (gRPC, grpc-service.mjs). a calls b with fetch
// (HTTP/1.1), b calls c over gRPC (HTTP/2), both through the one mesh port. Sends requests as users 1001 (a tester: lane gray) and
// 42, then stops c-gray (it deregisters) and sends them again. Everything is stopped at the end.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const cli = here('../../dist/src/cli/main.js');
const ENTRY = 'http://127.0.0.1:18480';
const MESH = '127.0.0.1:18481';
const ADMIN = 'http://127.0.0.1:18489';
const token = randomBytes(16).toString('hex');
const children = new Set();

if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(1);
}

/** Starts a child process; resolves with it once a stdout line matches `readyLine`. */
function start(name, args, env, readyLine) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 10 s\n${stderr}`)), 10_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (readyLine.test(line)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`${name} exited (${code})\n${stderr}`)));
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Starts instance `name` (`<service>-<version>`) of `script`; `next` is how it calls the next service. */
const service = (name, script, next) => {
  const [svc, version] = name.split('-');
  return start(name, [here(script)], {
    NAME: name,
    SERVICE: svc,
    VERSION: version,
    NEXT: next ?? '',
    GRAYLANE_ADMIN: ADMIN,
    GRAYLANE_TOKEN: token,
  }, /^ready /);
};

/** One request through the entry as `user`; prints the lane and the instances that served it. */
async function send(user) {
  const answer = await (await fetch(`${ENTRY}/`, { headers: { 'x-user-id': user } })).json();
  let path = '';
  for (let hop = answer; hop !== null; hop = hop.next) {
    const arrow = hop === answer ? '' : hop.via === 'gRPC' ? ' -gRPC-> ' : ' -> ';
    const failed = hop.grpcStatus === undefined ? `HTTP ${hop.status}` : `gRPC status ${hop.grpcStatus}`;
    path += arrow + (hop.name ?? failed);
  }
  console.log(`${answer.lane} user ${user}: ${path}`);
}

const state = mkdtempSync(join(tmpdir(), 'graylane-full-link-'));
try {
  // The gateway logs to stderr; its JSON access log is off in graylane.yaml. Ready once the admin API answers.
  const gateway = spawn(process.execPath, [cli, 'serve', '--config', here('./graylane.yaml'), '--state', join(state, 'state.db')], {
    env: { ...process.env, GRAYLANE_ADMIN_TOKEN: token },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(gateway);
  let gatewayLog = '';
  gateway.stderr.on('data', (d) => (gatewayLog += d));
  for (let i = 0; ; i++) {
    if (gateway.exitCode !== null) throw new Error(`graylane serve exited:\n${gatewayLog}`);
    if (await fetch(`${ADMIN}/api/v1/instances`).then((r) => r.ok, () => false)) break;
    if (i === 100) throw new Error(`graylane serve did not start in 10 s:\n${gatewayLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const [, , , , cGray] = await Promise.all([
    service('a-stable', './service.mjs', `http://${MESH}/b/hop`), // plain fetch: the h2c mesh serves HTTP/1.1 too
    service('a-gray', './service.mjs', `http://${MESH}/b/hop`),
    service('b-stable', './service.mjs', `grpc://${MESH}/c`), // a gRPC call naming service c
    service('c-stable', './grpc-service.mjs'),
    service('c-gray', './grpc-service.mjs'),
  ]);
  console.log('five instances registered (a, b: HTTP; c: gRPC); requests through the entry gateway:');
  await send('1001');
  await send('42');
  await send('1002');

  await stop(cGray);
  console.log('\nc-gray stopped (it deregistered): gray gRPC calls fall back to c-stable');
  await send('1001');
  await send('42');
} finally {
  await Promise.all([...children].map(stop));
  rmSync(state, { recursive: true, force: true });
}
