/**
 * Process settings of `graylane serve`: `workers` (data-plane processes, src/workers/) and
 * `debug.workerHeader`. Absent keys stay absent from the Spec (as `mesh`), so configs without them
 * keep their content hash.
 */
import type { DebugSpec, Spec } from '../types.js';
import { bool, isRecord, rec, type NormalizeContext } from '../context.js';

/** Most workers a config may ask for: far above any core count, low enough to catch a typo. */
export const MAX_WORKERS = 1024;

export function normalizeWorkers(data: Record<string, unknown>, ctx: NormalizeContext): Pick<Spec, 'workers' | 'debug'> {
  const out: { workers?: number | 'auto'; debug?: DebugSpec } = {};
  const workers = data.workers;
  if (workers === 'auto' || (typeof workers === 'number' && Number.isInteger(workers) && workers >= 1 && workers <= MAX_WORKERS)) {
    out.workers = workers;
  } else if (workers !== undefined) {
    // The schema reports the shape; this names the range for anything it let through.
    ctx.report(['workers'], 'invalid-value', `must be a whole number from 1 to ${MAX_WORKERS}, or "auto"`);
  }
  if (isRecord(data.debug)) out.debug = { workerHeader: bool(rec(data.debug).workerHeader, false) };
  return out;
}
