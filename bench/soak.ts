/**
 * Load and endurance runs against a real `graylane serve` child process (NOT part of `npm test`;
 * every run is bounded by a count or a duration). Figures go to docs/reliability.md.
 *
 *   node dist/bench/soak.js requests    [--count 1000000] [--reloads 100] [--connections 32] [--threads 2]
 *   node dist/bench/soak.js soak        [--duration 600] [--sample 10] [--warmup 60] [--connections 16] [--delay-ms 4]
 *   node dist/bench/soak.js connections [--count 10000] [--hold 30]
 *
 * - requests: wrk (one Lua script, 1,000 request templates over mixed lanes: a users list, a header
 *   rule, a 10% sticky percent, and spoofed lane headers that must be ignored) sends `count` requests
 *   while the config file is rewritten `reloads` times (write + rename, a new route each time). Every
 *   response is checked against the lane computed in-process by the same compile() + mark() +
 *   dispatch() (the upstream echoes the user id), so "shares right" is exact per request.
 * - soak: the same load, rate-limited by wrk's delay() so the shared machine stays usable, for
 *   `duration` seconds, with a config reload every minute; RSS (/proc/PID/status VmRSS) and open
 *   fds (/proc/PID/fd) of the gateway are sampled every `sample` seconds. RSS saw-tooths with GC, so
 *   "flat" means the peak of the second half after `warmup` is within 10% of the first half's peak;
 *   fds must not grow.
 * - connections: `count` keep-alive connections opened (in batches) and held for `hold` seconds,
 *   each serving one request before and one after the hold. The file-descriptor limit is raised with
 *   prlimit for the gateway and for this driver (which re-executes itself under prlimit).
 *
 * Exit code 0 when the run met its bar (zero errors, zero lane mismatches, all reloads applied, RSS
 * growth within 10% and no fd growth), 1 otherwise. The last line is a JSON summary.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { compile, dispatch } from '../src/routing/index.js';
import { parseSpec } from '../src/spec/index.js';
import { ObjectHeaders } from '../src/routing/request-values.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const SELF = new URL(import.meta.url).pathname;
/** The open-file limit asked for: the hard limit (a container may not allow raising it). */
const NOFILE = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()) || 65_536;

type Mode = 'requests' | 'soak' | 'connections';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Upstreams: a child process with one node:http server per endpoint, answering its version and
// echoing the user id, so the driver can check every response's lane.

const VERSIONS = ['stable', 'stable', 'beta', 'alpha'] as const;

function runUpstreams(): void {
  const ports: number[] = [];
  let pending = VERSIONS.length;
  VERSIONS.forEach((version, i) => {
    const body = Buffer.from(`${version}\n`);
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': body.length,
        'x-version': version,
        'x-user': String(req.headers['x-user-id'] ?? ''),
        // The client must never see a lane it sent itself: the gateway's header is the only one.
        'x-lane-seen': String(req.headers['x-gray-lane'] ?? ''),
      });
      res.end(body);
    });
    server.keepAliveTimeout = 120_000;
    server.listen(0, '127.0.0.1', () => {
      ports[i] = (server.address() as AddressInfo).port;
      if (--pending === 0) process.stdout.write(`${JSON.stringify(ports)}\n`);
    });
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// The config and the request templates.

const TEMPLATES = 1000;
const STAFF = Array.from({ length: 50 }, (_, i) => `u${i + 1}`);

function configText(urls: string[], statePath: string, reload: number): string {
  return `listen: 127.0.0.1:0
accessLog: false
exposeLane: true
drain: 1s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(statePath)} }
services:
  shop:
    versions:
      stable: [${urls[0]}, ${urls[1]}]
      beta: [${urls[2]}]
      alpha: [${urls[3]}]
routes:
  - name: reload-${reload}
    match: { host: reload-${reload}.invalid }
    service: shop
    lane: alpha
  - name: shop
    service: shop
    identity: [header:x-user-id]
    visitorCookie: false
    salt: soak
    rules:
      - { name: staff, lane: alpha, users: [${STAFF.join(', ')}] }
      - { name: canary-header, lane: beta, header: { name: x-canary, equals: "on" } }
      - { name: ten-percent, lane: beta, percent: 10 }
`;
}

