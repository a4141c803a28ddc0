/**
 * `graylane release ...`: watch and steer releases (a lane across several services, one unit) of a
 * running `graylane serve` through its admin API, with the rollout verbs and output style. Commands
 * state an intent; the controller acts on the release's one status.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type { ReleaseView } from '../rollout/view.js';
import type { StoredEvent } from '../store/types.js';
import { AdminClient, DEFAULT_ADMIN_URL } from './admin-client.js';
import { eventLine, renderRelease, renderReleaseList } from './rollout-render.js';

interface ClientOptions {
  admin?: string;
  token?: string;
}

type Detail = ReleaseView & { events: StoredEvent[] };

/** Adds the `release` command and its subcommands to the program. */
export function registerReleaseCommands(program: Command): void {
  const release = program.command('release').description('watch and steer releases (a lane across several services, promoted or aborted as one unit) of a running `graylane serve`');

  const sub = (name: string, description: string) =>
    release
      .command(name)
      .description(description)
      .option('--admin <url>', `admin API address (env GRAYLANE_ADMIN, default ${DEFAULT_ADMIN_URL})`)
      .option('--token <token>', 'admin bearer token (env GRAYLANE_ADMIN_TOKEN)');

  sub('list', 'every release: one row each, its services inside')
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: ClientOptions & { json?: boolean }) => {
      const { releases } = await clientOf(opts).get<{ releases: ReleaseView[] }>('/api/v1/releases');
      process.stdout.write(opts.json ? `${JSON.stringify(releases, null, 2)}\n` : renderReleaseList(releases));
    });

  sub('get', 'a release: its services, steps (the current one marked), share, analysis runs, hooks, recent events')
    .argument('<name>', 'release name')
    .option('-w, --watch', 'keep watching: redraw in place on a terminal, print changes as lines otherwise')
    .option('--events <n>', 'recent events to show', toInt, 10)
    .option('--interval <ms>', 'how often --watch polls, in milliseconds', toInt, 1000)
    .option('--json', 'print the API answer as JSON')
    .action(async (name: string, opts: ClientOptions & { watch?: boolean; events: number; interval: number; json?: boolean }) => {
      const client = clientOf(opts);
      const path = `/api/v1/releases/${encodeURIComponent(name)}?events=${opts.events}`;
      if (opts.watch) return watch(client, name, path, opts.interval);
      const detail = await client.get<Detail>(path);
      process.stdout.write(opts.json ? `${JSON.stringify(detail, null, 2)}\n` : renderRelease(detail, { now: Date.now() }));
    });

  sub('promote', 'end the current pause or analysis step and go on (--full: skip every remaining pause and analysis); after the last step every service\'s lane version becomes its stable, in one commit')
    .argument('<name>', 'release name')
    .option('--full', 'promote fully: skip the remaining pauses and analyses (hooks still run)')
    .action((name: string, opts: ClientOptions & { full?: boolean }) => intent(opts, name, 'promote', opts.full ? { full: true } : {}));
  sub('abort', 'abort: every user of the release back on the stable versions at once, users rules put into the lane included')
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'abort'));
  sub('retry', 'start an aborted (or undone) release again from its first step')
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'retry'));
  sub('undo', "after completion, within the release's rollbackWindow: every service's previous stable back at once")
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'undo'));
  sub('pause', 'stop advancing steps (analysis goes on) until resume or promote')
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'pause'));
  sub('resume', 'lift a pause set with `release pause`')
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'resume'));
  sub('events', "a release's event log, oldest first")
    .argument('<name>', 'release name')
    .option('--after <seq>', 'only events after this sequence number', toInt, 0)
    .option('--json', 'print the API answer as JSON')
    .action(async (name: string, opts: ClientOptions & { after: number; json?: boolean }) => {
      const { events } = await clientOf(opts).get<{ events: StoredEvent[] }>(`/api/v1/releases/${encodeURIComponent(name)}/events?after=${opts.after}`);
      if (opts.json) process.stdout.write(`${JSON.stringify(events, null, 2)}\n`);
      else for (const e of events) console.log(`${String(e.seq).padStart(6)}  ${eventLine(e)}`);
    });
}

function clientOf(opts: ClientOptions): AdminClient {
  return new AdminClient(opts.admin ?? process.env.GRAYLANE_ADMIN ?? DEFAULT_ADMIN_URL, opts.token ?? (process.env.GRAYLANE_ADMIN_TOKEN || undefined));
}

async function intent(opts: ClientOptions, name: string, action: string, body: Record<string, unknown> = {}): Promise<void> {
  const v = await clientOf(opts).post<ReleaseView & { durable?: boolean; warning?: string }>(`/api/v1/releases/${encodeURIComponent(name)}/${action}`, body);
  console.log(`${v.name}: ${v.phase} (${v.reason}): ${v.message}`);
  if (v.durable === false) console.error(`WARNING: ${v.warning ?? 'the abort is not yet written to the state store'}`);
}

/** As `rollout get --watch`: redraw on a terminal, else the view once and then new events and state changes. */
async function watch(client: AdminClient, name: string, path: string, intervalMs: number): Promise<void> {
  const eventsPath = `/api/v1/releases/${encodeURIComponent(name)}/events?after=`;
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
      const d = await client.get<Detail>(path);
      const step = d.currentStep === null ? '-' : `${d.currentStep + 1}/${d.steps.length}`;
      const state = `${d.phase} (${d.reason})  step ${step}  share ${d.share}%`;
      lastError = '';
      if (tty) out.write(`\x1b[H\x1b[2J${renderRelease(d, { now: Date.now() })}`);
      else if (lastSeq < 0) out.write(renderRelease(d, { now: Date.now() }));
      else {
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
      const message = (err as Error).message;
      if (tty) out.write(`\x1b[H\x1b[2J${message} (retrying)\n`);
      else if (message !== lastError) out.write(`${message} (retrying)\n`);
      lastError = message;
    }
    if (!stop) await sleep(intervalMs);
  }
}

function toInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}
