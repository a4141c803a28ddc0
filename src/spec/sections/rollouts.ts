/**
 * Rollouts, analysis templates, and the two settings of the process that runs them: `state` (the
 * SQLite file) and `admin` (the admin API listener).
 *
 * The rollout part is normalized by ../rollout-model.ts (normalizeRollouts, checkRolloutRefs), which
 * owns the rollout model and reports to the same NormalizeContext as every section, so its issues
 * get file, line and column like every other issue. The schema block for these keys
 * is deliberately shallow (keys, types, ranges: what an editor needs); where it and the normalizer
 * both see a problem, they report it at the same path with the same code, and the loader keeps one.
 */
import type { AdminSpec, ServiceSpec, Spec, StateSpec } from '../types.js';
import { checkRolloutRefs, normalizeRollouts, type RolloutSpec } from '../rollout-model.js';
import { isRecord, list, rec, str, type NormalizeContext } from '../context.js';
import { parseListen } from '../units.js';

export const DEFAULT_STATE_PATH = '.graylane/state.db';
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:9090';

type RolloutSettings = Required<Pick<Spec, 'rollouts' | 'analysisTemplates' | 'state' | 'admin'>>;

export function normalizeRolloutSection(
  data: Record<string, unknown>,
  services: Record<string, ServiceSpec>,
  ctx: NormalizeContext,
): RolloutSettings {
  const { rollouts, templates } = normalizeRollouts(data, ctx);
  // References are checked only against services that exist as a mapping (else the schema has
  // already reported the real problem).
  if (isRecord(data.services)) checkRolloutRefs(rollouts, services, ctx, positionIn(data.rollouts));
  return { rollouts, analysisTemplates: templates, state: normalizeState(data), admin: normalizeAdmin(data, ctx) };
}

/** A normalized rollout's index in the file's `rollouts` list (broken ones are left out of the result). */
function positionIn(raw: unknown): (rollout: RolloutSpec) => number {
  const names = list(raw).map((r) => rec(r).name);
  return (rollout) => names.indexOf(rollout.name);
}

function normalizeState(data: Record<string, unknown>): StateSpec {
  const path = str(rec(data.state).path);
  return { path: path === undefined || path === '' ? DEFAULT_STATE_PATH : path };
}

function normalizeAdmin(data: Record<string, unknown>, ctx: NormalizeContext): AdminSpec {
  const listen = str(rec(data.admin).listen);
  if (listen === undefined) return { listen: DEFAULT_ADMIN_LISTEN };
  // The schema checks the form; only the port range is left (as for the gateway's `listen`).
  if (parseListen(listen) === undefined) ctx.report(['admin', 'listen'], 'bad-listen', `port must be 0..65535, got "${listen}"`);
  return { listen };
}
