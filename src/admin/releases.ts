/**
 * Admin API routes for releases (docs/rollouts.md#releases): a release is one row with its services
 * inside, and the rollout verbs apply to all of it at once (the controller runs it as one status).
 *
 * ```
 * GET  /api/v1/releases                        { releases: ReleaseView[] }
 * GET  /api/v1/releases/:name?events=20        ReleaseView + { events }
 * GET  /api/v1/releases/:name/events?after=SEQ&limit=N   { events }
 * POST /api/v1/releases/:name/promote          { full?: boolean }
 * POST /api/v1/releases/:name/abort | retry | pause | resume | undo    {}
 * ```
 * Answers and refusals are those of the rollout routes (src/admin/rollouts.ts), with 404
 * `unknown_release` for a name the config does not declare.
 */
import type { RolloutCommand, RolloutController } from '../rollout/controller.js';
import { RolloutError } from '../rollout/errors.js';
import { releaseView, type ReleaseView } from '../rollout/view.js';
import type { StoredEvent } from '../store/types.js';
import { ApiError, onlyKeys, type ApiRequest, type ApiRoute } from './server.js';

const PREFIX = '/api/v1/releases';
const DEFAULT_EVENTS = 20;
const MAX_EVENTS = 1000;

/** The ReleaseView with its recent events, as `GET /api/v1/releases/:name` answers. */
export interface ReleaseDetail extends ReleaseView {
  events: StoredEvent[];
}

export function releaseRoutes(controller: RolloutController): ApiRoute[] {
  const detail = async (name: string, events: number): Promise<ReleaseDetail> => {
    const { spec, stored, abortPending } = await controller.getRelease(name);
    const view = releaseView(spec, stored?.status ?? null, stored?.revision ?? 0, abortPending);
    if (events === 0) return { ...view, events: [] };
    const recent = abortPending === null ? await controller.releaseEvents(name, { last: events }) : await controller.releaseEvents(name, { last: events }).catch(() => []);
    return { ...view, events: recent };
  };

  const command = (path: string, keys: string[], toCommand: (body: Record<string, unknown>) => RolloutCommand): ApiRoute => ({
    method: 'POST',
    path: `${PREFIX}/:name/${path}`,
    access: 'write',
    async handle(req) {
      onlyKeys(req.body, keys);
      const cmd = toCommand(req.body);
      const out = await translate(() => controller.releaseCommand(req.params.name!, cmd));
      const view = await detail(req.params.name!, 0);
      if (out.durable || view.abortPending === null) return { body: { ...view, durable: true } };
      return { status: 202, body: { ...view, durable: false, warning: `abort applied to routing on this gateway, but NOT yet durable: the state store refused to write it (${view.abortPending.error}); it is retried` } };
    },
  });

  return [
    {
      method: 'GET',
      path: PREFIX,
      access: 'read',
      async handle() {
        const releases = await controller.listReleases();
        return { body: { releases: releases.map((r) => releaseView(r.spec, r.stored?.status ?? null, r.stored?.revision ?? 0, r.abortPending)) } };
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/:name`,
      access: 'read',
      async handle(req) {
        return { body: await translate(() => detail(req.params.name!, intParam(req, 'events', DEFAULT_EVENTS, MAX_EVENTS))) };
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/:name/events`,
      access: 'read',
      async handle(req) {
        const after = intParam(req, 'after', 0, Number.MAX_SAFE_INTEGER);
        const limit = intParam(req, 'limit', MAX_EVENTS, MAX_EVENTS);
        return { body: { events: await translate(() => controller.releaseEvents(req.params.name!, { afterSeq: after, limit })) } };
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
    command('undo', [], () => ({ type: 'undo' })),
  ];
}

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
