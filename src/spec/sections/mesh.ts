/**
 * Mesh mode (docs/full-link.md): a second gateway listener that services call for each other by
 * service name. Absent means off, and the Spec then has no `mesh` key at all.
 */
import type { MeshSpec } from '../types.js';
import { isRecord, rec, type NormalizeContext } from '../context.js';
import { normalizeListener } from './listeners.js';

export const DEFAULT_MESH_LISTEN = '127.0.0.1:8081';

export function normalizeMesh(data: Record<string, unknown>, ctx: NormalizeContext): { mesh?: MeshSpec } {
  // Anything but a mapping has been reported by the schema.
  if (!isRecord(data.mesh)) return {};
  const raw = rec(data.mesh).listen;
  if (raw === undefined) return { mesh: { listen: DEFAULT_MESH_LISTEN } };
  const listener = normalizeListener(raw, ['mesh', 'listen'], ctx, 'mesh.listen');
  if (listener === undefined) return { mesh: { listen: DEFAULT_MESH_LISTEN } };
  // Written as a mapping (h2c, tls): kept whole. A string stays `listen` alone, as it always was.
  return { mesh: typeof raw === 'string' ? { listen: listener.address } : { listen: listener.address, listener } };
}
