/**
 * Test support for full-link gray: a whole graylane process (src/app.ts: gateway, mesh listener,
 * admin API, registry) on a config written to a temporary directory, service instances as child
 * processes running examples/full-link/service.mjs (HTTP; the lanes SDK: withLanes,
 * installLanePropagation, register) or grpc-service.mjs (gRPC; withGrpcLanes), and a client.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { request } from 'undici';
import { startApp, type App } from '../../src/app.js';

export const TOKEN = 'full-link-token';

/** The example's services, the ones users copy (dist/test/full-link -> examples/full-link). */
const SCRIPTS = {
  http: fileURLToPath(new URL('../../../examples/full-link/service.mjs', import.meta.url)),
  grpc: fileURLToPath(new URL('../../../examples/full-link/grpc-service.mjs', import.meta.url)),
};

export interface Graylane {
  app: App;
  entry: string;
  mesh: string;
  admin: string;
  close(): Promise<void>;
}

/**
 * Starts graylane on `yaml` (listeners on port 0 unless the YAML says otherwise) with the admin
 * token {@link TOKEN}; the state file goes to a temporary directory.
 */
export async function startGraylane(yaml: string): Promise<Graylane> {
  const dir = await mkdtemp(join(tmpdir(), 'graylane-full-link-'));
  const file = join(dir, 'graylane.yaml');
  await writeFile(file, `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\naccessLog: false\nstate: { path: ${join(dir, 'state.db')} }\n${yaml}`);
  const app = await startApp({ configFile: file, logger: pino({ level: 'silent' }), adminToken: TOKEN });
  const mesh = app.gateway.meshAddress;
  return {
    app,
    entry: `http://127.0.0.1:${app.gateway.address.port}`,
    mesh: mesh === null ? '' : `http://127.0.0.1:${mesh.port}`,
    admin: `http://127.0.0.1:${app.admin.address.port}`,
    async close() {
      await app.close({ drainMs: 0 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Instance {
  name: string;
  /** The registration id the admin API gave it. */
  id: string;
  url: string;
  child: ChildProcess;
  /** Resolves when the process has exited (with its signal, if a signal ended it). */
  exited: Promise<NodeJS.Signals | null>;
}

/**
 * Starts one instance of examples/full-link/service.mjs (or grpc-service.mjs with `grpc`) named
 * `name` (`<service>-<version>`, e.g. `c-gray`); resolves once it has registered. `next` is how it
 * calls the next service for each request (service.mjs: an http:// or grpc:// URL).
 */
export async function startInstance(
  gl: Graylane,
  name: string,
  opts: { next?: string; ttlMs?: number; heartbeatMs?: number; token?: string; grpc?: boolean } = {},
): Promise<Instance> {
  const [service, version] = name.split('-');
  const child = spawn(process.execPath, [SCRIPTS[opts.grpc === true ? 'grpc' : 'http']], {
    env: {
      ...process.env,
      NAME: name,
      SERVICE: service,
      VERSION: version,
      NEXT: opts.next ?? '',
      GRAYLANE_ADMIN: gl.admin,
      GRAYLANE_TOKEN: opts.token ?? TOKEN,
      ...(opts.ttlMs === undefined ? {} : { TTL_MS: String(opts.ttlMs) }),
      ...(opts.heartbeatMs === undefined ? {} : { HEARTBEAT_MS: String(opts.heartbeatMs) }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // a process left running would keep the test file from ending
      reject(new Error(`${name} did not register in 10 s\n${stderr}`));
    }, 10_000);
    void exited.then(() => reject(new Error(`${name} exited before registering\n${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parts = line.split(' ');
      if (parts[0] === 'ready') {
        clearTimeout(timer);
        resolve(parts);
      }
    });
  });
  return { name, id: ready[2]!, url: ready[3]!, child, exited };
}

/** Stops an instance with `signal` (SIGTERM: it deregisters first; SIGKILL: it just dies). */
export async function stopInstance(inst: Instance, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (inst.child.exitCode === null && inst.child.signalCode === null) inst.child.kill(signal);
  await inst.exited;
}

/** What a service instance answers: itself, the lane it saw, its incoming baggage, and the next hop's answer. */
export interface Hop {
  name?: string;
  lane: string | null;
  baggage: string | null;
  next: Hop | null;
  /** Set instead of `name` when the next hop answered an HTTP error... */
  status?: number;
  /** ...or a gRPC error. */
  grpcStatus?: number;
  error?: string;
  /** 'gRPC' when the previous hop called this one over gRPC (examples/full-link/service.mjs). */
  via?: 'gRPC';
}

/** The instances that served a request, in call order (`HTTP 503`, `gRPC status 14` for a hop that failed). */
export function pathOf(hop: Hop | null): string[] {
  const out: string[] = [];
  for (let h = hop; h !== null; h = h.next) out.push(h.name ?? (h.grpcStatus === undefined ? `HTTP ${h.status}` : `gRPC status ${h.grpcStatus}`));
  return out;
}

/**
 * The chain's config: services a (stable, gray), b (stable) and c (stable, gray), and the route
 * `entry` to a, whose rule puts user 1001 (header x-user-id) in lane gray; `mesh` is the mesh
 * listener's YAML value (e.g. `{ listen: 127.0.0.1:0 }`).
 */
export function chainConfig(mesh: string): string {
  return `
mesh: ${mesh}
services:
  a: { versions: { stable: [], gray: [] } }
  b: { versions: { stable: [] } }
  c: { versions: { stable: [], gray: [] } }
routes:
  - name: entry
    match: { pathPrefix: / }
    service: a
    identity: [header:x-user-id]
    rules:
      - { name: testers, lane: gray, users: ["1001"] }
`;
}

/** One request through `gl`'s entry as `user` (x-user-id): what every hop answered. */
export async function hopsFor(gl: Graylane, user: string): Promise<Hop> {
  const r = await call(`${gl.entry}/`, { headers: { 'x-user-id': user } });
  assert.equal(r.status, 200, r.text);
  return r.json<Hop>();
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T>(): T;
}

/** One HTTP request; the body is read whole. */
export async function call(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: unknown; token?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const r = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers, body });
  const text = await r.body.text();
  return { status: r.statusCode, headers: r.headers, text, json: <T>() => JSON.parse(text) as T };
}
