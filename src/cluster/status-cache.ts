/**
 * The rollout statuses a gateway last saw in etcd, so a gateway restarted while etcd is down routes
 * with the weights it had, not the spec's bare split. Written atomically like the spec cache
 * (src/source/cache.ts), in the same format.
 */
import { parseStatus, serializeStatus } from '../status/rollout-status.js';
import { CACHE_FORMAT as FORMAT, readCacheText, SpecCacheError, writeAtomically } from '../source/cache.js';
import type { StoredStatus } from '../store/types.js';

/** Replaces the status cache at `path` with `statuses`, atomically (see writeAtomically). */
export function writeStatusCache(path: string, statuses: readonly StoredStatus[]): void {
  const entries = statuses.map((s) => ({ name: s.name, revision: s.revision, status: serializeStatus(s.status) }));
  writeAtomically(path, JSON.stringify({ format: FORMAT, savedAt: new Date().toISOString(), statuses: entries }) + '\n');
}

/** The cached statuses; null when there is no cache file. Throws SpecCacheError for a damaged one. */
export function readStatusCache(path: string): StoredStatus[] | null {
  const text = readCacheText(path);
  if (text === null) return null;
  try {
    const doc = JSON.parse(text) as { format?: unknown; statuses?: { name: string; revision: number; status: string }[] };
    if (doc.format !== FORMAT || !Array.isArray(doc.statuses)) throw new Error(`unknown format ${JSON.stringify(doc.format)}`);
    return doc.statuses.map((s) => ({ name: s.name, revision: s.revision, status: parseStatus(s.status) }));
  } catch (e) {
    throw new SpecCacheError(path, `not a status cache: ${(e as Error).message}`);
  }
}
