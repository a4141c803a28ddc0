/**
 * Runs a rollout hook: a command (exit code 0 = success) or a webhook (POST of a JSON description of
 * the rollout; any 2xx = success), each under its timeout, with the tail of its output kept.
 *
 * A hook learns what it is for from its environment (commands) or body (webhooks): rollout,
 * service, stable and canary versions, hook name, attempt number, the rollout's phase (for cleanup:
 * Healthy or Degraded) and the effect id. The id is also the webhook's `Idempotency-Key` header:
 * graylane runs a hook at most once per attempt, and a receiver can use the key to be sure.
 */
import { request } from 'undici';
import type { HookSpec } from '../spec/rollout-model.js';
import type { HookResult, RolloutPhase } from '../status/rollout-status.js';
import { describeOutcome, runCommand } from './process.js';
import { errorMessage } from './providers/types.js';

export interface HookContext {
  /** Effect id (`<rollout>/a<attempt>/<hook>`). */
  id: string;
  /** `preRollout`, `postPromotion`, `cleanup`, or the name of a canary hook step. */
  hook: string;
  rollout: { name: string; service: string; stable: string; canary: string };
  /** Blue-green only: what promotion means (GRAYLANE_PROMOTION, and what cleanup tears down). */
  promotion?: 'switch' | 'upgrade';
  attempt: number;
  phase: RolloutPhase;
}

const OUTPUT_LIMIT = 4096;

/**
 * The version a `cleanup` hook should tear down: after a successful switch the old stable (the new
 * version serves now); after a successful upgrade, or an abort, the preview. '' for other hooks.
 */
export function teardownOf(ctx: HookContext): string {
  if (ctx.hook !== 'cleanup') return '';
  if (ctx.phase === 'Healthy' && ctx.promotion !== 'upgrade') return ctx.rollout.stable;
  return ctx.rollout.canary;
}

/** Never rejects: a hook that cannot run is a failed HookResult. */
export async function runHook(spec: HookSpec, ctx: HookContext, clock: () => number = Date.now): Promise<HookResult> {
  const startedAt = clock();
  if (spec.kind === 'command') {
    const r = ctx.rollout;
    const o = await runCommand(spec.command, {
      env: {
        GRAYLANE_ROLLOUT: r.name,
        GRAYLANE_SERVICE: r.service,
        GRAYLANE_STABLE: r.stable,
        GRAYLANE_CANARY: r.canary,
        GRAYLANE_HOOK: ctx.hook,
        GRAYLANE_ATTEMPT: String(ctx.attempt),
        GRAYLANE_PHASE: ctx.phase,
        GRAYLANE_HOOK_ID: ctx.id,
        GRAYLANE_PROMOTION: ctx.promotion ?? '',
        GRAYLANE_TEARDOWN: teardownOf(ctx),
        ...spec.env,
      },
      cwd: spec.cwd,
      timeoutMs: spec.timeoutMs,
      outputLimit: OUTPUT_LIMIT,
    });
    return {
      ok: o.exitCode === 0 && !o.timedOut && o.spawnError === null,
      startedAt,
      finishedAt: clock(),
      message: describeOutcome(o, spec.timeoutMs),
      output: o.output,
      exitCode: o.exitCode,
      httpStatus: null,
      timedOut: o.timedOut,
    };
  }
  const body = JSON.stringify({
    id: ctx.id,
    hook: ctx.hook,
    rollout: ctx.rollout.name,
    service: ctx.rollout.service,
    stable: ctx.rollout.stable,
    canary: ctx.rollout.canary,
    attempt: ctx.attempt,
    phase: ctx.phase,
    promotion: ctx.promotion ?? null,
    teardown: teardownOf(ctx) || null,
  });
  const fail = (message: string, timedOut: boolean, httpStatus: number | null = null, output = ''): HookResult => ({
    ok: false,
    startedAt,
    finishedAt: clock(),
    message,
    output,
    exitCode: null,
    httpStatus,
    timedOut,
  });
  try {
    const res = await request(spec.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': ctx.id, ...spec.headers },
      body,
      headersTimeout: spec.timeoutMs,
      bodyTimeout: spec.timeoutMs,
      signal: AbortSignal.timeout(spec.timeoutMs),
    });
    const text = (await res.body.text()).slice(-OUTPUT_LIMIT);
    const ok = res.statusCode >= 200 && res.statusCode <= 299;
    if (!ok) return fail(`POST ${spec.url}: HTTP ${res.statusCode}`, false, res.statusCode, text);
    return { ok, startedAt, finishedAt: clock(), message: `POST ${spec.url}: HTTP ${res.statusCode}`, output: text, exitCode: null, httpStatus: res.statusCode, timedOut: false };
  } catch (e) {
    const timedOut = e instanceof Error && (e.name === 'TimeoutError' || /Timeout/.test((e as { code?: string }).code ?? ''));
    return fail(`POST ${spec.url}: ${timedOut ? `timed out after ${spec.timeoutMs} ms` : errorMessage(e)}`, timedOut);
  }
}
