/**
 * `graylane rollout ...`: watch and steer rollouts of a running `graylane serve` through its admin
 * API. Commands only state an intent (promote, abort...); the controller in the server acts on it.
 * The admin address comes from `--admin` or GRAYLANE_ADMIN, the token from `--token` or
 * GRAYLANE_ADMIN_TOKEN. A refusal prints the API's reason and exits 1. The plumbing is steer.ts,
 * shared with `graylane release`.
 */
import type { Command } from 'commander';
import type { RolloutView } from '../rollout/view.js';
import { renderList, renderRollout, trafficText } from './rollout-render.js';
import { addEvents, addGet, clientOf, intent, subcommands, type ClientOptions, type Steered } from './steer.js';

const ROLLOUTS: Steered<RolloutView> = { collection: 'rollouts', render: renderRollout, stateLine };

/** Adds the `rollout` command and its subcommands to the program. */
export function registerRolloutCommands(program: Command): void {
  const rollout = program
    .command('rollout')
    .description('watch and steer rollouts of a running `graylane serve` (through its admin API)');
  const sub = subcommands(rollout);
  const act = (opts: ClientOptions, name: string, action: string, body?: Record<string, unknown>) => intent(ROLLOUTS, opts, name, action, body);

  sub('list', 'every rollout with its phase, step and traffic')
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: ClientOptions & { json?: boolean }) => {
      const { rollouts } = await clientOf(opts).get<{ rollouts: RolloutView[] }>('/api/v1/rollouts');
      process.stdout.write(opts.json ? `${JSON.stringify(rollouts, null, 2)}\n` : renderList(rollouts));
    });

  addGet(sub, ROLLOUTS, 'rollout', 'a rollout: steps (the current one marked), traffic, analysis runs, hooks, recent events');

  sub('promote', 'end the current pause or analysis step and go on, or only accept an inconclusive analysis (--full: skip every remaining pause and analysis)')
    .addHelpText(
      'after',
      '\nAn inconclusive analysis (InconclusiveAnalysis) is only accepted: the step the rollout waits at,\na pause say, still waits, and a second promote passes it.',
    )
    .argument('<name>', 'rollout name')
    .option('--full', 'promote fully: skip the remaining pauses and analyses (hooks still run)')
    .action((name: string, opts: ClientOptions & { full?: boolean }) => act(opts, name, 'promote', opts.full ? { full: true } : {}));

  sub('abort', 'abort: all traffic back to the stable version at once (the canary gets nothing, rules naming its lane included); cleanup follows')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'abort'));

  sub('retry', 'start an aborted rollout again from its first step')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'retry'));

  sub('undo', 'after completion, within the rollout\'s rollbackWindow: put the previous stable back at once (refused, with the reason, once it is gone)')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'undo'));

  sub('pause', 'stop advancing steps (analysis goes on) until resume or promote')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'pause'));

  sub('resume', 'lift a pause set with `rollout pause`')
    .argument('<name>', 'rollout name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'resume'));

  sub('set-weight', "set the canary's share of traffic now (0..100), until the next setWeight step")
    .argument('<name>', 'rollout name')
    .argument('<weight>', 'whole percent, 0..100')
    .action((name: string, weight: string, opts: ClientOptions) => {
      // Sent as the number it reads as; the API refuses anything that is not a whole 0..100.
      const n = Number(weight);
      return act(opts, name, 'set-weight', { weight: weight.trim() === '' || Number.isNaN(n) ? weight : n });
    });

  addEvents(sub, ROLLOUTS, 'rollout');
}

/** `Paused (AwaitingPromotion)  step 4/7  stable 50%  beta 50%` */
function stateLine(d: RolloutView): string {
  const step = d.currentStep === null ? '-' : `${d.currentStep + 1}/${d.steps.length}`;
  return `${d.phase} (${d.reason})  step ${step}  ${trafficText(d)}`;
}
