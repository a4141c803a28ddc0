/**
 * `npm run bench`: (1) the mark + dispatch decision micro-benchmark, (2) proxy throughput and latency
 * through graylane with the full rule set, against a bare undici Pool.stream proxy and against the
 * origin directly, in one run, interleaved rounds, medians. Prints a markdown table for
 * docs/benchmarks.md. Needs wrk (apt-get install wrk); uses nginx origins when nginx is installed.
 * Everything listens on 127.0.0.1 and every load run is bounded by wrk -d.
 *
 * With taskset and two or more CPUs, each proxy runs pinned to CPU 1 and wrk and the origin to
 * CPU 0, so the proxies compared get the same core and do not fight the load generator for it (the
 * unpinned figures swing by 2x on a shared 2-core box). The "CPU µs/req" column (the proxy's user +
 * system time over the requests it served) is the cost per request, the steadiest figure here.
 *
 * With SHARED_BENCH pointing at a set-up copy of ../shared/bench (its setup.sh installs http-proxy
 * there), its node-http-proxy peer is measured too, under the same pinning.
 *
 * Knobs: BENCH_SECONDS (5), ROUNDS (3), CONNS (32), WARMUP (2 s), PIN (1; 0 turns pinning off),
 * SHARED_BENCH (default ../shared/bench), BENCH_POST_BYTES (unset: GET; 16384: every request is a
 * POST with a 16 KiB body, which every peer streams upstream).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchConfig } from './config.js';
import { runDecisionBench } from './decision.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONNS = Number(process.env.CONNS ?? 32);
const WARMUP = Number(process.env.WARMUP ?? 2);
const ROOT = new URL('../..', import.meta.url).pathname;
const DIST = join(ROOT, 'dist');
const PIN = process.env.PIN !== '0' && cpus().length >= 2 && have('taskset');
const SHARED_BENCH = process.env.SHARED_BENCH ?? new URL('../../../shared/bench', import.meta.url).pathname;
const PORTS = { v1: 19101, v2: 19102, httpProxy: 18183, bare: 18185, graylane: 18190, graylaneLog: 18191, admin: 18192, adminLog: 18193 };

interface Peer {
  name: string;
  url: string;
  proc?: ChildProcess;
}

interface Run {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
  cpu: number;
  /** Proxy CPU (user + system) per request served, µs. */
  cpuUsPerReq: number;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Starts a process in its own group; its stderr is kept (last 4 KiB) to explain a failed start. */
function start(cmd: string, args: string[], env: Record<string, string> = {}, cpu?: number): ChildProcess {
  if (PIN && cpu !== undefined) {
    args = ['-c', String(cpu), cmd, ...args];
    cmd = 'taskset';
  }
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let tail = '';
  p.stderr!.setEncoding('utf8').on('data', (s: string) => {
    tail = (tail + s).slice(-4096);
  });
  stderrTails.set(p, () => tail);
  return p;
}
const stderrTails = new WeakMap<ChildProcess, () => string>();

