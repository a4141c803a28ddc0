/**
 * `node dist/bench/h2.js`: HTTP/2 and gRPC figures (issue 15, docs/benchmarks.md), one short run.
 *
 * 1. h2load (nghttp2-client) against the direct origin (nginx, h2c), nginx as a proxy (`http2`, h2c
 *    and h2 over TLS) and graylane (h2c and h2 over TLS), all in front of the same nginx origin
 *    (HTTP/1.1 keep-alive upstream for both proxies); requests per second, one round each, in turn.
 * 2. gRPC unary calls per second, grpc-js client -> graylane (h2c listener, h2c:// endpoint) ->
 *    grpc-js greeter, against the client calling the greeter directly. Client and greeter share
 *    this process: the ratio is the figure, not the absolute rate.
 *
 * Each graylane row also gives graylane's CPU time per request (user + system, from /proc), which
 * varies far less than req/s on a shared machine.
 *
 * Knobs: REQUESTS (20000: h2load -n), BENCH_SECONDS (3: gRPC), CONNS (8), STREAMS (10: h2load -m), GRPC_CONCURRENCY (32),
 * ONLY (a substring: only the h2load rows whose name has it, and gRPC only if it matches "grpc"),
 * GRAYLANE_NODE_ARGS (extra node flags for graylane, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`),
 * GRAYLANE_CLI (another build's dist/src/cli/main.js, to measure it in the same setup).
 * Needs nginx, h2load, openssl. A TLS certificate for localhost is made at run time in a temp dir.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNS = Number(process.env.CONNS ?? 8);
const STREAMS = Number(process.env.STREAMS ?? 10);
const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const GRPC_CONCURRENCY = Number(process.env.GRPC_CONCURRENCY ?? 32);
const ONLY = process.env.ONLY ?? '';
const NODE_ARGS = (process.env.GRAYLANE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = process.env.GRAYLANE_CLI ?? join(ROOT, 'dist/src/cli/main.js');
const PORTS = { origin: 19411, originH2c: 19412, nginxH2c: 19413, nginxTls: 19414, graylaneH2c: 19415, graylaneTls: 19416, greeter: 19417, admin: 19418 };

const dir = mkdtempSync(join(tmpdir(), 'graylane-bench-h2-'));
const children: ChildProcess[] = [];

// Stopped from outside (timeout, Ctrl-C): stop nginx and graylane too, or they keep their ports.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  });
}

function certificate(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
}

function nginxConfig(): string {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;  # nginx ends an HTTP/2 connection after 1000 requests by default; h2load does not reconnect
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream origin { server 127.0.0.1:${PORTS.origin}; keepalive 64; }
  server { listen 127.0.0.1:${PORTS.origin}; listen 127.0.0.1:${PORTS.originH2c} http2; location / { return 200 "ok"; } }
  server {
    listen 127.0.0.1:${PORTS.nginxH2c} http2;
    listen 127.0.0.1:${PORTS.nginxTls} ssl http2;
    ssl_certificate ${dir}/tls.crt; ssl_certificate_key ${dir}/tls.key;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`;
}

function graylaneConfig(): string {
  return `listen:
  - { address: 127.0.0.1:${PORTS.graylaneH2c}, h2c: true }
  - address: 127.0.0.1:${PORTS.graylaneTls}
    tls: { certificates: [{ cert: ${dir}/tls.crt, key: ${dir}/tls.key }] }
    http2: true
accessLog: false
admin: { listen: 127.0.0.1:${PORTS.admin} }
services:
  web: { versions: { stable: [http://127.0.0.1:${PORTS.origin}] } }
  greeter: { versions: { stable: [h2c://127.0.0.1:${PORTS.greeter}] } }
routes:
  - { name: grpc, match: { pathPrefix: /bench.Greeter/ }, service: greeter }
  - { name: web, match: {}, service: web }
`;
}

function start(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

/** CPU seconds `pid` has used so far in user and system (kernel) mode, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number | undefined): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return { user: NaN, system: NaN };
  }
}

/** Runs `work` and appends `pid`'s CPU time per request (`count()` requests) to its answer. */
async function withCpu(pid: number | undefined, work: () => string | Promise<string>, count: () => number): Promise<string> {
  const before = cpuSeconds(pid);
  const out = await work();
  const after = cpuSeconds(pid);
  const perRequest = (s: number): number => Math.round((s * 1e6) / Math.max(1, count()));
  const user = perRequest(after.user - before.user);
  const system = perRequest(after.system - before.system);
  return Number.isNaN(user) ? out : `${out}, graylane CPU ${user + system} µs/req (user ${user}, system ${system})`;
}

