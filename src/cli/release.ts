/**
 * `graylane release ...`: watch and steer releases (a lane across several services, one unit) of a
 * running `graylane serve` through its admin API, with the rollout verbs and output style. Commands
 * state an intent; the controller acts on the release's one status. The plumbing is steer.ts,
 * shared with `graylane rollout`.
 */
import type { Command } from 'commander';
import type { ReleaseView } from '../rollout/view.js';
import { renderRelease, renderReleaseList } from './rollout-render.js';
import { addEvents, addGet, clientOf, intent, subcommands, type ClientOptions, type Steered } from './steer.js';

const RELEASES: Steered<ReleaseView> = { collection: 'releases', render: renderRelease, stateLine };

/** Adds the `release` command and its subcommands to the program. */
export function registerReleaseCommands(program: Command): void {
  const release = program.command('release').description('watch and steer releases (a lane across several services, promoted or aborted as one unit) of a running `graylane serve`');
  const sub = subcommands(release);
  const act = (opts: ClientOptions, name: string, action: string, body?: Record<string, unknown>) => intent(RELEASES, opts, name, action, body);

  sub('list', 'every release: one row each, its services inside')
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: ClientOptions & { json?: boolean }) => {
      const { releases } = await clientOf(opts).get<{ releases: ReleaseView[] }>('/api/v1/releases');
      process.stdout.write(opts.json ? `${JSON.stringify(releases, null, 2)}\n` : renderReleaseList(releases));
    });

  addGet(sub, RELEASES, 'release', 'a release: its services, steps (the current one marked), share, analysis runs, hooks, recent events');

  sub('promote', 'end the current pause or analysis step and go on (--full: skip every remaining pause and analysis); after the last step every service\'s lane version becomes its stable, in one commit')
    .argument('<name>', 'release name')
    .option('--full', 'promote fully: skip the remaining pauses and analyses (hooks still run)')
    .action((name: string, opts: ClientOptions & { full?: boolean }) => act(opts, name, 'promote', opts.full ? { full: true } : {}));
  sub('abort', 'abort: every user of the release back on the stable versions at once, users rules put into the lane included')
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'abort'));
  sub('retry', 'start an aborted (or undone) release again from its first step')
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'retry'));
  sub('undo', "after completion, within the release's rollbackWindow: every service's previous stable back at once")
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'undo'));
  sub('pause', 'stop advancing steps (analysis goes on) until resume or promote')
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'pause'));
  sub('resume', 'lift a pause set with `release pause`')
    .argument('<name>', 'release name')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'resume'));
  addEvents(sub, RELEASES, 'release');
}

/** `Progressing (StepStarted)  step 2/4  share 20%` */
function stateLine(d: ReleaseView): string {
  const step = d.currentStep === null ? '-' : `${d.currentStep + 1}/${d.steps.length}`;
  return `${d.phase} (${d.reason})  step ${step}  share ${d.share}%`;
}