interface Template {
  user: string;
  headers: Record<string, string>;
}

function templates(): Template[] {
  return Array.from({ length: TEMPLATES }, (_, i) => {
    const headers: Record<string, string> = { 'x-user-id': `u${i + 1}` };
    if (i % 10 === 3) headers['x-canary'] = 'on';
    // A client claiming a lane: stripped, so it changes nothing.
    if (i % 7 === 5) headers['x-gray-lane'] = 'alpha';
    return { user: `u${i + 1}`, headers };
  });
}

/** The version each template must be served by, from the same compile/mark/dispatch the gateway runs. */
function expectedVersions(config: string, ts: Template[]): Map<string, string> {
  const snapshot = compile(parseSpec(config, 'soak.yaml'));
  const up = { isUp: () => true };
  const ctx = { random: () => 0.5, newVisitorId: () => 'v' };
  const out = new Map<string, string>();
  for (const t of ts) {
    const route = snapshot.matchRoute('soak.test', '/shop/x');
    if (route === undefined) throw new Error('no route in the soak config');
    const mark = route.mark({ host: 'soak.test', path: '/shop/x', query: '', headers: new ObjectHeaders(t.headers) }, ctx);
    out.set(t.user, dispatch(route.service, mark.lane, up).version);
  }
  return out;
}

function luaString(s: string): string {
  return JSON.stringify(s); // a JSON string literal is a valid Lua string literal for this alphabet
}

/** The wrk script: templates, per-response lane check, per-thread counts merged in done(). */
function wrkScript(ts: Template[], expected: Map<string, string>, delayMs: number): string {
  const reqs = ts
    .map((t) => {
      const h = Object.entries({ Host: 'soak.test', ...t.headers })
        .map(([k, v]) => `[${luaString(k)}]=${luaString(v)}`)
        .join(',');
      return `  reqs[#reqs+1] = wrk.format("GET", "/shop/${t.user}", {${h}})`;
    })
    .join('\n');
  const exp = [...expected].map(([u, v]) => `  expected[${luaString(u)}] = ${luaString(v)}`).join('\n');
  return `
local reqs, expected, threads = {}, {}, {}
local i, quota, seen = 0, 0, 0
counts, statuses, mismatches, spoofed = {}, {}, 0, 0
setup = function(thread) table.insert(threads, thread) end
init = function(args)
  quota = tonumber(args[1]) or 0
${reqs}
${exp}
  i = math.random(#reqs) - 1
end
request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
${delayMs > 0 ? `delay = function() return ${delayMs} end` : ''}
response = function(status, headers, body)
  seen = seen + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    local v = headers["x-gray-version"] or "?"
    counts[v] = (counts[v] or 0) + 1
    if expected[headers["x-user"]] ~= v or headers["x-version"] ~= v then mismatches = mismatches + 1 end
    if headers["x-lane-seen"] ~= headers["x-gray-lane"] then spoofed = spoofed + 1 end
  end
  if quota > 0 and seen == quota then
    -- wrk's main thread sleeps for -d regardless: the driver sends SIGINT once every thread is done.
    io.stderr:write("WRK_THREAD_DONE\\n")
    wrk.thread:stop()
  end
end
local function merge(into, t) for k, v in pairs(t) do into[tostring(k)] = (into[tostring(k)] or 0) + v end end
local function obj(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts+1] = string.format("%q:%d", k, v) end
  return "{" .. table.concat(parts, ",") .. "}"
end
done = function(summary, latency, requests)
  local c, s, m, sp = {}, {}, 0, 0
  for _, t in ipairs(threads) do
    merge(c, t:get("counts")); merge(s, t:get("statuses"))
    m = m + t:get("mismatches"); sp = sp + t:get("spoofed")
  end
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests":%d,"seconds":%.3f,"counts":%s,"statuses":%s,"mismatches":%d,"spoofed":%d,' ..
    '"socketErrors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"p50ms":%.3f,"p99ms":%.3f,"maxms":%.3f}\\n',
    summary.requests, summary.duration / 1e6, obj(c), obj(s), m, sp, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
`;
}