/** h2load's requests per second, or the error it printed. */
function h2load(url: string): string {
  const r = spawnSync('h2load', ['-n', String(REQUESTS), '-c', String(CONNS), '-m', String(STREAMS), '-t', '1', url], { encoding: 'utf8', timeout: (SECONDS + 30) * 1000 });
  const rps = /finished in [^,]+, ([\d.]+) req\/s/.exec(r.stdout)?.[1];
  const status = /requests: .*/.exec(r.stdout)?.[0] ?? '';
  return rps === undefined ? `failed: ${r.stdout.slice(-300)}${r.stderr}` : `${Math.round(Number(rps)).toLocaleString('en')} req/s (${status})`;
}

/** Resolves once something accepts connections on `port` (graylane starts slowly on a loaded machine); throws after `ms`. */
async function listening(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(true)).once('error', () => resolve(false));
      socket.once('connect', () => socket.destroy());
    });
    if (up) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on port ${port} after ${ms} ms`);
}

const identity = (b: Buffer): Buffer => b;

async function greeter(): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(
    { Hello: { path: '/bench.Greeter/Hello', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    { Hello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) } as unknown as grpc.UntypedServiceImplementation,
  );
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${PORTS.greeter}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return server;
}

/** Calls counted by the last grpcRate (for CPU per call; the warm-up second is not counted). */
let lastCalls = 0;

/** Unary calls per second on `target`, GRPC_CONCURRENCY calls in flight, for SECONDS (after 1 s of warm-up). */
async function grpcRate(target: string): Promise<string> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const body = Buffer.from('hello');
  let done = 0;
  let failed = 0;
  let counting = false;
  let end = Date.now() + 1000 + SECONDS * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) =>
      client.makeUnaryRequest('/bench.Greeter/Hello', identity, identity, body, (err) => {
        if (counting) err ? failed++ : done++;
        resolve();
      }),
    );
  const loop = async (): Promise<void> => {
    while (Date.now() < end) await one();
  };
  setTimeout(() => {
    counting = true;
    end = Date.now() + SECONDS * 1000;
  }, 1000);
  await Promise.all(Array.from({ length: GRPC_CONCURRENCY }, loop));
  client.close();
  lastCalls = done + failed;
  return `${Math.round(done / SECONDS).toLocaleString('en')} calls/s${failed ? ` (${failed} failed)` : ''}`;
}

try {
  certificate();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig());
  writeFileSync(join(dir, 'graylane.yaml'), graylaneConfig());
  start('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir]);
  const graylane = start(process.execPath, [...NODE_ARGS, CLI, 'serve', '-c', join(dir, 'graylane.yaml'), '--no-access-log']);
  const server = await greeter();
  await listening(PORTS.graylaneTls, 15_000);
  console.log(`h2load -n ${REQUESTS} -c ${CONNS} -m ${STREAMS} -t 1, one round each, in this order (load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}):`);
  for (const [name, url] of [
    ['origin (nginx, h2c, direct)', `http://127.0.0.1:${PORTS.originH2c}/`],
    ['nginx proxy, h2c', `http://127.0.0.1:${PORTS.nginxH2c}/`],
    ['graylane, h2c', `http://127.0.0.1:${PORTS.graylaneH2c}/`],
    ['nginx proxy, h2 (TLS)', `https://127.0.0.1:${PORTS.nginxTls}/`],
    ['graylane, h2 (TLS)', `https://127.0.0.1:${PORTS.graylaneTls}/`],
  ] as const) {
    if (!name.includes(ONLY)) continue;
    const row = name.startsWith('graylane') ? await withCpu(graylane.pid, () => h2load(url), () => REQUESTS) : h2load(url);
    console.log(`  ${name.padEnd(30)} ${row}`);
  }
  if ('grpc'.includes(ONLY)) {
    console.log(`gRPC unary, ${GRPC_CONCURRENCY} in flight, ${SECONDS} s (client and greeter in this process):`);
    console.log(`  ${'direct'.padEnd(30)} ${await grpcRate(`127.0.0.1:${PORTS.greeter}`)}`);
    // CPU per call includes the warm-up second's calls in the CPU but not in the count: a slight overstatement.
    console.log(`  ${'through graylane (h2c)'.padEnd(30)} ${await withCpu(graylane.pid, () => grpcRate(`127.0.0.1:${PORTS.graylaneH2c}`), () => lastCalls)}`);
  }
  server.forceShutdown();
} finally {
  for (const c of children) c.kill('SIGTERM');
  // graylane drains, then exits (and writes its --cpu-prof profile): wait for that, bounded.
  await Promise.race([Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r))))), sleep(5000)]);
  rmSync(dir, { recursive: true, force: true });
}
