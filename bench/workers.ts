/**
 * `node dist/bench/workers.js`: figures for `graylane serve --workers` (docs/benchmarks.md#workers).
 *
 * 1. Throughput and CPU per request, one process vs 2 workers with node:cluster's round-robin
 *    (SCHED_RR, through the primary) and shared accept queue (SCHED_NONE). wrk and the nginx
 *    origin are pinned to CPU 0; the one-process gateway to CPU 1; the workers once on CPU 1 too
 *    (the same core budget: the cost of the workers' machinery) and then unpinned (they are the
 *    point: more than one core). CPU µs/req is the user + system time of every graylane
 *    process (primary and workers) over the requests served. The spread of connections over
 *    workers is read from `ss` during the run, the spread of requests from the opt-in
 *    x-graylane-worker header (counted by wrk's Lua).
 * 2. Propagation: a reload accepted by the primary until every worker serves it, with the bench
 *    config without and with its 100k-user list (from the primary's log line).
 *
 * Knobs: BENCH_SECONDS (5), ROUNDS (2), CONNS (32), WARMUP (5 s), RELOADS (5), SKIP_THROUGHPUT=1.
 * Needs wrk, nginx, taskset and ss.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { benchConfig } from './config.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const CONNS = Number(process.env.CONNS ?? 32);
const RELOADS = Number(process.env.RELOADS ?? 5);
/** Seconds of load before the measured rounds: each worker's JIT warms on its share only. */
const WARMUP = Number(process.env.WARMUP ?? 5);
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const PORTS = { v1: 19301, v2: 19302, gateway: 18390, admin: 18392 };

interface Proc {
  proc: ChildProcess;
  log: string[];
}

function start(cmd: string, args: string[], env: Record<string, string> = {}, cpu?: number): Proc {
  if (cpu !== undefined) {
    args = ['-c', String(cpu), cmd, ...args];
    cmd = 'taskset';
  }
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const log: string[] = [];
  let buf = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      log.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  return { proc, log };
}

async function stop(p: Proc): Promise<void> {
  if (p.proc.exitCode !== null) return;
  const exited = new Promise((r) => p.proc.once('exit', r));
  process.kill(-p.proc.pid!, 'SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
}

async function waitReady(url: string, p: Proc): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (p.proc.exitCode !== null) throw new Error(`exited ${p.proc.exitCode}:\n${p.log.join('\n')}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready in 30 s`);
}

/** The pids of a process and its children (the workers). */
function family(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  return [pid, ...out];
}

function cpuSeconds(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      sum += (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      /* gone */
    }
  }
  return sum;
}

/** Established connections on the gateway port, by owning pid. */
function connectionsByPid(port: number): Map<number, number> {
  const out = spawnSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' }).stdout;
  const by = new Map<number, number>();
  for (const m of out.matchAll(/pid=(\d+)/g)) by.set(Number(m[1]), (by.get(Number(m[1])) ?? 0) + 1);
  return by;
}

const LUA = `
counts = {}
response = function(status, headers, body)
  local w = headers["x-graylane-worker"] or "?"
  counts[w] = (counts[w] or 0) + 1
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    if c then for k, v in pairs(c) do io.write("worker " .. k .. " " .. v .. "\\n") end end
  end
end
`;

interface Run {
  rps: number;
  requests: number;
  p99: number;
  byWorker: Record<string, number>;
  /** Established connections on the gateway port by owning process, sampled halfway through. */
  connections: number[];
}

