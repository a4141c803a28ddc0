/**
 * Support for the worker tests: `graylane serve --workers N` as a real child process (the primary)
 * with its real worker processes, upstreams that answer slowly or fail on request, keep-alive
 * connections whose worker is known (the opt-in `x-graylane-worker` header), and process checks.
 * Every wait is bounded.
 */
import { rename, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, request } from 'undici';
import { api, spawnServe, TOKEN, type ServeChild } from '../rollout/helpers.js';
import { until } from '../support/wait.js';

export { TOKEN };

export interface Upstream {
  version: string;
  url: string;
  /** Requests received so far. */
  count: number;
  close(): Promise<void>;
}

/**
 * An upstream answering `{ version }` with `x-version`; `?delay=MS` answers after MS, and a request
 * with `x-fail: 1` gets a 500 (every request with `alwaysFail`).
 */
export async function startUpstream(version: string, opts: { alwaysFail?: boolean } = {}): Promise<Upstream> {
  const self = { version, count: 0 } as Upstream;
  const server = http.createServer((req, res) => {
    self.count++;
    const delay = Number(new URL(req.url!, 'http://x').searchParams.get('delay') ?? 0);
    const fail = opts.alwaysFail === true || req.headers['x-fail'] === '1';
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ version });
      const answer = (): void => {
        if (res.destroyed) return;
        res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json', 'x-version': version, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return self;
}

/** `graylane serve -c FILE --workers N` (the real CLI); resolves once the gateway and admin API listen. */
export function startPrimary(configFile: string, cwd: string, workers: number | 'auto'): Promise<ServeChild> {
  return spawnServe(['-c', configFile, '--workers', String(workers), '--log-format', 'json'], cwd);
}

export interface WorkerInfo {
  slot: number;
  pid: number | null;
  snapshotId: string;
  restarts: number;
}

export interface ConfigView {
  snapshotId: string;
  reloads: number;
  lastReloadError: { message: string } | null;
  workers: WorkerInfo[];
}

export async function configOf(adminUrl: string): Promise<ConfigView> {
  const r = await api<ConfigView>(adminUrl, 'GET', '/api/v1/config');
  if (r.status !== 200) throw new Error(`GET /api/v1/config: ${r.status}`);
  return r.body;
}

/** One answer: its status, the version and the worker that served. */
export interface Answer {
  status: number;
  version: string;
  worker: string;
}

/** One request on a new connection (`connection: close`): node:cluster hands each new connection to the next worker. */
export async function once(gatewayUrl: string, path = '/', headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(`${gatewayUrl}${path}`, { headers: { connection: 'close', ...headers } });
  await res.body.dump();
  return { status: res.statusCode, version: String(res.headers['x-version'] ?? ''), worker: String(res.headers['x-graylane-worker'] ?? '') };
}

/** Requests on new connections until every worker in `workers` answered `perWorker` times (bounded): answers by worker. */
export async function fromEveryWorker(gatewayUrl: string, workers: number, perWorker = 3, headers: Record<string, string> = {}): Promise<Map<string, Answer[]>> {
  const by = new Map<string, Answer[]>();
  const done = (): boolean => by.size >= workers && [...by.values()].every((a) => a.length >= perWorker);
  for (let i = 0; i < 40 * workers * perWorker && !done(); i++) {
    const a = await once(gatewayUrl, '/', headers);
    const list = by.get(a.worker) ?? [];
    list.push(a);
    by.set(a.worker, list);
  }
  if (!done()) throw new Error(`not every worker answered ${perWorker} times: ${JSON.stringify([...by].map(([w, a]) => [w, a.length]))}`);
  return by;
}

/** A keep-alive connection and the worker that owns it. */
export interface Connection {
  client: Client;
  worker: string;
}

/** Opens keep-alive connections until at least `each` belong to every one of `workers` workers; each asked once. */
export async function connectionsOnEveryWorker(gatewayUrl: string, workers: number, each = 1): Promise<Connection[]> {
  const conns: Connection[] = [];
  const count = (w: string): number => conns.filter((c) => c.worker === w).length;
  for (let i = 0; i < 20 * workers * each; i++) {
    const client = new Client(gatewayUrl, { pipelining: 1, keepAliveTimeout: 60_000 });
    const res = await client.request({ path: '/', method: 'GET' });
    await res.body.dump();
    conns.push({ client, worker: String(res.headers['x-graylane-worker']) });
    const seen = new Set(conns.map((c) => c.worker));
    if (seen.size >= workers && [...seen].every((w) => count(w) >= each)) return conns;
  }
  await Promise.all(conns.map((c) => c.client.destroy()));
  throw new Error(`could not open ${each} connection(s) on each of ${workers} workers`);
}

/** The sum of a metric's samples in a Prometheus text page (optionally only samples whose labels contain `labels`). */
export function metricSum(page: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of page.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labels !== '' && !rest.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export async function metrics(adminUrl: string): Promise<string> {
  const res = await request(`${adminUrl}/metrics`);
  return res.body.text();
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until none of `pids` runs (bounded), naming the ones left. */
export async function allGone(pids: number[], ms = 10_000): Promise<void> {
  await until(`processes ${pids.join(', ')} exit`, () => pids.every((p) => !alive(p)), ms);
}

/** Stops the primary and makes sure no worker is left, whatever the test did. */
export async function stopPrimary(serve: ServeChild, workerPids: number[]): Promise<void> {
  if (serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
  await serve.exited;
  try {
    await allGone(workerPids, 10_000);
  } finally {
    for (const pid of workerPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/** Writes `text` to `file` as an editor saves: a whole new file renamed over the old, never a truncated one the watcher could read. */
export async function writeConfig(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}
