/**
 * Admin API routes of the instance registry: services register their instances (the lanes SDK's
 * `register()` does it for Node services), keep them with heartbeats, and remove them on shutdown.
 *
 * ```
 * POST   /api/v1/instances                 {service, version, url, ttlMs?} -> 201 Instance
 * PUT    /api/v1/instances/:id/heartbeat   -> 200 Instance; 404 when unknown or expired
 * DELETE /api/v1/instances/:id             -> 204; 404 when unknown
 * GET    /api/v1/instances                 -> { instances: Instance[] }
 * ```
 * Changes need the bearer token. A refused registration is 400 with the registry's code
 * (`unknown_service`, `bad_address`, `bad_version`, `bad_ttl`, `bad_request`) and reason, in the
 * body every admin endpoint uses: `{ error: <code>, message }`. An Instance is
 * `{ id, service, version, url, ttlMs, registeredAt, expiresAt }` with ISO-8601 times; the 201 body
 * holds what the SDK reads, `id` and the granted `ttlMs`.
 */
import { RegistryError, type Instance, type InstanceInput, type Instances } from '../registry/index.js';
import { ApiError, onlyKeys, type ApiRoute } from './server.js';

const PREFIX = '/api/v1/instances';

/** An instance as the API shows it. */
export interface InstanceView {
  id: string;
  service: string;
  version: string;
  url: string;
  ttlMs: number;
  registeredAt: string;
  expiresAt: string;
}

export function instanceRoutes(instances: Instances): ApiRoute[] {
  const unknown = (id: string) => new ApiError(404, 'unknown_instance', `no instance ${JSON.stringify(id)}: never registered, deregistered, or expired`);
  return [
    {
      method: 'GET',
      path: PREFIX,
      access: 'read',
      async handle() {
        return { body: { instances: (await instances.list()).map(view) } };
      },
    },
    {
      method: 'POST',
      path: PREFIX,
      access: 'write',
      async handle(req) {
        onlyKeys(req.body, ['service', 'version', 'url', 'ttlMs']);
        let inst: Instance;
        try {
          // The registry validates every field (types included) and says which one is wrong.
          inst = await instances.register(req.body as unknown as InstanceInput);
        } catch (err) {
          if (err instanceof RegistryError) throw new ApiError(err.status, err.code, err.message);
          throw err;
        }
        return { status: 201, body: view(inst) };
      },
    },
    {
      method: 'PUT',
      path: `${PREFIX}/:id/heartbeat`,
      access: 'write',
      async handle(req) {
        const inst = await instances.heartbeat(req.params.id!);
        if (inst === undefined) throw unknown(req.params.id!);
        return { body: view(inst) };
      },
    },
    {
      method: 'DELETE',
      path: `${PREFIX}/:id`,
      access: 'write',
      async handle(req) {
        if ((await instances.deregister(req.params.id!)) === undefined) throw unknown(req.params.id!);
        return { status: 204 };
      },
    },
  ];
}

function view(inst: Instance): InstanceView {
  return {
    id: inst.id,
    service: inst.service,
    version: inst.version,
    url: inst.url,
    ttlMs: inst.ttlMs,
    registeredAt: new Date(inst.registeredAt).toISOString(),
    expiresAt: new Date(inst.expiresAt).toISOString(),
  };
}
