/**
 * Support for the end-to-end rollout tests: real upstreams on 127.0.0.1 that say which version they
 * are, the whole process (gateway + controller + admin API) either in-process (startApp) or as a
 * `graylane serve` child process for tests that kill it, an admin API client, and polling helpers.
 * Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import pino from 'pino';
import { Agent, request } from 'undici';
import { startApp, type App } from '../../src/app.js';
import type { RolloutDetail } from '../../src/admin/rollouts.js';

export const TOKEN = 'test-admin-token-0123456789';
/** The compiled CLI entry point (dist/src/cli/main.js), seen from dist/test/rollout/. */
export const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

export { startUpstream, type Upstream } from '../support/upstream.js';

/**
 * A config with service `web` (versions stable and beta, more with `extraVersions`), one catch-all
 * route, the gateway and admin API on free ports, and `rest` (rollouts, templates) appended.
 */
export function config(opts: { stable: string; beta: string; state: string; rest: string; extraVersions?: Record<string, string> }): string {
  const extra = Object.entries(opts.extraVersions ?? {}).map(([v, url]) => `      ${v}: [${url}]\n`).join('');
  return (
    'listen: 127.0.0.1:0\n' +
    'accessLog: false\n' +
    'drain: 0s\n' +
    'admin: { listen: 127.0.0.1:0 }\n' +
    `state: { path: ${JSON.stringify(opts.state)} }\n` +
    'services:\n' +
    '  web:\n' +
    '    versions:\n' +
    `      stable: [${opts.stable}]\n` +
    `      beta: [${opts.beta}]\n` +
    extra +
    'routes:\n' +
    '  - service: web\n' +
    '    visitorCookie: false\n' +
    opts.rest
  );
}

/** The process in-process, logging nothing; `token` null starts it without an admin token. */
export function startTestApp(configFile: string, token: string | null = TOKEN): Promise<App> {
  return startApp({ configFile, logger: pino({ level: 'silent' }), adminToken: token ?? undefined });
}

export function adminUrlOf(app: App): string {
  return `http://127.0.0.1:${app.admin.address.port}`;
}

export function gatewayUrlOf(app: App): string {
  return `http://127.0.0.1:${app.gateway.address.port}`;
}

/** One keep-alive client for the gateway, so every request goes the same way. */
const agent = new Agent({ connections: 4, keepAliveTimeout: 10_000 });

/** Sends `n` requests one after the other; returns the version that answered each. */
export async function send(gatewayUrl: string, n: number, headers: Record<string, string> = {}): Promise<string[]> {
  const versions: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(`${gatewayUrl}/`, { headers, dispatcher: agent });
    await res.body.dump();
    versions.push(String(res.headers['x-version'] ?? `status ${res.statusCode}`));
  }
  return versions;
}

export function tally(items: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}

/** Requests sent in the background until stop(), each noted with the time it was sent. */
export function backgroundTraffic(gatewayUrl: string): { sent: { at: number; version: string }[]; stop(): Promise<void> } {
  const sent: { at: number; version: string }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      const [version] = await send(gatewayUrl, 1);
      sent.push({ at, version: version! });
      // A short breath so the controller's process is not starved on a small machine.
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    sent,
    async stop() {
      running = false;
      await loop;
    },
  };
}

export interface ApiReply<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** One admin API call; `token` null sends no Authorization header. */
export async function api<T = Record<string, unknown>>(
  adminUrl: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  token: string | null = TOKEN,
): Promise<ApiReply<T>> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${adminUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, body: (text ? JSON.parse(text) : {}) as T };
}

export async function getRollout(adminUrl: string, name: string, events = 0): Promise<RolloutDetail> {
  const r = await api<RolloutDetail>(adminUrl, 'GET', `/api/v1/rollouts/${name}?events=${events}`);
  if (r.status !== 200) throw new Error(`GET rollout ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Polls the rollout until `cond` holds; fails with the last view after `ms`. */
export async function waitForRollout(adminUrl: string, name: string, cond: (v: RolloutDetail) => boolean, ms = 10_000): Promise<RolloutDetail> {
  const end = Date.now() + ms;
  let last: RolloutDetail | undefined;
  while (Date.now() < end) {
    last = await getRollout(adminUrl, name);
    if (cond(last)) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`rollout ${name} did not reach the expected state in ${ms} ms; last: ${last?.phase}/${last?.reason} step ${last?.currentStep}: ${last?.message}`);
}

export interface ServeChild {
  child: ChildProcess;
  gatewayUrl: string;
  adminUrl: string;
  /** stderr lines so far (the operational log). */
  log: string[];
  exited: Promise<number | null>;
}

/**
 * `graylane serve -c CONFIG` as a child process (the real CLI), with the admin token in its
 * environment; resolves once both the gateway and the admin API listen.
 */
export function startServe(configFile: string, cwd: string): Promise<ServeChild> {
  return spawnServe(['-c', configFile], cwd);
}

/** `graylane serve ARGS...` as a child process; resolves once the gateway and the admin API listen. */
export async function spawnServe(args: string[], cwd: string, env: Record<string, string> = {}): Promise<ServeChild> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    cwd,
    env: { ...process.env, GRAYLANE_ADMIN_TOKEN: TOKEN, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let buffered = '';
  let gatewayUrl = '';
  let adminUrl = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running: an orphaned child would keep the test process (and the run) alive.
      child.kill('SIGKILL');
      reject(new Error(`graylane serve did not start in time:\n${log.join('\n')}`));
    }, 15_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        log.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; listen?: string; admin?: string };
          if (rec.msg === 'gateway listening') gatewayUrl = `http://${rec.listen}`;
          if (rec.msg === 'admin API listening') adminUrl = rec.admin!;
        } catch {
          // Not a log record (e.g. a config error printed as text).
        }
        if (gatewayUrl && adminUrl) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`graylane serve exited with ${code}:\n${log.join('\n')}`));
    });
  });
  return { child, gatewayUrl, adminUrl, log, exited };
}

/** Runs the real CLI to completion; resolves with its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`graylane ${args.join(' ')} did not finish in time`));
    }, 15_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export { writeFile };
