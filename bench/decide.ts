/**
 * `node dist/bench/decide.js`: the cost of decide mode (issue 22). Measures
 *
 * 1. one decision: a tiny check request and its answer, sequential on one keep-alive connection
 *    (what nginx's auth_request costs per uncached request, loopback included);
 * 2. requests per proxy CPU-second (CPU of nginx and graylane together, the origin not counted)
 *    with wrk, for: nginx alone (proxy_pass, no decision); nginx + graylane deciding, uncached (a
 *    route with an app-version rule, never cached); nginx + graylane deciding, cached (a route of
 *    users and percent, decisions cached 5 s by the exported config); the Lua tier (`export nginx
 *    --lua`: decisions cached in a lua_shared_dict, every outcome counted in nginx and posted to
 *    POST /report once a second; needs libnginx-mod-http-lua); graylane alone (its gateway
 *    proxying the same route). Every nginx config is `graylane export nginx` output, unedited.
 *
 * The load is bench/users.lua (1000 users rotating, browser-like headers), so the cached run misses
 * once per user every 5 s. nginx runs as in ../shared/bench (1 worker, its own -p prefix). With
 * taskset and two CPUs, the proxies (nginx and graylane) run on CPU 1, wrk and the origin on CPU 0.
 * Every load run is bounded by wrk -d; all on 127.0.0.1, ports from the OS.
 *
 * Knobs: BENCH_SECONDS (5), ROUNDS (1), CONNS (32), WARMUP (2 s), DECISIONS (3000), PIN (1).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const CONNS = Number(process.env.CONNS ?? 32);
const WARMUP = Number(process.env.WARMUP ?? 2);
const DECISIONS = Number(process.env.DECISIONS ?? 3000);
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const PIN = process.env.PIN !== '0' && cpus().length >= 2 && have('taskset');

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts a process in its own group, pinned to `cpu` when pinning is on. */
function start(cmd: string, args: string[], cpu: number): ChildProcess {
  const [c, a] = PIN ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  // graylane logs to stdout (ignored); nginx's and graylane's errors to stderr.
  return spawn(c, a, { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
}

/** utime + stime of a process and its children (nginx's workers), seconds. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  let total = 0;
  for (const p of [pid, ...children]) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      /* gone */
    }
  }
  return total;
}

async function waitReady(url: string, host = 'prod.example.com'): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      // undici's request, not fetch: fetch drops a Host header.
      const res = await request(url, { headers: { host, 'x-user-id': 'warm' } });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within 30 s`);
}

function wrk(url: string, seconds: number): { rps: number; requests: number; p50: number; p99: number; errors: number } {
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
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = (num(/Non-2xx or 3xx responses: (\d+)/) || 0) + (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps: num(/Requests\/sec:\s+([\d.]+)/), requests: num(/(\d+) requests in/), p50: ms(/\s50%\s+([\d.]+)(us|ms|s)/), p99: ms(/\s99%\s+([\d.]+)(us|ms|s)/), errors };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Debian's libnginx-mod-http-lua, as its /etc/nginx/modules-enabled files load it. */
const LUA_MODULE = '/usr/lib/nginx/modules/ngx_http_lua_module.so';
const LUA_MODULES = `load_module /usr/lib/nginx/modules/ndk_http_module.so; load_module ${LUA_MODULE};\n`;

/** nginx's main config around `include`, as ../shared/bench/conf writes it; `main` goes before it (load_module). */
function nginxMain(dir: string, name: string, http: string, main = ''): string {
  const file = join(dir, `${name}.conf`);
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(
    file,
    `${main}worker_processes 1; daemon off; pid ${dir}/${name}.pid; error_log ${dir}/${name}.error.log warn; worker_rlimit_nofile 16384;
