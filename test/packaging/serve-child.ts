/**
 * A real `graylane serve` child for the packaging tests: started from whichever tree is being
 * tested (the checkout, an installed tarball, a pruned image tree), on ports the OS picks, with the
 * addresses read back from its JSON log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { sleep } from '../support/wait.js';

export interface ServeChild {
  child: ChildProcess;
  /** http://127.0.0.1:PORT of the gateway listener. */
  gateway: string;
  /** http://127.0.0.1:PORT of the admin listener. */
  admin: string;
  /** Everything the child wrote to stderr so far (its operational log). */
  stderr(): string;
  /** SIGTERM, then the exit code (SIGKILL after 10 s). */
  stop(): Promise<number | null>;
}

/** Reads `msg` lines of a pino JSON log. */
function logLine(log: string, msg: string): Record<string, unknown> | undefined {
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.msg === msg) return o;
    } catch {
      // a partial line: read on the next poll
    }
  }
  return undefined;
}

/**
 * Spawns `command args... serve <serveArgs> --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0
 * --log-format json` and waits (at most 20 s) until both listeners are up.
 */
export async function startServe(command: string, args: string[], serveArgs: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ServeChild> {
  const child = spawn(command, [...args, 'serve', ...serveArgs, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--log-format', 'json', '--no-access-log'], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gateway: string | undefined;
  let admin: string | undefined;
  for (let i = 0; i < 400 && child.exitCode === null && (gateway === undefined || admin === undefined); i++) {
    gateway ??= logLine(stderr, 'gateway listening')?.listen as string | undefined;
    admin ??= logLine(stderr, 'admin API listening')?.admin as string | undefined;
    if (gateway === undefined || admin === undefined) await sleep(50);
  }
  if (gateway === undefined || admin === undefined) {
    child.kill('SIGKILL');
    throw new Error(`graylane serve did not start (exit ${child.exitCode}):\n${stderr}`);
  }
  return {
    child,
    gateway: `http://${gateway}`,
    admin,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** An upstream that answers every request with `hello from <name>` and the path it saw. */
export async function startUpstream(name = 'stable'): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => res.end(`hello from ${name} ${req.url}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The smallest config that serves: every path to `upstream`, one version. */
export function minimalConfig(upstream: string): string {
  return ['services:', '  app:', '    versions:', `      stable: { endpoints: ["${upstream}"] }`, 'routes:', '  - match: { pathPrefix: / }', '    service: app', ''].join('\n');
}
