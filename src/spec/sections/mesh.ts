/**
 * Mesh mode (docs/full-link.md): a second gateway listener that services call for each other by
 * service name. Absent means off, and the Spec then has no `mesh` key at all.
 */
import type { MeshSpec } from '../types.js';
import { isRecord, rec, str, type NormalizeContext } from '../context.js';
import { parseListen } from '../units.js';

export const DEFAULT_MESH_LISTEN = '127.0.0.1:8081';

export function normalizeMesh(data: Record<string, unknown>, ctx: NormalizeContext): { mesh?: MeshSpec } {
  // Anything but a mapping has been reported by the schema.
  if (!isRecord(data.mesh)) return {};
  const listen = str(rec(data.mesh).listen);
  if (listen === undefined) return { mesh: { listen: DEFAULT_MESH_LISTEN } };
  // The schema checks the form; only the port range is left (as for the gateway's `listen`).
  if (parseListen(listen) === undefined) ctx.report(['mesh', 'listen'], 'bad-listen', `port must be 0..65535, got "${listen}"`);
  return { mesh: { listen } };
}