interface WrkResult {
  requests: number;
  seconds: number;
  counts: Record<string, number>;
  statuses: Record<string, number>;
  mismatches: number;
  spoofed: number;
  socketErrors: Record<string, number>;
  p50ms: number;
  p99ms: number;
  maxms: number;
}

// ---------------------------------------------------------------------------------------------
// Processes.

interface Env {
  dir: string;
  urls: string[];
  upstreams: ChildProcess;
  gateway: ChildProcess;
  gatewayUrl: string;
  configFile: string;
  statePath: string;
  /** Operational log lines of the gateway (stderr). */
  gatewayLog: string[];
  reloadsApplied(): number;
  stop(): Promise<void>;
}

/** Every child process, killed when this driver exits, however it exits. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function havePrlimit(): boolean {
  return spawnSync('sh', ['-c', 'command -v prlimit']).status === 0;
}

/** `cmd args` with the open-file limit raised when prlimit is there. */
function withNofile(cmd: string, args: string[]): [string, string[]] {
  return havePrlimit() ? ['prlimit', [`--nofile=${NOFILE}:${NOFILE}`, '--', cmd, ...args]] : [cmd, args];
}

async function startEnv(): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'graylane-soak-'));
  const upstreams = spawn(process.execPath, [SELF, '--role', 'upstream'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(upstreams);
  const ports = await new Promise<number[]>((resolve, reject) => {
    let buf = '';
    upstreams.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\n')) resolve(JSON.parse(buf) as number[]);
    });
    upstreams.once('exit', (code) => reject(new Error(`upstreams exited with ${code}`)));
  });
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const configFile = join(dir, 'graylane.yaml');
  const statePath = join(dir, 'state.db');
  writeFileSync(configFile, configText(urls, statePath, 0));
  const [cmd, args] = withNofile(process.execPath, [CLI, 'serve', '-c', configFile, '--no-access-log']);
  const gateway = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(gateway);
  const gatewayLog: string[] = [];
  let reloads = 0;
  const gatewayUrl = await new Promise<string>((resolve, reject) => {
    gateway.once('exit', () => upstreams.kill('SIGTERM'));
    let buf = '';
    gateway.stderr!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        gatewayLog.push(line);
        if (gatewayLog.length > 1000) gatewayLog.shift();
        try {
          const rec = JSON.parse(line) as { msg?: string; listen?: string };
          if (rec.msg === 'gateway listening') resolve(`http://${rec.listen}`);
          if (rec.msg === 'config reloaded') reloads++;
        } catch {
          /* not JSON */
        }
      }
    });
    gateway.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${gatewayLog.join('\n')}`)));
  });
  return {
    dir,
    urls,
    upstreams,
    gateway,
    gatewayUrl,
    configFile,
    statePath,
    gatewayLog,
    reloadsApplied: () => reloads,
    async stop() {
      for (const p of [gateway, upstreams]) if (p.exitCode === null) p.kill('SIGTERM');
      await Promise.all([gateway, upstreams].map((p) => (p.exitCode !== null ? null : new Promise((r) => p.once('exit', r)))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function runWrk(url: string, script: string, args: { threads: number; connections: number; seconds: number; quota: number }): Promise<WrkResult> {
  const wrk = spawn('wrk', [`-t${args.threads}`, `-c${args.connections}`, `-d${args.seconds}s`, '--timeout', '10s', '-s', script, url, '--', String(args.quota)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(wrk);
  let out = '';
  let done = 0;
  wrk.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  wrk.stderr!.on('data', (c: Buffer) => {
    const text = c.toString();
    done += text.split('WRK_THREAD_DONE').length - 1;
    if (done >= args.threads) wrk.kill('SIGINT');
    const other = text.replace(/WRK_THREAD_DONE\n/g, '');
    if (other) process.stderr.write(other);
  });
  return new Promise((resolve, reject) => {
    wrk.once('close', (code) => {
      const m = /WRK_RESULT (.*)/.exec(out);
      if (!m) reject(new Error(`wrk exited with ${code} without a result:\n${out}`));
      else resolve(JSON.parse(m[1]!) as WrkResult);
    });
  });
}

/** Rewrites the config with a new marker route: write a temporary file, then rename it over the old one. */
function rewriteConfig(env: Env, reload: number): void {
  const tmp = `${env.configFile}.tmp`;
  writeFileSync(tmp, configText(env.urls, env.statePath, reload));
  renameSync(tmp, env.configFile);
}

interface Sample {
  at: number;
  rssMb: number;
  fds: number;
}

function sample(pid: number, t0: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { at: Math.round((Date.now() - t0) / 1000), rssMb: Math.round(rssKb / 102.4) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}

function shares(counts: Record<string, number>): Record<string, string> {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, `${((100 * v) / total).toFixed(2)}%`]));
}

function expectedShares(expected: Map<string, string>): Record<string, string> {
  const c: Record<string, number> = {};
  for (const v of expected.values()) c[v] = (c[v] ?? 0) + 1;
  return shares(c);
}

function errorsOf(r: WrkResult): number {
  const non200 = Object.entries(r.statuses).reduce((a, [s, n]) => a + (s === '200' ? 0 : n), 0);
  const { connect = 0, read = 0, write = 0, timeout = 0 } = r.socketErrors;
  return non200 + connect + read + write + timeout;
}

// ---------------------------------------------------------------------------------------------
// Modes.

async function requestsMode(): Promise<boolean> {
  const count = flag('count', 1_000_000);
  const reloads = flag('reloads', 100);
  const threads = flag('threads', 2);
  const connections = flag('connections', 32);
  const env = await startEnv();
  try {
    const ts = templates();
    const expected = expectedVersions(configText(env.urls, env.statePath, 0), ts);
    const script = join(env.dir, 'soak.lua');
    writeFileSync(script, wrkScript(ts, expected, 0));
    log(`gateway ${env.gatewayUrl} (pid ${env.gateway.pid}); ${count} requests, ${reloads} reloads`);
    const t0 = Date.now();
    let running = true;
    const wrk = runWrk(env.gatewayUrl, script, { threads, connections, seconds: 3600, quota: Math.ceil(count / threads) }).finally(() => (running = false));
    wrk.catch(() => {}); // awaited below
    let written = 0;
    // Reloads spread over the run: one every 400 ms (a 1M run takes minutes here), each waited for.
    while (running && written < reloads) {
      await sleep(400);
      rewriteConfig(env, ++written);
      const deadline = Date.now() + 5000;
      while (env.reloadsApplied() < written && Date.now() < deadline) await sleep(10);
    }
    const r = await wrk;
    const s = sample(env.gateway.pid!, t0);
    const errors = errorsOf(r);
    const ok = errors === 0 && r.mismatches === 0 && r.spoofed === 0 && env.reloadsApplied() >= reloads && r.requests >= count;
    const summary = {
      mode: 'requests',
      ok,
      requests: r.requests,
      seconds: r.seconds,
      rps: Math.round(r.requests / r.seconds),
      errors,
      statuses: r.statuses,
      socketErrors: r.socketErrors,
      laneMismatches: r.mismatches,
      spoofedLaneSeen: r.spoofed,
      reloadsWritten: written,
      reloadsApplied: env.reloadsApplied(),
      shares: shares(r.counts),
      expectedShares: expectedShares(expected),
      counts: r.counts,
      p50ms: r.p50ms,
      p99ms: r.p99ms,
      maxms: r.maxms,
      gatewayRssMb: s.rssMb,
      machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}`,
    };
    console.log(JSON.stringify(summary));
    return ok;
  } finally {
    await env.stop();
  }
}

