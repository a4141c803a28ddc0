/**
 * Runs a command for a hook or a job analysis: no shell unless the config asked for one (`/bin/sh -c`
 * comes from src/spec/rollout-model.ts), a timeout that kills the whole process group (so `npm run e2e` takes its
 * children with it), and the tail of stdout+stderr kept for the status and the events.
 */
import { spawn } from 'node:child_process';

export interface CommandOutcome {
  /** null when killed by a signal or when it never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The last `outputLimit` characters of stdout and stderr, interleaved as they came. */
  output: string;
  durationMs: number;
  /** Set when the command could not be started (ENOENT, EACCES). */
  spawnError: string | null;
}

export interface CommandOptions {
  env?: Record<string, string>;
  cwd?: string | null;
  timeoutMs: number;
  /** Characters of output kept (default 4096). */
  outputLimit?: number;
  /** Grace between SIGTERM and SIGKILL on timeout (default 2000 ms). */
  killGraceMs?: number;
}

/** Never rejects: every failure is in the outcome. */
export function runCommand(argv: readonly string[], opts: CommandOptions): Promise<CommandOutcome> {
  const started = Date.now();
  const limit = opts.outputLimit ?? 4096;
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    let done = false;
    const append = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.length > limit * 2) output = output.slice(-limit);
    };
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({ exitCode, signal, timedOut, output: output.slice(-limit), durationMs: Date.now() - started, spawnError });
    };
    let killTimer: NodeJS.Timeout | undefined;
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? undefined,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a timeout can kill the command's children too.
      detached: true,
    });
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 2000);
      killTimer.unref();
    }, opts.timeoutMs);
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    child.on('error', (err) => finish(null, null, err.message));
    // 'close' waits for the pipes; a grandchild that escaped the group could hold them open, so
    // 'exit' settles it shortly after in that case.
    child.on('close', (code, signal) => finish(code, signal, null));
    child.on('exit', (code, signal) => {
      setTimeout(() => finish(code, signal, null), 1000).unref();
    });
  });
}

/** `exit code 3`, `killed by SIGKILL`, `timed out after 5000 ms`, `could not start: ...`. */
export function describeOutcome(o: CommandOutcome, timeoutMs: number): string {
  if (o.spawnError !== null) return `could not start: ${o.spawnError}`;
  if (o.timedOut) return `timed out after ${timeoutMs} ms`;
  if (o.exitCode !== null) return `exit code ${o.exitCode}`;
  return `killed by ${o.signal ?? 'a signal'}`;
}
