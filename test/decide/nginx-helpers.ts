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
  await until(`nginx to listen on ${port} (${stderr})`, () => connects(port), 10_000);
  return {
    port,
    exported: readFileSync(out, 'utf8'),
    errors: () => readFileSync(errorLog, 'utf8'),
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
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