async function soakMode(): Promise<boolean> {
  const duration = flag('duration', 600);
  const every = flag('sample', 10);
  const warmup = flag('warmup', 60);
  const connections = flag('connections', 16);
  const delayMs = flag('delay-ms', 4);
  const env = await startEnv();
  try {
    const ts = templates();
    const expected = expectedVersions(configText(env.urls, env.statePath, 0), ts);
    const script = join(env.dir, 'soak.lua');
    writeFileSync(script, wrkScript(ts, expected, delayMs));
    log(`gateway ${env.gatewayUrl} (pid ${env.gateway.pid}); soak ${duration} s, ${connections} connections, delay ${delayMs} ms`);
    const t0 = Date.now();
    const pid = env.gateway.pid!;
    const samples: Sample[] = [sample(pid, t0)];
    let running = true;
    const wrk = runWrk(env.gatewayUrl, script, { threads: 1, connections, seconds: duration, quota: 0 }).finally(() => (running = false));
    wrk.catch(() => {}); // awaited below
    let reload = 0;
    while (running) {
      await sleep(every * 1000);
      if (!running) break;
      const s = sample(pid, t0);
      samples.push(s);
      log(`t=${s.at}s rss=${s.rssMb} MB fds=${s.fds}`);
      // A reload per minute keeps the reload path in the soak too.
      if (s.at >= (reload + 1) * 60) rewriteConfig(env, ++reload);
    }
    const r = await wrk;
    const after = samples.filter((s) => s.at >= warmup);
    const base = after[0] ?? samples[samples.length - 1]!;
    const last = samples[samples.length - 1]!;
    // RSS saw-tooths with garbage collection: compare the peaks of the two halves after warm-up,
    // which a leak raises and GC timing does not.
    const half = Math.floor(after.length / 2);
    const firstPeak = Math.max(...after.slice(0, half).map((s) => s.rssMb));
    const secondPeak = Math.max(...after.slice(half).map((s) => s.rssMb));
    const peakGrowth = (100 * (secondPeak - firstPeak)) / firstPeak;
    const rssGrowth = (100 * (last.rssMb - base.rssMb)) / base.rssMb;
    const fdGrowth = last.fds - base.fds;
    const errors = errorsOf(r);
    const ok = errors === 0 && r.mismatches === 0 && r.spoofed === 0 && peakGrowth <= 10 && fdGrowth <= 0;
    console.log(
      JSON.stringify({
        mode: 'soak',
        ok,
        seconds: r.seconds,
        requests: r.requests,
        rps: Math.round(r.requests / r.seconds),
        errors,
        laneMismatches: r.mismatches,
        reloads: env.reloadsApplied(),
        rssMb: {
          afterWarmup: base.rssMb,
          end: last.rssMb,
          min: Math.min(...after.map((s) => s.rssMb)),
          firstHalfPeak: firstPeak,
          secondHalfPeak: secondPeak,
          peakGrowthPct: Number(peakGrowth.toFixed(1)),
          endVsWarmupPct: Number(rssGrowth.toFixed(1)),
        },
        fds: { start: samples[0]!.fds, afterWarmup: base.fds, end: last.fds, growth: fdGrowth },
        p50ms: r.p50ms,
        p99ms: r.p99ms,
        samples,
        machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}`,
      }),
    );
    return ok;
  } finally {
    await env.stop();
  }
}

/** One request on an open socket; resolves with the status, rejects on close or error. */
function exchange(socket: net.Socket, user: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      cleanup();
      resolve(Number(buf.slice(9, 12)));
    };
    const onClose = () => {
      cleanup();
      reject(new Error('closed'));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onClose);
    socket.write(`GET /shop/${user} HTTP/1.1\r\nHost: soak.test\r\nx-user-id: ${user}\r\n\r\n`);
  });
}

async function connectionsMode(): Promise<boolean> {
  const count = flag('count', 10_000);
  const hold = flag('hold', 30);
  const limit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  if (limit < count + 1000 && process.env.GRAYLANE_SOAK_REEXEC === undefined) {
    if (!havePrlimit()) throw new Error(`ulimit -n is ${limit}; raise it to at least ${count + 1000} (no prlimit here)`);
    if (NOFILE < count + 1000) throw new Error(`the hard open-file limit is ${NOFILE}: too low for ${count} connections`);
    log(`ulimit -n is ${limit}: re-running under prlimit --nofile=${NOFILE}`);
    const r = spawnSync('prlimit', [`--nofile=${NOFILE}:${NOFILE}`, '--', process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, GRAYLANE_SOAK_REEXEC: '1' },
    });
    return r.status === 0;
  }
  const env = await startEnv();
  const sockets: net.Socket[] = [];
  try {
    const { hostname, port } = new URL(env.gatewayUrl);
    const pid = env.gateway.pid!;
    const t0 = Date.now();
    const before = sample(pid, t0);
    let errors = 0;
    const statuses: Record<string, number> = {};
    const note = (p: Promise<number>) =>
      p.then(
        (s) => void (statuses[s] = (statuses[s] ?? 0) + 1),
        () => void errors++,
      );
    log(`gateway ${env.gatewayUrl} (pid ${pid}); opening ${count} keep-alive connections`);
    // Batches keep the accept backlog from overflowing (a SYN dropped there costs a 1 s retransmit).
    for (let i = 0; i < count; i += 250) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(count, i + 250); j++) {
        batch.push(
          new Promise<void>((resolve) => {
            const s = net.connect(Number(port), hostname);
            sockets.push(s);
            s.setNoDelay(true);
            s.once('connect', () => void note(exchange(s, `u${(j % TEMPLATES) + 1}`)).then(resolve));
            s.once('error', () => {
              errors++;
              resolve();
            });
          }),
        );
      }
      await Promise.all(batch);
    }
    const open = sample(pid, t0);
    log(`all opened in ${open.at} s: gateway rss=${open.rssMb} MB fds=${open.fds}; holding ${hold} s`);
    await sleep(hold * 1000);
    const held = sample(pid, t0);
    const stillOpen = sockets.filter((s) => !s.destroyed).length;
    // A second request on every held connection: keep-alive must still work after the hold.
    for (let i = 0; i < sockets.length; i += 500) {
      await Promise.all(sockets.slice(i, i + 500).map((s, k) => note(exchange(s, `u${((i + k) % TEMPLATES) + 1}`))));
    }
    const ok = errors === 0 && stillOpen === count && statuses['200'] === 2 * count;
    console.log(
      JSON.stringify({
        mode: 'connections',
        ok,
        connections: count,
        stillOpenAfterHold: stillOpen,
        holdSeconds: hold,
        openSeconds: open.at,
        errors,
        statuses,
        gateway: { before, open, held },
        machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}`,
      }),
    );
    return ok;
  } finally {
    for (const s of sockets) s.destroy();
    await env.stop();
  }
}

async function main(): Promise<void> {
  const role = process.argv.indexOf('--role');
  if (role !== -1 && process.argv[role + 1] === 'upstream') return runUpstreams();
  const mode = (process.argv[2] ?? 'requests') as Mode;
  const runs: Record<Mode, () => Promise<boolean>> = { requests: requestsMode, soak: soakMode, connections: connectionsMode };
  const run = runs[mode];
  if (run === undefined) throw new Error(`unknown mode ${mode}: requests | soak | connections`);
  process.exitCode = (await run()) ? 0 : 1;
}

await main();
