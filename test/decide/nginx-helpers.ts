/**
 * Debian's nginx running `graylane export nginx` output unedited, for the decide-mode end-to-end
 * tests (nginx.test.ts: the plain auth_request output; nginx-lua.test.ts: the Lua tier). nginx runs
 * with its own -p prefix and the minimal main config the shared bench harness uses, never the
 * system config. Every port comes from the OS, every wait is bounded.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { bucketOf, threshold } from '../../src/routing/index.js';
import { runCli } from '../rollout/helpers.js';
import { sleep, until } from '../support/wait.js';

/** Debian's libnginx-mod-http-lua, as its modules-enabled files load it (main context, before events {}). */
export const LUA_MODULES = ['load_module /usr/lib/nginx/modules/ndk_http_module.so;', 'load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;'];

/** A free TCP port: bound on port 0, then released for nginx or graylane to take. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export interface Nginx {
  port: number;
  exported: string;
  /** nginx's error log so far. */
  errors(): string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** Extra `graylane export nginx` arguments (`--lua`, `--report-token-file F`). */
  exportArgs?: string[];
  /** Load Debian's Lua module in the main config. */
  lua?: boolean;
  /** worker_processes (default 1). */
  workers?: number;
}

/**
 * Exports the nginx config for `configFile` with the real CLI, checks it with `nginx -t`, and
 * starts nginx on it. The main config around it is what ../shared/bench/conf does: pid, error log
 * and temp paths under the -p prefix, the exported file included in http {}.
 */
export async function startNginx(dir: string, configFile: string, opts: NginxOptions = {}): Promise<Nginx> {
  const port = await freePort();
  const out = `${dir}/graylane.conf`;
  const exported = await runCli(['export', 'nginx', '-c', configFile, '--listen', `127.0.0.1:${port}`, '--cache-dir', `${dir}/cache`, ...(opts.exportArgs ?? []), '-o', out]);
  assert.equal(exported.code, 0, exported.stderr);
  mkdirSync(`${dir}/tmp`, { recursive: true });
  // nginx's workers run as nobody when it is started as root: they must reach the cache and temp dirs.
  chmodSync(dir, 0o755);
  const main = `${dir}/nginx.conf`;
  const errorLog = `${dir}/error.log`;
  writeFileSync(
    main,
    [
      ...(opts.lua ? LUA_MODULES : []),
      `worker_processes ${opts.workers ?? 1};`,
      `pid ${dir}/nginx.pid;`,
      'daemon off;',
      `error_log ${errorLog} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      `    client_body_temp_path ${dir}/tmp/body;`,
      `    proxy_temp_path ${dir}/tmp/proxy;`,
      `    fastcgi_temp_path ${dir}/tmp/fastcgi;`,
      `    uwsgi_temp_path ${dir}/tmp/uwsgi;`,
      `    scgi_temp_path ${dir}/tmp/scgi;`,
      '    access_log off;',
      `    include ${out};`,
      '}',
      '',
    ].join('\n'),
  );
  const check = spawnSync('nginx', ['-t', '-p', `${dir}/`, '-c', main, '-e', errorLog], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(check.status, 0, `nginx -t refused the exported config:\n${check.stderr}\n${readFileSync(out, 'utf8')}`);
  assert.match(check.stderr, /test is successful/);
  const child: ChildProcess = spawn('nginx', ['-p', `${dir}/`, '-c', main, '-e', errorLog], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    await until(`nginx to listen on ${port} (${stderr})`, () => connects(port), 10_000);
  } catch (err) {
    // Not listening in time: stop it here, or it outlives the test run holding its port and dir.
    await stop();
    throw err;
  }
  return { port, exported: readFileSync(out, 'utf8'), errors: () => readFileSync(errorLog, 'utf8'), stop };
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** One keep-alive client for every request through nginx; close it after the tests. */
export const client = new Agent({ connections: 8, keepAliveTimeout: 10_000 });

/** One request through nginx; the version the upstream that answered names (or the status when not 200). */
export async function via(nginx: Nginx, path: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(`http://127.0.0.1:${nginx.port}${path}`, { dispatcher: client, headers: { host: 'shop.example.com', ...headers } });
  const text = await res.body.text();
  if (res.statusCode !== 200) return `status ${res.statusCode}`;
  return (JSON.parse(text) as { version: string }).version;
}

/** `items` mapped with at most `n` in flight. */
export async function pool<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

// Its 3,000 users' buckets put 20% ± 1 point in beta (another salt's sample of 3,000 may land 1.4
// standard deviations off; the bucket check is exact anyway).
const SALT = 'e2e-nginx';

/** The routes both end-to-end tests run: `app` (an app-version rule, never cached) and `shop` (users list, then 20%, sticky). */
export const SHOP_ROUTES = `  - name: app
    match: { host: shop.example.com, pathPrefix: /app/ }
    service: web
    identity: [header:x-user-id]
    rules:
      - { name: new-app, lane: beta, appVersion: { header: x-app-version, range: ">=2.3.0" } }
  - name: shop
    match: { host: shop.example.com, pathPrefix: / }
    service: web
    identity: [header:x-user-id]
    salt: ${SALT}
    stickySplit: true
    rules:
      - { name: vip, lane: beta, users: ["vip-1"] }
      - { name: twenty, lane: beta, percent: 20 }`;

/** A rollout of web to beta paused at weight 0, so a test can set-weight it. */
export const WEB_V2_ROLLOUT = `rollouts:
  - name: web-v2
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 0
          - pause: {}`;

/**
 * 3,000 users, each sent twice through nginx on SHOP_ROUTES: 20% in beta within 1 point, each user
 * in the same lane both times, and in the lane graylane's own bucket puts it (the upstream that
 * answered says which); `served()` (the upstreams' request count, 0 before) is then exactly 6,000.
 * The users and the lanes of the first pass, for the checks that follow.
 */
export async function assertStickyTwentyPercent(nginx: Nginx, served: () => number): Promise<{ users: string[]; first: string[] }> {
  const users = Array.from({ length: 3000 }, (_, i) => `user-${i}`);
  const first = await pool(users, 8, (u) => via(nginx, '/cart', { 'x-user-id': u }));
  const second = await pool(users, 8, (u) => via(nginx, '/cart', { 'x-user-id': u }));
  const inBeta = first.filter((v) => v === 'beta').length;
  assert.ok(Math.abs(inBeta / users.length - 0.2) <= 0.01, `${inBeta} of 3000 users in beta, not 20% ± 1 point; first answers ${first.slice(0, 5).join(', ')}`);
  const changed = users.filter((_, i) => first[i] !== second[i]);
  assert.deepEqual(changed, [], 'users changed lanes between the passes');
  const t20 = threshold(20);
  const wrong = users.filter((u, i) => first[i] !== (bucketOf(SALT, u) < t20 ? 'beta' : 'stable'));
  assert.deepEqual(wrong.slice(0, 5), [], 'lanes other than the bucket says');
  assert.equal(served(), 6000, 'every request reached an upstream once');
  return { users, first };
}
