/**
 * Test support for the rollout state machine: a rollout config from YAML text, and a small in-test
 * stand-in for the controller loop that performs actions with outcomes the test chooses. Not used by
 * production code.
 */
import { parse } from 'yaml';
import { normalizeRollouts, type AnalysisTemplate, type RolloutSpec } from '../../src/spec/rollout-model.js';
import { NormalizeContext } from '../../src/spec/context.js';
import { formatPath } from '../../src/spec/paths.js';
import type { ProviderOutcome } from '../../src/rollout/analysis.js';
import { parseStatus, serializeStatus, type HookResult, type RolloutEvent, type RolloutStatus } from '../../src/status/rollout-status.js';
import { reconcile, type CommandResult, type Observation, type RolloutAction, type SpecContext, type Transition } from '../../src/rollout/transitions.js';

/** Normalizes a YAML config; fails the test on any issue. */
export function loadRollouts(yamlText: string): { rollouts: RolloutSpec[]; templates: Record<string, AnalysisTemplate> } {
  const raw: unknown = parse(yamlText);
  const ctx = new NormalizeContext(raw, () => undefined);
  const { rollouts, templates } = normalizeRollouts(raw, ctx);
  if (ctx.issues.length) throw new Error(`config issues: ${ctx.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')}`);
  return { rollouts, templates };
}

export function hookOk(now: number, message = 'exit 0'): HookResult {
  return { ok: true, startedAt: now, finishedAt: now, message, output: '', exitCode: 0, httpStatus: null, timedOut: false };
}

export function hookFailed(now: number, message = 'exit 1'): HookResult {
  return { ok: false, startedAt: now, finishedAt: now, message, output: 'boom', exitCode: 1, httpStatus: null, timedOut: false };
}

/**
 * Drives reconcile like the controller does: each tick's actions are "performed" by the given
 * functions and their results fed to the next tick. A hook answering 'hang' stays running until
 * finishHook() or a restart().
 */
export class Driver {
  status: RolloutStatus | null = null;
  readonly events: RolloutEvent[] = [];
  readonly actions: RolloutAction[] = [];
  private results: Observation[] = [];
  private readonly running = new Set<string>();
  now = 0;
  /** What the spec says of the stable version (the controller reads it from the served spec). */
  context: SpecContext = {};

  constructor(
    readonly rollout: RolloutSpec,
    readonly templates: Record<string, AnalysisTemplate>,
    public measure: (a: Extract<RolloutAction, { type: 'measure' }>, now: number) => ProviderOutcome,
    public hook: (a: Extract<RolloutAction, { type: 'runHook' }>, now: number) => HookResult | 'hang' = (_a, now) => hookOk(now),
  ) {}

  tick(now = this.now): Transition {
    this.now = now;
    const t = reconcile(this.rollout, this.status, { results: this.results, running: this.running }, now, this.templates, this.context);
    this.results = [];
    this.status = t.status;
    this.events.push(...t.events);
    for (const a of t.actions) {
      this.actions.push(a);
      if (a.type === 'measure') {
        this.results.push({ type: 'measurement', id: a.id, outcome: this.measure(a, now), finishedAt: now });
      } else {
        const r = this.hook(a, now);
        if (r === 'hang') this.running.add(a.id);
        else this.results.push({ type: 'hook', id: a.id, result: r });
      }
    }
    return t;
  }

  /** Ticks at each requeue time (or again at the same time while results are waiting) until `done`. */
  runUntil(done: (s: RolloutStatus) => boolean, maxTicks = 200): RolloutStatus {
    for (let i = 0; i < maxTicks; i++) {
      const t = this.tick(this.now);
      if (done(t.status)) return t.status;
      if (this.results.length === 0) {
        if (t.requeueAt === null) throw new Error(`stuck: ${t.status.phase}/${t.status.reason}: ${t.status.message}`);
        this.now = Math.max(this.now, t.requeueAt);
      }
    }
    throw new Error(`not done after ${maxTicks} ticks: ${this.status?.phase}/${this.status?.reason}`);
  }

  /** Applies a command's result as the admin API would (write status, log events). */
  apply(r: CommandResult): RolloutStatus {
    this.status = r.status;
    this.events.push(...r.events);
    return r.status;
  }

  finishHook(id: string, result: HookResult): void {
    this.running.delete(id);
    this.results.push({ type: 'hook', id, result });
  }

  /** A kill -9: only the status survives (through JSON); running effects and unreported results are lost. */
  restart(): void {
    this.status = this.status && parseStatus(serializeStatus(this.status));
    this.running.clear();
    this.results = [];
  }

  hookActions(hook: string): RolloutAction[] {
    return this.actions.filter((a) => a.type === 'runHook' && a.hook === hook);
  }
}