events { worker_connections 8192; multi_accept on; }
http { access_log off; keepalive_timeout 75s; keepalive_requests 1000000;
  client_body_temp_path ${dir}/${name}/b; proxy_temp_path ${dir}/${name}/p; fastcgi_temp_path ${dir}/${name}/f; uwsgi_temp_path ${dir}/${name}/u; scgi_temp_path ${dir}/${name}/s;
${http}
}
`,
  );
  return file;
}

function graylaneConfig(p: { decide: number; report: number | null; sampleOneIn: number; v1: string; v2: string; cached: boolean; lua: boolean }): string {
  const rule = p.cached ? '{ name: ten, lane: beta, percent: 10 }' : '{ name: app, lane: beta, appVersion: { header: x-app-version, range: ">=2.3.0" } }';
  // The Lua tier posts aggregated outcomes over HTTP; the plain output sends syslog lines.
  const report = p.report === null ? '' : p.lua ? `, report: { http: 127.0.0.1:${p.report} }` : `, report: { syslog: 127.0.0.1:${p.report}, sampleOneIn: ${p.sampleOneIn} }`;
  return `accessLog: false
decide: { listen: 127.0.0.1:${p.decide}, proxy: nginx${report} }
services:
  web:
    versions:
      stable: [${p.v1}]
      beta: [${p.v2}]
routes:
  - name: shop
    match: { host: prod.example.com, pathPrefix: / }
    service: web
    identity: [header:x-user-id]
    rules:
      - { name: vip, lane: beta, users: ["1001"] }
      - ${rule}
`;
}

/** Sequential check requests on one keep-alive connection: µs per decision, median and p99. */
async function decisionLatency(port: number): Promise<{ p50: number; p99: number }> {
  const agent = new Agent({ connections: 1 });
  const times: number[] = [];
  try {
    for (let i = 0; i < DECISIONS; i++) {
      const t0 = process.hrtime.bigint();
      const res = await request(`http://127.0.0.1:${port}/_graylane/0`, {
        dispatcher: agent,
        headers: { host: 'prod.example.com', 'x-original-uri': `/shop/item/${i}?ref=home`, 'x-user-id': `user-${i % 1000}` },
      });
      await res.body.dump();
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  } finally {
    await agent.close();
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length * 0.5)]!, p99: times[Math.floor(times.length * 0.99)]! };
}

