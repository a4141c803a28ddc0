/**
 * Job provider: runs a command; exit code 0 passes, any other fails, and so does a timeout. The
 * result is the exit code (null after a timeout or a kill), for conditions that need more than
 * that. A command that cannot start is an error outcome. The rollout's names are in the
 * environment: GRAYLANE_ROLLOUT, GRAYLANE_SERVICE, GRAYLANE_STABLE, GRAYLANE_CANARY.
 */
import type { ProviderOutcome } from '../analysis.js';
import type { ProviderSpec } from '../../spec/rollout-model.js';
import { describeOutcome, runCommand } from '../process.js';
import { expandVars, type MeasureContext, type MetricProvider } from './types.js';

type JobSpec = Extract<ProviderSpec, { kind: 'job' }>;

export function jobProvider(spec: JobSpec): MetricProvider {
  return {
    kind: 'job',
    async measure(ctx: MeasureContext): Promise<ProviderOutcome> {
      const r = ctx.rollout;
      const o = await runCommand(
        spec.command.map((a) => expandVars(a, ctx)),
        {
          env: { GRAYLANE_ROLLOUT: r.name, GRAYLANE_SERVICE: r.service, GRAYLANE_STABLE: r.stable, GRAYLANE_CANARY: r.canary, ...spec.env },
          cwd: spec.cwd,
          timeoutMs: spec.timeoutMs,
        },
      );
      if (o.spawnError !== null) return { kind: 'error', message: `${spec.command[0]}: ${describeOutcome(o, spec.timeoutMs)}` };
      const ok = o.exitCode === 0 && !o.timedOut;
      const tail = o.output.trim().slice(-500);
      return {
        kind: 'value',
        value: o.timedOut ? null : o.exitCode,
        verdict: ok ? 'Successful' : 'Failed',
        message: `${describeOutcome(o, spec.timeoutMs)}${tail ? `: ${tail}` : ''}`,
      };
    },
  };
}
