/**
 * The plumbing `graylane rollout ...` and `graylane release ...` share: subcommands that take
 * `--admin` / `--token`, the admin client, intents (promote, abort...) posted to the API, `get`
 * with `--watch`, and `events`. The admin address comes from `--admin` or GRAYLANE_ADMIN, the token
 * from `--token` or GRAYLANE_ADMIN_TOKEN. A refusal prints the API's reason and exits 1.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type { StoredEvent } from '../store/types.js';
import { AdminClient, DEFAULT_ADMIN_URL } from './admin-client.js';
import { eventLine } from './rollout-render.js';
import { positiveInt } from './top.js';

export interface ClientOptions {
  admin?: string;
  token?: string;
}

/** What the API answers for one rollout or release: enough for an intent's line and a watch. */
interface SteeredView {
  name: string;
  phase: string;
  reason: string;
  message: string;
}

/** A kind of thing the CLI steers: where the admin API keeps it and how one is shown. */
export interface Steered<V extends SteeredView> {
  /** The API collection: `/api/v1/<collection>/<name>`. */
  collection: 'rollouts' | 'releases';
  /** The whole view (`get`, and each redraw of `get --watch`). */
  render(detail: V & { events: StoredEvent[] }, opts: { now: number }): string;
  /** One line of where it stands, printed by a watch off a terminal when it changes. */
  stateLine(view: V): string;
}

/** A subcommand of `group` with the admin API options. */
export function subcommands(group: Command): (name: string, description: string) => Command {
  return (name, description) =>
    group
      .command(name)
      .description(description)
      .option('--admin <url>', `admin API address, http://HOST:PORT or HOST:PORT (env GRAYLANE_ADMIN, default ${DEFAULT_ADMIN_URL})`)
      .option('--token <token>', 'admin bearer token (env GRAYLANE_ADMIN_TOKEN)');
}

export function clientOf(opts: ClientOptions): AdminClient {
  return new AdminClient(opts.admin ?? process.env.GRAYLANE_ADMIN ?? DEFAULT_ADMIN_URL, opts.token ?? (process.env.GRAYLANE_ADMIN_TOKEN || undefined));
}

/** Posts an intent (`promote`, `abort`...) and prints where the rollout or release now stands. */
export async function intent(kind: Steered<SteeredView>, opts: ClientOptions, name: string, action: string, body: Record<string, unknown> = {}): Promise<void> {
  const v = await clientOf(opts).post<SteeredView & { durable?: boolean; warning?: string }>(`/api/v1/${kind.collection}/${encodeURIComponent(name)}/${action}`, body);
  console.log(`${v.name}: ${v.phase} (${v.reason}): ${v.message}`);
  // An abort the state store refused: it routes, but is not durable yet. Said on stderr, exit 0
  // (the traffic did move); `get` shows when the write lands.
  if (v.durable === false) console.error(`WARNING: ${v.warning ?? 'the abort is not yet written to the state store'}`);
}

/** `get NAME [--watch] [--events N] [--interval MS] [--json]`. */
export function addGet<V extends SteeredView>(sub: ReturnType<typeof subcommands>, kind: Steered<V>, noun: string, description: string): void {
  sub('get', description)
    .argument('<name>', `${noun} name`)
    .option('-w, --watch', 'keep watching: redraw in place on a terminal, print changes as lines otherwise')
    .option('--events <n>', 'recent events to show', toInt, 10)
    // At least 1: 0 would poll the admin API in a tight loop.
    .option('--interval <ms>', 'how often --watch polls, in milliseconds', positiveInt, 1000)
    .option('--json', 'print the API answer as JSON')
    .action(async (name: string, opts: ClientOptions & { watch?: boolean; events: number; interval: number; json?: boolean }) => {
      const client = clientOf(opts);
      const path = `/api/v1/${kind.collection}/${encodeURIComponent(name)}?events=${opts.events}`;
      if (opts.watch) return watch(client, kind, name, path, opts.interval);
      const detail = await client.get<V & { events: StoredEvent[] }>(path);
      process.stdout.write(opts.json ? `${JSON.stringify(detail, null, 2)}\n` : kind.render(detail, { now: Date.now() }));
    });
}

/** `events NAME [--after SEQ] [--json]`. */
export function addEvents(sub: ReturnType<typeof subcommands>, kind: Steered<SteeredView>, noun: string): void {
  sub('events', `a ${noun}'s event log, oldest first`)
    .argument('<name>', `${noun} name`)
    .option('--after <seq>', 'only events after this sequence number', toInt, 0)
    .option('--json', 'print the API answer as JSON')
    .action(async (name: string, opts: ClientOptions & { after: number; json?: boolean }) => {
      const { events } = await clientOf(opts).get<{ events: StoredEvent[] }>(`/api/v1/${kind.collection}/${encodeURIComponent(name)}/events?after=${opts.after}`);
      if (opts.json) process.stdout.write(`${JSON.stringify(events, null, 2)}\n`);
      else for (const e of events) console.log(`${String(e.seq).padStart(6)}  ${eventLine(e)}`);
    });
}

/**
 * Polls until Ctrl-C. On a terminal the whole view is redrawn in place; otherwise the view is printed
 * once and then only what changed: every new event (read by sequence number, so a burst between two
 * polls is printed whole), and the state line when it moves.
 */
async function watch<V extends SteeredView>(client: AdminClient, kind: Steered<V>, name: string, path: string, intervalMs: number): Promise<void> {
  const eventsPath = `/api/v1/${kind.collection}/${encodeURIComponent(name)}/events?after=`;
  const out = process.stdout;
  const tty = out.isTTY === true;
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  process.once('SIGTERM', () => (stop = true));
  let lastSeq = -1;
  let lastState = '';
  let lastError = '';
  while (!stop) {
    try {
      const d = await client.get<V & { events: StoredEvent[] }>(path);
      const state = kind.stateLine(d);
      lastError = '';
      if (tty) {
        out.write(`\x1b[H\x1b[2J${kind.render(d, { now: Date.now() })}`);
      } else if (lastSeq < 0) {
        out.write(kind.render(d, { now: Date.now() }));
      } else {
        // Pages of events after the last one printed, until none is left (bounded per poll).
        for (let page = 0; page < 20; page++) {
          const { events } = await client.get<{ events: StoredEvent[] }>(`${eventsPath}${lastSeq}`);
          if (events.length === 0) break;
          for (const e of events) out.write(`${eventLine(e)}\n`);
          lastSeq = events.at(-1)!.seq;
        }
        if (state !== lastState) out.write(`${state}\n`);
      }
      lastSeq = Math.max(lastSeq, 0, ...d.events.map((e) => e.seq));
      lastState = state;
    } catch (err) {
      // A restarting server is not the end of a watch.
      const message = (err as Error).message;
      if (tty) out.write(`\x1b[H\x1b[2J${message} (retrying)\n`);
      else if (message !== lastError) out.write(`${message} (retrying)\n`);
      lastError = message;
    }
    if (!stop) await sleep(intervalMs);
  }
}

export function toInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}