async function main(): Promise<void> {
  for (const cmd of ['nginx', 'wrk']) if (!have(cmd)) throw new Error(`${cmd} not found: apt-get install ${cmd}`);
  const dir = mkdtempSync(join(tmpdir(), 'graylane-bench-decide-'));
  chmodSync(dir, 0o755); // nginx workers run as nobody when started as root
  const procs: ChildProcess[] = [];
  let shm: string | null = null;
  const stopAll = () => {
    for (const p of procs) if (p.pid && p.exitCode === null) try { process.kill(-p.pid, 'SIGTERM'); } catch { /* gone */ }
  };
  process.on('exit', stopAll);
  process.on('SIGINT', () => process.exit(130));
  try {
    const [o1, o2] = [await freePort(), await freePort()];
    const origin = nginxMain(dir, 'origin', `  server { listen 127.0.0.1:${o1} backlog=4096; location / { return 200 "v1\\n"; } }
  server { listen 127.0.0.1:${o2} backlog=4096; location / { return 200 "v2\\n"; } }`);
    procs.push(start('nginx', ['-p', `${dir}/`, '-c', origin, '-e', `${dir}/origin.error.log`], 0));
    const v1 = `http://127.0.0.1:${o1}`;
    const v2 = `http://127.0.0.1:${o2}`;

    const plainPort = await freePort();
    const plain = nginxMain(dir, 'plain', `  upstream v1 { server 127.0.0.1:${o1}; keepalive 16; }
  server { listen 127.0.0.1:${plainPort} backlog=4096;
    location / { proxy_pass http://v1; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; } }`);
    const plainProc = start('nginx', ['-p', `${dir}/`, '-c', plain, '-e', `${dir}/plain.error.log`], 1);
    procs.push(plainProc);

    /** graylane serving `cached` config, and nginx on its export. */
    /**
     * `sampleOneIn` 0: no outcome reporting; `cacheDir`: where nginx keeps cached decisions (default
     * on disk, beside the rest); `lua`: the Lua tier (`export nginx --lua`, the module loaded).
     */
    const decideSetup = async (name: string, cached: boolean, sampleOneIn = 1, cacheDir = join(dir, `${name}-cache`), httpExtra = '', lua = false) => {
      const [decide, report, gateway, admin, listen] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
      const cfg = join(dir, `${name}.yaml`);
      writeFileSync(cfg, graylaneConfig({ decide, report: sampleOneIn > 0 ? report : null, sampleOneIn, v1, v2, cached, lua }));
      const graylane = start(process.execPath, [CLI, 'serve', '-c', cfg, '--listen', `127.0.0.1:${gateway}`, '--admin-listen', `127.0.0.1:${admin}`, '--state', join(dir, `${name}.db`), '--no-access-log', '--log-format', 'json'], 1);
      // (graylane's info lines go to stderr too; they are few: start and stop)
      procs.push(graylane);
      const out = join(dir, `${name}.graylane.conf`);
      const exp = spawnSync(process.execPath, [CLI, 'export', 'nginx', '-c', cfg, '--listen', `127.0.0.1:${listen}`, '--cache-dir', cacheDir, ...(lua ? ['--lua'] : []), '-o', out], { encoding: 'utf8' });
      if (exp.status !== 0) throw new Error(`export nginx failed:\n${exp.stderr}`);
      const main = nginxMain(dir, `${name}-nginx`, `  include ${out};${httpExtra}`, lua ? LUA_MODULES : '');
      const nginx = start('nginx', ['-p', `${dir}/`, '-c', main, '-e', `${dir}/${name}-nginx.error.log`], 1);
      procs.push(nginx);
      return { graylane, nginx, url: `http://127.0.0.1:${listen}`, gatewayUrl: `http://127.0.0.1:${gateway}`, decide };
    };
    const uncached = await decideSetup('uncached', false);
    const cached = await decideSetup('cached', true);
    const sampled = await decideSetup('sampled', true, 10);
    const quiet = await decideSetup('quiet', true, 0);
    // /dev/shm: the cache files on tmpfs (on disk they are in the page cache too; this shows what the file system costs).
    shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/graylane-bench-decide-') : null;
    if (shm !== null) chmodSync(shm, 0o777);
    const tmpfs = shm === null ? null : await decideSetup('tmpfs', true, 0, join(shm, 'cache'));
    // open_file_cache keeps the cache files' descriptors open between hits (nginx checks the inode
    // against the cache node, so a replaced decision is reopened): no open/close per cached decision.
    const fds = await decideSetup('fds', true, 0, join(dir, 'fds-cache'), '\n  open_file_cache max=4096 inactive=20s; open_file_cache_valid 5s;');
    // The Lua tier, when Debian's libnginx-mod-http-lua is installed: every outcome counted, and none.
    const withLua = existsSync(LUA_MODULE);
    if (!withLua) console.error(`${LUA_MODULE} not found: the Lua tier rows are left out (apt-get install libnginx-mod-http-lua)`);
    const lua = withLua ? await decideSetup('lua', true, 1, undefined, '', true) : null;
    const luaQuiet = withLua ? await decideSetup('lua-quiet', true, 0, undefined, '', true) : null;

    interface Peer { name: string; url: string; pids: ChildProcess[] }
    const peers: Peer[] = [
      { name: 'nginx alone (proxy_pass, no decision)', url: `http://127.0.0.1:${plainPort}`, pids: [plainProc] },
      { name: 'nginx + graylane, uncached (app-version rule)', url: uncached.url, pids: [uncached.nginx, uncached.graylane] },
      { name: 'nginx + graylane, cached 5 s (users + percent)', url: cached.url, pids: [cached.nginx, cached.graylane] },
      { name: 'nginx + graylane, cached 5 s, outcomes below 500 sampled 1 in 10', url: sampled.url, pids: [sampled.nginx, sampled.graylane] },
      { name: 'nginx + graylane, cached 5 s, no outcome reporting', url: quiet.url, pids: [quiet.nginx, quiet.graylane] },
      ...(tmpfs === null ? [] : [{ name: 'nginx + graylane, cached 5 s on tmpfs, no outcome reporting', url: tmpfs.url, pids: [tmpfs.nginx, tmpfs.graylane] }]),
      { name: 'nginx + graylane, cached 5 s + open_file_cache, no outcome reporting', url: fds.url, pids: [fds.nginx, fds.graylane] },
      ...(lua === null ? [] : [{ name: 'nginx + graylane, Lua tier: cached 5 s in nginx, every outcome counted in nginx, posted once a second', url: lua.url, pids: [lua.nginx, lua.graylane] }]),
      ...(luaQuiet === null ? [] : [{ name: 'nginx + graylane, Lua tier: cached 5 s in nginx, no outcome reporting', url: luaQuiet.url, pids: [luaQuiet.nginx, luaQuiet.graylane] }]),
      { name: 'graylane alone (its gateway, same route)', url: cached.gatewayUrl, pids: [cached.graylane] },
    ];
    await waitReady(v1);
    for (const p of peers) await waitReady(p.url);

    console.log('## One decision (a check request and its answer, sequential, one keep-alive connection)\n');
    await decisionLatency(uncached.decide); // warm-up
    const d = await decisionLatency(uncached.decide);
    console.log(`${DECISIONS} decisions: median ${d.p50.toFixed(0)} µs, p99 ${d.p99.toFixed(0)} µs (client, loopback and graylane together)\n`);

    for (const p of peers) if (WARMUP > 0) wrk(p.url, WARMUP);
    const runs = new Map<string, { rps: number; perCpu: number; cpu: number; split: number[]; p99: number; errors: number }[]>(peers.map((p) => [p.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of peers) {
        const c0 = p.pids.map((x) => cpuSeconds(x.pid));
        const t0 = Date.now();
        const r = wrk(p.url, SECONDS);
        const secs = (Date.now() - t0) / 1000;
        const split = p.pids.map((x, i) => cpuSeconds(x.pid) - c0[i]!);
        const used = split.reduce((a, b) => a + b, 0);
        runs.get(p.name)!.push({ rps: r.rps, perCpu: r.requests / used, cpu: (100 * used) / secs, split: split.map((u) => (100 * u) / secs), p99: r.p99, errors: r.errors });
        await sleep(500);
      }
    }
    const base = median(runs.get(peers[0]!.name)!.map((r) => r.perCpu));
    console.log(`## Requests per proxy CPU-second: wrk -t1 -c${CONNS} -d${SECONDS}s, bench/users.lua (1000 users), ${ROUNDS} round(s), medians\n`);
    console.log('| setup | req/s | proxy CPU % | of which nginx / graylane | req per proxy CPU-s | vs nginx alone | p99 ms | errors |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const p of peers) {
      const rs = runs.get(p.name)!;
      const perCpu = median(rs.map((r) => r.perCpu));
      const split = p.pids.map((_, i) => median(rs.map((r) => r.split[i]!)).toFixed(0));
      const which = p.name.startsWith('graylane alone') ? `- / ${split[0]}` : split.length === 1 ? `${split[0]} / -` : split.join(' / ');
      console.log(`| ${p.name} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${median(rs.map((r) => r.cpu)).toFixed(0)} | ${which} | ${perCpu.toFixed(0)} | ${(perCpu / base).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${rs.reduce((a, r) => a + r.errors, 0)} |`);
    }
    console.log(`\nMachine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}, ${spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim()}. ` +
      (PIN ? 'Pinned: nginx and graylane on CPU 1, wrk and the origin on CPU 0. ' : 'Not pinned. ') +
      'CPU = user + system time of the proxy processes (nginx master and worker, graylane), ticks of 10 ms.');
  } finally {
    stopAll();
    await sleep(300);
    rmSync(dir, { recursive: true, force: true });
    if (shm !== null) rmSync(shm, { recursive: true, force: true });
  }
}

await main();
