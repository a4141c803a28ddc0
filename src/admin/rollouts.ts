/**
 * Admin API routes for rollouts. Reads show the rollout as src/rollout/view.ts folds it; writes are
 * intents handed to the controller, which applies them on its own queue and commits them like its
 * own ticks. A refused intent (RolloutError) is answered with the status its code carries and a
 * reason, and nothing is written.
 *
 * ```
 * GET  /api/v1/rollouts                       { rollouts: RolloutView[] }
 * GET  /api/v1/rollouts/:name?events=20       RolloutView + { events } (the newest, oldest first)
 * GET  /api/v1/rollouts/:name/events?after=SEQ&limit=N   { events }
 * POST /api/v1/rollouts/:name/promote         { full?: boolean }
 * POST /api/v1/rollouts/:name/abort | retry | pause | resume     {}
 * POST /api/v1/rollouts/:name/set-weight      { weight: 0..100 }
 * ```
 * Every POST answers with the RolloutView as written.
 */
import type { RolloutCommand, RolloutController } from '../rollout/controller.js';
import { RolloutError } from '../rollout/errors.js';
import { rolloutView, type RolloutView } from '../rollout/view.js';
import type { StoredEvent } from '../store/types.js';
import { ApiError, onlyKeys, type ApiRequest, type ApiRoute } from './server.js';

const PREFIX = '/api/v1/rollouts';
const DEFAULT_EVENTS = 20;
const MAX_EVENTS = 1000;

/** The RolloutView with its recent events, as `GET /api/v1/rollouts/:name` answers. */
export interface RolloutDetail extends RolloutView {
  events: StoredEvent[];
}

export function rolloutRoutes(controller: RolloutController): ApiRoute[] {
  const detail = async (name: string, events: number): Promise<RolloutDetail> => {
    const { spec, stored } = await controller.get(name);
    const view = rolloutView(spec, stored?.status ?? null, stored?.revision ?? 0);
    return { ...view, events: events === 0 ? [] : await controller.events(name, { last: events }) };
  };

  /** A write route: body checked, command applied by the controller, the new view returned. */
  const command = (path: string, keys: string[], toCommand: (body: Record<string, unknown>) => RolloutCommand): ApiRoute => ({
    method: 'POST',
    path: `${PREFIX}/:name/${path}`,
    access: 'write',
    async handle(req) {
      onlyKeys(req.body, keys);
      const cmd = toCommand(req.body);
      await translate(() => controller.command(req.params.name!, cmd));
      return { body: await detail(req.params.name!, 0) };
    },
  });

  return [
    {
      method: 'GET',
      path: PREFIX,
      access: 'read',
      async handle() {
        const rollouts = await controller.list();
        return { body: { rollouts: rollouts.map((r) => rolloutView(r.spec, r.stored?.status ?? null, r.stored?.revision ?? 0)) } };
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/:name`,
      access: 'read',
      async handle(req) {
        const events = intParam(req, 'events', DEFAULT_EVENTS, MAX_EVENTS);
        return { body: await translate(() => detail(req.params.name!, events)) };
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/:name/events`,
      access: 'read',
      async handle(req) {
        const after = intParam(req, 'after', 0, Number.MAX_SAFE_INTEGER);
        const limit = intParam(req, 'limit', MAX_EVENTS, MAX_EVENTS);
        const events = await translate(() => controller.events(req.params.name!, { afterSeq: after, limit }));
        return { body: { events } };
      },
    },
    command('promote', ['full'], (body) => {
      if (body.full !== undefined && typeof body.full !== 'boolean') throw new ApiError(400, 'invalid_field', 'full must be true or false');
      return { type: 'promote', full: body.full === true };
    }),
    command('abort', [], () => ({ type: 'abort' })),
    command('retry', [], () => ({ type: 'retry' })),
    command('pause', [], () => ({ type: 'pause' })),
    command('resume', [], () => ({ type: 'resume' })),
    command('set-weight', ['weight'], (body) => {
      if (body.weight === undefined) throw new ApiError(400, 'missing_field', 'weight is required (a whole number from 0 to 100)');
      // Any other bad value is refused by the command itself (INVALID_WEIGHT), before looking at the rollout.
      return { type: 'setWeight', weight: body.weight as number };
    }),
  ];
}

/** RolloutError -> ApiError with the status its code carries (`ROLLOUT_COMPLETED` -> 409 rollout_completed). */
async function translate<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RolloutError) throw new ApiError(err.httpStatus, err.code.toLowerCase(), err.message);
    throw err;
  }
}

function intParam(req: ApiRequest, name: string, fallback: number, max: number): number {
  const raw = req.query.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new ApiError(400, 'invalid_query', `${name} must be a whole number >= 0, not ${JSON.stringify(raw)}`);
  return Math.min(n, max);
}
