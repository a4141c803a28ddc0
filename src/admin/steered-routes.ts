/**
 * The admin API routes rollouts and releases share: the list, one with its recent events, its event
 * log, and write routes that hand an intent to the controller and answer with the view as written
 * (src/admin/rollouts.ts and releases.ts say what each has). A refused intent (RolloutError) is
 * answered with the status its code carries and a reason, and nothing is written.
 */
import type { AbortPending, CommandOutcome, RolloutCommand, RolloutState } from '../rollout/controller.js';
import { RolloutError } from '../rollout/errors.js';
import type { RolloutSpec } from '../spec/rollout-model.js';
import type { RolloutStatus } from '../status/rollout-status.js';
import type { EventQuery, StoredEvent } from '../store/types.js';
import { ApiError, onlyKeys, type ApiRequest, type ApiRoute } from './server.js';

const DEFAULT_EVENTS = 20;
const MAX_EVENTS = 1000;

/** What the routes of one kind (rollouts, releases) read and write through the controller. */
export interface Steered<V extends { abortPending: AbortPending | null }> {
  /** `/api/v1/rollouts`. */
  prefix: string;
  /** The key of the list's answer: `{ rollouts: [...] }`. */
  listKey: string;
  list(): Promise<RolloutState[]>;
  get(name: string): Promise<RolloutState>;
  events(name: string, query: EventQuery): Promise<StoredEvent[]>;
  command(name: string, cmd: RolloutCommand): Promise<CommandOutcome>;
  view(spec: RolloutSpec, status: RolloutStatus | null, revision: number, abortPending: AbortPending | null): V;
  /** The `warning` of an abort the store has not taken (202, `durable: false`). */
  notDurable(pending: AbortPending): string;
}

/** A write route: `POST <prefix>/:name/<path>`, the body's allowed keys, and the command it makes. */
export interface CommandRoute {
  path: string;
  keys: string[];
  toCommand(body: Record<string, unknown>): RolloutCommand;
}

/** The read routes, then `commands` in their order. */
export function steeredRoutes<V extends { abortPending: AbortPending | null }>(kind: Steered<V>, commands: CommandRoute[]): ApiRoute[] {
  const detail = async (name: string, events: number): Promise<V & { events: StoredEvent[] }> => {
    const { spec, stored, abortPending } = await kind.get(name);
    const view = kind.view(spec, stored?.status ?? null, stored?.revision ?? 0, abortPending);
    if (events === 0) return { ...view, events: [] };
    // A held abort is shown even when the store cannot be read (etcd away): the events wait.
    const recent = abortPending === null ? await kind.events(name, { last: events }) : await kind.events(name, { last: events }).catch(() => []);
    return { ...view, events: recent };
  };

  /** A write route: body checked, command applied by the controller, the new view returned. */
  const write = ({ path, keys, toCommand }: CommandRoute): ApiRoute => ({
    method: 'POST',
    path: `${kind.prefix}/:name/${path}`,
    access: 'write',
    async handle(req) {
      onlyKeys(req.body, keys);
      const cmd = toCommand(req.body);
      const out = await translate(() => kind.command(req.params.name!, cmd));
      const view = await detail(req.params.name!, 0);
      if (out.durable || view.abortPending === null) return { body: { ...view, durable: true } };
      return { status: 202, body: { ...view, durable: false, warning: kind.notDurable(view.abortPending) } };
    },
  });

  return [
    {
      method: 'GET',
      path: kind.prefix,
      access: 'read',
      async handle() {
        const all = await kind.list();
        return { body: { [kind.listKey]: all.map((r) => kind.view(r.spec, r.stored?.status ?? null, r.stored?.revision ?? 0, r.abortPending)) } };
      },
    },
    {
      method: 'GET',
      path: `${kind.prefix}/:name`,
      access: 'read',
      async handle(req) {
        const events = intParam(req, 'events', DEFAULT_EVENTS, MAX_EVENTS);
        return { body: await translate(() => detail(req.params.name!, events)) };
      },
    },
    {
      method: 'GET',
      path: `${kind.prefix}/:name/events`,
      access: 'read',
      async handle(req) {
        const after = intParam(req, 'after', 0, Number.MAX_SAFE_INTEGER);
        const limit = intParam(req, 'limit', MAX_EVENTS, MAX_EVENTS);
        const events = await translate(() => kind.events(req.params.name!, { afterSeq: after, limit }));
        return { body: { events } };
      },
    },
    ...commands.map(write),
  ];
}

/** `promote`, `abort`, `retry`, `pause`, `resume`, `undo`: the intents both kinds take. */
export const PROMOTE: CommandRoute = {
  path: 'promote',
  keys: ['full'],
  toCommand(body) {
    if (body.full !== undefined && typeof body.full !== 'boolean') throw new ApiError(400, 'invalid_field', 'full must be true or false');
    return { type: 'promote', full: body.full === true };
  },
};

/** An intent with an empty body: `abort`, `retry`, `pause`, `resume`, `undo`. */
export function bare(path: 'abort' | 'retry' | 'pause' | 'resume' | 'undo'): CommandRoute {
  return { path, keys: [], toCommand: () => ({ type: path }) };
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
