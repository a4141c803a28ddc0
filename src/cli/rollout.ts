/**
 * `graylane rollout ...`: watch and steer rollouts of a running `graylane serve` through its admin
 * API. Commands only state an intent (promote, abort...); the controller in the server acts on it.
 * The admin address comes from `--admin` or GRAYLANE_ADMIN, the token from `--token` or
 * GRAYLANE_ADMIN_TOKEN. A refusal prints the API's reason and exits 1.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type { RolloutView } from '../rollout/view.js';
import type { StoredEvent } from '../store/types.js';
import { AdminClient, DEFAULT_ADMIN_URL } from './admin-client.js';
import { eventLine, renderList, renderRollout, trafficText } from './rollout-render.js';

interface ClientOptions {
  admin?: string;
  token?: string;
}

type Detail = RolloutView & { events: StoredEvent[] };

/** Adds the `rollout` command and its subcommands to the program. */
export function registerRolloutCommands(program: Command): void {
  const rollout = program
    .command('rollout')
    .description('watch and steer rollouts of a running `graylane serve` (through its admin API)');

  const sub = (name: string, description: string) =>
    rollout
      .command(name)
      .description(description)
      .option('--admin <url>', `admin API address (env GRAYLANE_ADMIN, default ${DEFAULT_ADMIN_URL})`)
      .option('--token <token>', 'admin bearer token (env GRAYLANE_ADMIN_TOKEN)');

  sub('list', 'every rollout with its phase, step and traffic')
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: ClientOptions & { json?: boolean }) => {
      const { rollouts } = await clientOf(opts).get<{ rollouts: RolloutView[] }>('/api/v1/rollouts');
      process.stdout.write(opts.json ? `${JSON.stringify(rollouts, null, 2)}\n` : renderList(rollouts));
    });

  sub('get', 'a rollout: steps (the current one marked), traffic, analysis runs, hooks, recent events')
    .argument('<name>', 'rollout name')
    .option('-w, --watch', 'keep watching: redraw in place on a terminal, print changes as lines otherwise')
    .option('--events <n>', 'recent events to show', toInt, 10)
    .option('--interval <ms>', 'how often --watch polls, in milliseconds', toInt, 1000)
    .option('--json', 'print the API answer as JSON')
    .action(async (name: string, opts: ClientOptions & { watch?: boolean; events: number; interval: number; json?: boolean }) => {
      const client = clientOf(opts);
      const path = `/api/v1/rollouts/${encodeURIComponent(name)}?events=${opts.events}`;
      if (opts.watch) return watch(client, name, path, opts.interval);
      const detail = await client.get<Detail>(path);
      process.stdout.write(opts.json ? `${JSON.stringify(detail, null, 2)}\n` : renderRollout(detail, { now: Date.now() }));
    });

  sub('promote', 'end the current pause or analysis step and go on, or only accept an inconclusive analysis (--full: skip every remaining pause and analysis)')
    .addHelpText(
      'after',
      '\nAn inconclusive analysis (InconclusiveAnalysis) is only accepted: the step the rollout waits at,\na pause say, still waits, and a second promote passes it.',
    )
    .argument('<name>', 'rollout name')
    .option('--full', 'promote fully: skip the remaining pauses and analyses (hooks still run)')
    .action((name: string, opts: ClientOptions & { full?: boolean }) => intent(opts, name, 'promote', opts.full ? { full: true } : {}));

  sub('abort', 'abort: all traffic back to the stable version at once (the canary gets nothing, rules naming its lane included); cleanup follows')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'abort'));

  sub('retry', 'start an aborted rollout again from its first step')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'retry'));

  sub('undo', 'after completion, within the rollout\'s rollbackWindow: put the previous stable back at once (refused, with the reason, once it is gone)')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'undo'));

  sub('pause', 'stop advancing steps (analysis goes on) until resume or promote')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'pause'));

  sub('resume', 'lift a pause set with `rollout pause`')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => intent(opts, name, 'resume'));

  sub('set-weight', "set the canary's share of traffic now (0..100), until the next setWeight step")
    .argument('<name>', 'rollout name')
    .argument('<weight>', 'whole percent, 0..100')
    .action((name: string, weight: string, opts: ClientOptions) => {
      // Sent as the number it reads as; the API refuses anything that is not a whole 0..100.
      const n = Number(weight);
      return intent(opts, name, 'set-weight', { weight: weight.trim() === '' || Number.isNaN(n) ? weight : n });
    });

  sub('events', "a rollout's event log, oldest first")
    .argument('<name>', 'rollout name')
    .option('--after <seq>', 'only events after this sequence number', toInt, 0)
    .option('--json', 'print the API answer as JSON')
    .action(async (name: string, opts: ClientOptions & { after: number; json?: boolean }) => {
      const { events } = await clientOf(opts).get<{ events: StoredEvent[] }>(
        `/api/v1/rollouts/${encodeURIComponent(name)}/events?after=${opts.after}`,
      );
      if (opts.json) process.stdout.write(`${JSON.stringify(events, null, 2)}\n`);
      else for (const e of events) console.log(`${String(e.seq).padStart(6)}  ${eventLine(e)}`);
    });
}

function clientOf(opts: ClientOptions): AdminClient {
  return new AdminClient(opts.admin ?? process.env.GRAYLANE_ADMIN ?? DEFAULT_ADMIN_URL, opts.token ?? (process.env.GRAYLANE_ADMIN_TOKEN || undefined));
}

async function intent(opts: ClientOptions, name: string, action: string, body: Record<string, unknown> = {}): Promise<void> {
  const v = await clientOf(opts).post<RolloutView & { durable?: boolean; warning?: string }>(`/api/v1/rollouts/${encodeURIComponent(name)}/${action}`, body);
  console.log(`${v.name}: ${v.phase} (${v.reason}): ${v.message}`);
  // An abort the state store refused: it routes, but is not durable yet. Said on stderr, exit 0
  // (the traffic did move); `rollout get` shows when the write lands.
  if (v.durable === false) console.error(`WARNING: ${v.warning ?? 'the abort is not yet written to the state store'}`);
}

/**
 * Polls until Ctrl-C. On a terminal the whole view is redrawn in place; otherwise the view is printed
 * once and then only what changed: every new event (read by sequence number, so a burst between two
 * polls is printed whole), and a status line when phase, step or traffic move.
 */
async function watch(client: AdminClient, name: string, path: string, intervalMs: number): Promise<void> {
  const eventsPath = `/api/v1/rollouts/${encodeURIComponent(name)}/events?after=`;
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
      const state = stateLine(d);
      lastError = '';
      if (tty) {
        out.write(`\x1b[H\x1b[2J${renderRollout(d, { now: Date.now() })}`);
      } else if (lastSeq < 0) {
        out.write(renderRollout(d, { now: Date.now() }));
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

/** `Paused (AwaitingPromotion)  step 4/7  stable 50%  beta 50%` */
function stateLine(d: RolloutView): string {
  const step = d.currentStep === null ? '-' : `${d.currentStep + 1}/${d.steps.length}`;
  return `${d.phase} (${d.reason})  step ${step}  ${trafficText(d)}`;
}

function toInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}