async function waitReady(url: string, proc?: ChildProcess, host = 'prod.example.com'): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc !== undefined && proc.exitCode !== null) {
      throw new Error(`the process for ${url} exited with code ${proc.exitCode}:\n${stderrTails.get(proc)?.() ?? ''}`);
    }
    try {
      const res = await fetch(url, { headers: { host } });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within 30 s`);
}

/** CPU seconds used so far by a process (utime + stime from /proc). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function wrk(url: string, seconds: number): Omit<Run, 'cpu' | 'cpuUsPerReq'> {
  const script = join(ROOT, 'bench/users.lua');
  const r = spawnSync(PIN ? 'taskset' : 'wrk', [...(PIN ? ['-c', '0', 'wrk'] : []), '-t1', `-c${CONNS}`, `-d${seconds}s`, '--latency', '-s', script, url, '--', '1000'], { encoding: 'utf8' });
  const out = r.stdout;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const ms = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps: num(/Requests\/sec:\s+([\d.]+)/), requests: num(/(\d+) requests in/), p50: ms(/\s50%\s+([\d.]+)(us|ms|s)/), p99: ms(/\s99%\s+([\d.]+)(us|ms|s)/), errors };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  console.log('## Decision (mark + dispatch), in process\n');
  const d = runDecisionBench({});
  console.log(d.summary);

  if (!have('wrk')) {
    console.log('\nwrk not found: install it (apt-get install wrk) for the proxy throughput part.');
    process.exitCode = 1;
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'graylane-bench-'));
  const procs: ChildProcess[] = [];
  const stopAll = () => {
    for (const p of procs) if (p.pid && p.exitCode === null) try { process.kill(-p.pid, 'SIGTERM'); } catch { /* gone */ }
  };
  process.on('exit', stopAll);
  process.on('SIGINT', () => process.exit(130));
  try {
    const v1 = `http://127.0.0.1:${PORTS.v1}`;
    const v2 = `http://127.0.0.1:${PORTS.v2}`;
    let origin: string;
    // nginx's `return` answers before it reads a request body: POST runs use the node origin,
    // which answers after the body (see bench/peers/origin.ts).
    if (have('nginx') && process.env.BENCH_POST_BYTES === undefined) {
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
      procs.push(start('nginx', ['-p', tmp, '-c', join(tmp, 'nginx.conf'), '-e', join(tmp, 'error.log')], {}, 0));
      origin = 'nginx 1 worker';
    } else {
      procs.push(start(process.execPath, [join(DIST, 'bench/peers/origin.js')], { PORT_V1: String(PORTS.v1), PORT_V2: String(PORTS.v2) }, 0));
      origin = have('nginx') ? 'node:http (answers after the request body)' : 'node:http (nginx not installed)';
    }
    const cfg = join(tmp, 'bench.yaml');
    writeFileSync(cfg, benchConfig({ v1, v2 }));
    const cli = join(DIST, 'src/cli/main.js');
    // Each graylane gets its own admin port and state file: the defaults (127.0.0.1:9090,
    // .graylane/state.db next to the config) would make the second instance fail to start.
    const serve = (port: number, admin: number, extra: string[]) => [
      cli, 'serve', '-c', cfg, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`,
      '--state', join(tmp, `state-${port}.db`), ...extra,
    ];
    const peers: Peer[] = [
      { name: 'origin direct (ceiling)', url: v1 },
      { name: 'bare undici Pool.stream proxy', url: `http://127.0.0.1:${PORTS.bare}`,
        proc: start(process.execPath, [join(DIST, 'bench/peers/undici-bare.js')], { PORT: String(PORTS.bare), UPSTREAM_V1: v1, UPSTREAM_V2: v2 }, 1) },
      { name: 'graylane, 20 rules, no access log', url: `http://127.0.0.1:${PORTS.graylane}`,
        proc: start(process.execPath, serve(PORTS.graylane, PORTS.admin, ['--no-access-log']), {}, 1) },
      { name: 'graylane, 20 rules, access log on', url: `http://127.0.0.1:${PORTS.graylaneLog}`,
        proc: start(process.execPath, serve(PORTS.graylaneLog, PORTS.adminLog, []), {}, 1) },
    ];
    if (existsSync(join(SHARED_BENCH, 'node_modules/http-proxy'))) {
      peers.splice(2, 0, { name: 'node-http-proxy (shared/bench peer)', url: `http://127.0.0.1:${PORTS.httpProxy}`,
        proc: start(process.execPath, [join(SHARED_BENCH, 'peers/http-proxy-peer.js')], { PORT: String(PORTS.httpProxy), UPSTREAM_V1: v1, UPSTREAM_V2: v2 }, 1) });
    } else {
      console.log(`\n(node-http-proxy not measured: no ${join(SHARED_BENCH, 'node_modules/http-proxy')}; run the shared harness's setup.sh and set SHARED_BENCH)`);
    }
    for (const p of peers) if (p.proc) procs.push(p.proc);
    for (const p of peers) await waitReady(p.url, p.proc);
    for (const p of peers) if (WARMUP > 0) wrk(p.url, WARMUP);

    const runs = new Map<string, Run[]>(peers.map((p) => [p.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of peers) {
        const c0 = cpuSeconds(p.proc?.pid);
        const t0 = Date.now();
        const r = wrk(p.url, SECONDS);
        const used = cpuSeconds(p.proc?.pid) - c0;
        const cpu = p.proc ? (100 * used) / ((Date.now() - t0) / 1000) : NaN;
        runs.get(p.name)!.push({ ...r, cpu, cpuUsPerReq: p.proc ? (used * 1e6) / r.requests : NaN });
        await sleep(500);
      }
    }
    const base = median(runs.get('bare undici Pool.stream proxy')!.map((r) => r.rps));
    const post = process.env.BENCH_POST_BYTES;
    console.log(`\n## Proxy throughput: wrk -t1 -c${CONNS} -d${SECONDS}s, ${ROUNDS} interleaved rounds, medians${post ? `, POST bodies of ${post} bytes` : ''}\n`);
    const baseCost = median(runs.get('bare undici Pool.stream proxy')!.map((r) => r.cpuUsPerReq));
    console.log('| peer | req/s (median) | per round | p50 ms | p99 ms | vs bare undici | proxy CPU % | CPU µs/req | per round | cost vs bare | errors |');
    console.log('|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|');
    for (const p of peers) {
      const rs = runs.get(p.name)!;
      const rps = median(rs.map((r) => r.rps));
      console.log(
        `| ${p.name} | ${rps.toFixed(0)} | ${rs.map((r) => r.rps.toFixed(0)).join(' / ')} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ` +
          `${median(rs.map((r) => r.p99)).toFixed(2)} | ${(rps / base).toFixed(2)} | ${p.proc ? median(rs.map((r) => r.cpu)).toFixed(0) : '-'} | ` +
          (p.proc
            ? `${median(rs.map((r) => r.cpuUsPerReq)).toFixed(1)} | ${rs.map((r) => r.cpuUsPerReq.toFixed(1)).join(' / ')} | ${(median(rs.map((r) => r.cpuUsPerReq)) / baseCost).toFixed(2)} | `
            : '- | - | - | ') +
          `${rs.reduce((a, r) => a + r.errors, 0)} |`,
      );
    }
    console.log(`\nOrigin: ${origin}. Machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}. ` +
      (PIN
        ? 'Pinned: the proxy under test on CPU 1, wrk and the origin on CPU 0 (taskset); the ceiling row is wrk and the origin sharing CPU 0. '
        : 'Not pinned: wrk, the origin and the proxy share the machine. ') +
      'Closed-loop latencies; CPU µs/req = the proxy process\'s user + system time / requests served (ticks of 10 ms, so short runs are coarse).');
  } finally {
    stopAll();
    await sleep(300);
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
