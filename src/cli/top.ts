/**
 * `graylane top`: a live view of a running `graylane serve`, read from its admin API
 * (`GET /api/v1/overview`) every interval. On a terminal the screen is redrawn in place; otherwise
 * (a pipe, a log) each refresh is printed as plain lines under a blank line.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from 'commander';
import type { Overview } from '../metrics/overview.js';
import { AdminClient, DEFAULT_ADMIN_URL } from './admin-client.js';
import { renderTop } from './top-render.js';

export interface TopCommandOptions {
  admin?: string;
  interval: number;
  /** Stop after this many refreshes (default: until Ctrl-C). */
  iterations?: number;
}

export async function topCommand(opts: TopCommandOptions): Promise<void> {
  const base = opts.admin ?? process.env.GRAYLANE_ADMIN ?? DEFAULT_ADMIN_URL;
  const client = new AdminClient(base, undefined);
  const out = process.stdout;
  const tty = out.isTTY === true;
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  process.once('SIGTERM', () => (stop = true));
  let lastError = '';
  const last = (n: number): boolean => opts.iterations !== undefined && n === opts.iterations - 1;
  for (let n = 0; !stop && (opts.iterations === undefined || n < opts.iterations); n++) {
    if (n > 0) await sleep(opts.interval);
    try {
      const text = renderTop(await client.get<Overview>('/api/v1/overview'), { source: client.base, color: tty });
      lastError = '';
      out.write(tty ? `\x1b[H\x1b[2J${text}` : `${n > 0 ? '\n' : ''}${text}`);
    } catch (err) {
      // A restarting server is not the end of top, unless this was the last refresh asked for.
      const message = last(n) ? (err as Error).message : `${(err as Error).message} (retrying)`;
      if (tty) out.write(`\x1b[H\x1b[2J${message}\n`);
      else if (message !== lastError) out.write(`${message}\n`);
      lastError = message;
      process.exitCode = 1;
    }
  }
  if (lastError === '') process.exitCode = 0;
}

/** Commander parser of a whole number >= 1. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}
