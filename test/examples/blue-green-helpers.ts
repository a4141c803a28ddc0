/**
 * Runs examples/blue-green as a user would: `graylane serve` on the example's config (cwd the example
 * directory, so its hooks run `node hooks.mjs ...`), production deployed by hand with hooks.mjs, and
 * every command through the real CLI. Instances are real detached processes; the run directory
 * lists every pid ever started, and close() kills whatever is left.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { freePort } from '../support/etcd.js';
import type { RolloutDetail } from '../../src/admin/rollouts.js';
import { api, runCli, spawnServe, waitForRollout, writeFile, TOKEN, type ServeChild } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';

export const EXAMPLE = new URL('../../../examples/blue-green/', import.meta.url).pathname;
export const ROLLOUT = 'shop-blue';

export interface Flow {
  serve: ServeChild;
  admin: string;
  runDir: string;
  /** Runs `graylane ARGS... --admin ADMIN --token TOKEN`; fails on a non-zero exit. */
  cli(...args: string[]): Promise<string>;
  /** `node hooks.mjs ARGS...` by hand, as the example's run.mjs does for production. */
  hooks(...args: string[]): void;
  /** Sends `n` requests through the gateway; counts `VERSION RELEASE` of the answers. */
  traffic(n: number): Promise<Record<string, number>>;
  /** hooks.log: one `HOOK COMMAND PHASE ATTEMPT` line per hook run. */
  hookLog(): Promise<string[]>;
  /** The pid in `$BG_RUN_DIR/VERSION.pid`, or null. */
  pidOf(version: string): Promise<number | null>;
  /** kill -9 of graylane, then the same `graylane serve` again (same admin port and state). */
  killAndRestart(): Promise<void>;
  wait(cond: (v: RolloutDetail) => boolean, ms?: number): Promise<RolloutDetail>;
  /** One admin API command (`resume`, `abort`...), as the CLI sends it, without a CLI start. */
  command(what: string): Promise<void>;
  close(): Promise<void>;
}

/** Run directories of flows not closed yet: their instances are killed when the test process exits. */
const openRunDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of openRunDirs) killInstances(dir);
});

/** SIGKILL to every instance ever started in `runDir` (hooks.mjs lists them in `pids`). */
function killInstances(runDir: string): void {
  let pids: number[] = [];
  try {
    pids = readFileSync(join(runDir, 'pids'), 'utf8').trim().split('\n').map(Number);
  } catch {
    // none started
  }
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the flow; `edit` changes the example's config text first (written to the run directory).
 */
export async function startFlow(edit?: (config: string) => string, extraEnv: Record<string, string> = {}): Promise<Flow> {
  const dir = await tempDir();
  let configFile = `${EXAMPLE}graylane.yaml`;
  if (edit !== undefined) {
    configFile = dir.file('graylane.yaml');
    await writeFile(configFile, edit(await readFile(`${EXAMPLE}graylane.yaml`, 'utf8')));
  }
  let adminPort = 0;
  const env = (): Record<string, string> => ({ ...extraEnv, BG_RUN_DIR: dir.path, GRAYLANE_ADMIN: `http://127.0.0.1:${adminPort}` });
  const args = (): string[] => ['-c', configFile, '--listen', '127.0.0.1:0', '--admin-listen', `127.0.0.1:${adminPort}`, '--state', dir.file('state.db'), '--no-access-log'];
  // The admin port is fixed for the flow (instances register there, and find it again after a
  // restart): picked free, and picked again if another process takes it first.
  let serve: ServeChild | undefined;
  for (let attempt = 0; serve === undefined; attempt++) {
    adminPort = await freePort();
    try {
      serve = await spawnServe(args(), EXAMPLE, env());
    } catch (e) {
      if (attempt === 2) throw e;
    }
  }
  openRunDirs.add(dir.path);
  const admin = `http://127.0.0.1:${adminPort}`;
  const flow: Flow = {
    serve,
    admin,
    runDir: dir.path,
    async cli(...cliArgs) {
      const r = await runCli([...cliArgs, '--admin', admin, '--token', TOKEN]);
      if (r.code !== 0) throw new Error(`graylane ${cliArgs.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    hooks(...hookArgs) {
      const r = spawnSync(process.execPath, ['hooks.mjs', ...hookArgs], {
        cwd: EXAMPLE,
        env: { ...process.env, ...env(), GRAYLANE_ADMIN_TOKEN: TOKEN },
        encoding: 'utf8',
        timeout: 20_000,
      });
      if (r.status !== 0) throw new Error(`hooks.mjs ${hookArgs.join(' ')} exited ${r.status}: ${r.stderr}`);
    },
    async traffic(n) {
      const out: Record<string, number> = {};
      for (let i = 0; i < n; i++) {
        const res = await request(`${flow.serve.gatewayUrl}/`);
        await res.body.dump();
        const key = res.statusCode === 200 ? `${res.headers['x-version']} ${res.headers['x-release']}` : `status ${res.statusCode}`;
        out[key] = (out[key] ?? 0) + 1;
      }
      return out;
    },
    async hookLog() {
      try {
        return (await readFile(dir.file('hooks.log'), 'utf8')).trim().split('\n');
      } catch {
        return [];
      }
    },
    async pidOf(version) {
      try {
        return Number(await readFile(dir.file(`${version}.pid`), 'utf8'));
      } catch {
        return null;
      }
    },
    async killAndRestart() {
      flow.serve.child.kill('SIGKILL');
      await flow.serve.exited;
      flow.serve = await spawnServe(args(), EXAMPLE, env());
    },
    wait(cond, ms = 30_000) {
      return waitForRollout(admin, ROLLOUT, cond, ms);
    },
    async command(what) {
      const r = await api(admin, 'POST', `/api/v1/rollouts/${ROLLOUT}/${what}`, {});
      if (r.status !== 200) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    },
    async close() {
      flow.serve.child.kill('SIGKILL');
      await flow.serve.exited;
      killInstances(dir.path);
      openRunDirs.delete(dir.path);
      await dir.remove();
    },
  };
  return flow;
}
