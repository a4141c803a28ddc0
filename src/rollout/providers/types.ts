/**
 * The one interface every analysis provider implements: take one measurement, never throw. A
 * provider that cannot measure (refused, timed out, unparsable answer) says so as an `error`
 * outcome, which the analysis counts as an Error measurement, as Argo Rollouts does.
 */
import type { ProviderOutcome } from '../analysis.js';

/** The rollout a measurement is for; its names fill `{{service}}`-style placeholders. */
export interface MeasureContext {
  rollout: { name: string; service: string; stable: string; canary: string };
  /**
   * When the rollout's attempt started (epoch ms). Builtin windows start no earlier, so a retry is
   * not judged on the errors that aborted the attempt before it. Earlier steps of the same attempt
   * do count: the same canary, and a step's analysis right after a promote needs their traffic.
   * Absent: the whole window.
   */
  since?: number;
}

export interface MetricProvider {
  readonly kind: 'builtin' | 'compare' | 'prometheus' | 'web' | 'job';
  measure(ctx: MeasureContext): Promise<ProviderOutcome>;
}

/**
 * Replaces `{{rollout}}`, `{{service}}`, `{{stable}}` and `{{canary}}` (spaces inside the braces
 * allowed); other text, unknown placeholders included, stays as written.
 *
 * @example expandVars('rate(http_errors{version="{{canary}}"}[1m])', ctx)
 */
export function expandVars(text: string, ctx: MeasureContext): string {
  const r = ctx.rollout;
  const vars: Record<string, string> = { rollout: r.name, service: r.service, stable: r.stable, canary: r.canary };
  return text.replace(/\{\{\s*(rollout|service|stable|canary)\s*\}\}/g, (_m, name: string) => vars[name]!);
}

/** The error message of anything thrown, for an `error` outcome. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
    return `${typeof code === 'string' ? `${code}: ` : ''}${e.message}${cause}`;
  }
  return String(e);
}
