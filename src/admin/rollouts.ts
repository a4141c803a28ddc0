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
 * POST /api/v1/rollouts/:name/undo            {}  (completed, within rollbackWindow: previous stable back)
 * ```
 * Every POST answers with the RolloutView as written, plus `durable: true`. An abort the state
 * store refused to write (full disk, etcd away) already routes on this gateway: it is answered
 * `202` with `durable: false`, `abortPending` and a `warning` saying so, and the controller retries
 * the write until it lands.
 */
import type { AbortPending, RolloutCommand, RolloutController } from '../rollout/controller.js';
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
    const { spec, stored, abortPending } = await controller.get(name);
    const view = rolloutView(spec, stored?.status ?? null, stored?.revision ?? 0, abortPending);
    if (events === 0) return { ...view, events: [] };
    // A held abort is shown even when the store cannot be read (etcd away): the events wait.
    const recent = abortPending === null ? await controller.events(name, { last: events }) : await controller.events(name, { last: events }).catch(() => []);
    return { ...view, events: recent };
  };

  /** A write route: body checked, command applied by the controller, the new view returned. */
  const command = (path: string, keys: string[], toCommand: (body: Record<string, unknown>) => RolloutCommand): ApiRoute => ({
    method: 'POST',
    path: `${PREFIX}/:name/${path}`,
    access: 'write',
    async handle(req) {
      onlyKeys(req.body, keys);
      const cmd = toCommand(req.body);
      const out = await translate(() => controller.command(req.params.name!, cmd));
      const view = await detail(req.params.name!, 0);
      if (out.durable || view.abortPending === null) return { body: { ...view, durable: true } };
      return { status: 202, body: { ...view, durable: false, warning: notDurable(view.abortPending) } };
    },
  });

  return [
    {
      method: 'GET',
      path: PREFIX,
      access: 'read',
      async handle() {
        const rollouts = await controller.list();
        return { body: { rollouts: rollouts.map((r) => rolloutView(r.spec, r.stored?.status ?? null, r.stored?.revision ?? 0, r.abortPending)) } };
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
    command('undo', [], () => ({ type: 'undo' })),
    command('pause', [], () => ({ type: 'pause' })),
    command('resume', [], () => ({ type: 'resume' })),
    command('set-weight', ['weight'], (body) => {
      if (body.weight === undefined) throw new ApiError(400, 'missing_field', 'weight is required (a whole number from 0 to 100)');
      // Any other bad value is refused by the command itself (INVALID_WEIGHT), before looking at the rollout.
      return { type: 'setWeight', weight: body.weight as number };
    }),
  ];
}

/** What the answer to an abort the store has not taken says, for people and scripts alike. */
function notDurable(p: AbortPending): string {
  const next = p.nextAttemptAt === null ? '' : ` (next try ${new Date(p.nextAttemptAt).toISOString()})`;
  return (
    `abort applied to routing on this gateway, but NOT yet durable: the state store refused to write it (${p.error}). ` +
    `The write is retried until the store takes it${next}; other gateways and a restart of this one do not know of the abort until then.`
  );
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