/** wrk pinned to CPU 0 for `seconds`; the connections are sampled halfway. */
async function wrk(url: string, seconds: number, lua: string): Promise<Run> {
  const child = spawn('taskset', ['-c', '0', 'wrk', '-t1', `-c${CONNS}`, `-d${seconds}s`, '--latency', '-s', lua, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise((r) => child.once('exit', r));
  await sleep((seconds * 1000) / 2);
  const connections = [...connectionsByPid(PORTS.gateway).values()].sort((a, b) => b - a);
  await exited;
  const byWorker: Record<string, number> = {};
  for (const m of out.matchAll(/^worker (\S+) (\d+)$/gm)) byWorker[m[1]!] = Number(m[2]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    p99: p99 ? Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1) : NaN,
    byWorker,
    connections,
  };
}

async function throughput(tmp: string, cfg: string): Promise<void> {
  const lua = join(tmp, 'workers.lua');
  writeFileSync(lua, LUA);
  const modes: { name: string; args: string[]; env: Record<string, string>; cpu?: number }[] = [
    { name: 'one process (CPU 1)', args: [], env: {}, cpu: 1 },
    // The same core as the one process: what the workers' machinery itself costs per request.
    { name: '2 workers, SCHED_RR, all on CPU 1', args: ['--workers', '2'], env: { NODE_CLUSTER_SCHED_POLICY: 'rr' }, cpu: 1 },
    { name: '2 workers, SCHED_RR', args: ['--workers', '2'], env: { NODE_CLUSTER_SCHED_POLICY: 'rr' } },
    { name: '2 workers, SCHED_NONE', args: ['--workers', '2'], env: { NODE_CLUSTER_SCHED_POLICY: 'none' } },
  ];
  console.log(`\n## Throughput, ${ROUNDS} rounds of ${SECONDS} s, wrk -t1 -c${CONNS} and nginx on CPU 0\n`);
  console.log('| mode | req/s | p99 ms | CPU µs/req (all graylane processes) | requests by worker | connections by process |');
  console.log('|---|---|---|---|---|---|');
  for (const mode of modes) {
    const serve = start(process.execPath, [CLI, 'serve', '-c', cfg, '--listen', `127.0.0.1:${PORTS.gateway}`, '--admin-listen', `127.0.0.1:${PORTS.admin}`, '--state', join(tmp, 'state.db'), '--no-access-log', '--log-format', 'json', ...mode.args], mode.env, mode.cpu);
    try {
      const url = `http://127.0.0.1:${PORTS.gateway}/`;
      await waitReady(url, serve);
      await wrk(url, WARMUP, lua);
      for (let r = 0; r < ROUNDS; r++) {
        // Every graylane process: the primary (under taskset or not) and its workers.
        const all = [...new Set(family(serve.proc.pid!).flatMap((p) => family(p)).flatMap((p) => family(p)))];
        const c0 = cpuSeconds(all);
        const res = await wrk(url, SECONDS, lua);
        const used = cpuSeconds(all) - c0;
        console.log(
          `| ${mode.name} | ${Math.round(res.rps)} | ${res.p99.toFixed(2)} | ${Math.round((used * 1e6) / res.requests)} | ${JSON.stringify(res.byWorker)} | ${JSON.stringify(res.connections)} |`,
        );
      }
    } finally {
      await stop(serve);
    }
  }
}

async function propagation(tmp: string, name: string, doc: Record<string, unknown>): Promise<void> {
  const cfg = join(tmp, `${name}.yaml`);
  const write = (salt: string): void => {
    const d = structuredClone(doc) as { routes: { salt?: string }[] };
    d.routes[1]!.salt = salt;
    writeFileSync(`${cfg}.tmp`, stringify(d, { lineWidth: 0 }));
    renameSync(`${cfg}.tmp`, cfg);
  };
  write('start');
  const serve = start(process.execPath, [CLI, 'serve', '-c', cfg, '--listen', `127.0.0.1:${PORTS.gateway}`, '--admin-listen', `127.0.0.1:${PORTS.admin}`, '--state', join(tmp, `${name}.db`), '--no-access-log', '--log-format', 'json', '--workers', '2']);
  const rows: { ms: number; compileMs: number }[] = [];
  try {
    await waitReady(`http://127.0.0.1:${PORTS.gateway}/`, serve);
    for (let i = 0; i < RELOADS; i++) {
      const seen = serve.log.length;
      write(`reload-${i}`);
      const deadline = Date.now() + 20_000;
      let line: { ms: number; compileMs: number } | undefined;
      while (line === undefined && Date.now() < deadline) {
        await sleep(20);
        for (const l of serve.log.slice(seen)) if (l.includes('every worker serves the new snapshot')) line = JSON.parse(l) as typeof line;
      }
      if (line === undefined) throw new Error(`reload ${i} not propagated:\n${serve.log.slice(seen).join('\n')}`);
      rows.push({ ms: line.ms, compileMs: line.compileMs });
      await sleep(300);
    }
  } finally {
    await stop(serve);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  console.log(
    `| ${name} | ${RELOADS} | ${med(rows.map((r) => r.ms)).toFixed(1)} | ${med(rows.map((r) => r.compileMs)).toFixed(1)} | ${med(rows.map((r) => r.ms - r.compileMs)).toFixed(1)} | ${Math.max(...rows.map((r) => r.ms)).toFixed(1)} |`,
  );
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'graylane-bench-workers-'));
  mkdirSync(join(tmp, 'logs'));
  writeFileSync(
    join(tmp, 'nginx.conf'),
    `worker_processes 1; daemon off; pid ${tmp}/nginx.pid; error_log ${tmp}/error.log warn;
events { worker_connections 8192; }
http { access_log off; keepalive_timeout 75s; keepalive_requests 1000000; client_body_temp_path ${tmp}/b; proxy_temp_path ${tmp}/p;
  fastcgi_temp_path ${tmp}/f; uwsgi_temp_path ${tmp}/u; scgi_temp_path ${tmp}/s;
  server { listen 127.0.0.1:${PORTS.v1} backlog=4096; location / { return 200 "v1\\n"; } }
  server { listen 127.0.0.1:${PORTS.v2} backlog=4096; location / { return 200 "v2\\n"; } } }\n`,
  );
  const nginx = start('nginx', ['-p', tmp, '-c', join(tmp, 'nginx.conf'), '-e', join(tmp, 'error.log')], {}, 0);
  process.on('exit', () => {
    try {
      process.kill(-nginx.proc.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
  });
  try {
    const doc = parse(benchConfig({ v1: `http://127.0.0.1:${PORTS.v1}`, v2: `http://127.0.0.1:${PORTS.v2}` })) as Record<string, unknown> & { debug?: unknown };
    doc.debug = { workerHeader: true };
    const cfg = join(tmp, 'bench.yaml');
    writeFileSync(cfg, stringify(doc, { lineWidth: 0 }));
    if (process.env.SKIP_THROUGHPUT !== '1') await throughput(tmp, cfg);

    console.log(`\n## Propagation with 2 workers: primary swap() -> every worker acknowledged, median of ${RELOADS} reloads (ms)\n`);
    console.log('| config | reloads | every worker serves it | slowest worker compile | IPC + swap (difference) | worst |');
    console.log('|---|---|---|---|---|---|');
    const small = structuredClone(doc) as { routes: { rules: { name: string }[] }[] };
    small.routes[1]!.rules = small.routes[1]!.rules.filter((r) => r.name !== 'vip-users');
    await propagation(tmp, 'bench config without the user list', small);
    await propagation(tmp, 'bench config with its 100k-user list', doc);
  } finally {
    await stop(nginx);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
