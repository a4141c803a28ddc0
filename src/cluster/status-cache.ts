/**
 * The rollout statuses a gateway last saw in etcd, so a gateway restarted while etcd is down routes
 * with the weights it had, not the spec's bare split. Written atomically like the spec cache
 * (src/source/cache.ts), in the same format.
 */
import { readFileSync } from 'node:fs';
import { parseStatus, serializeStatus } from '../rollout/status.js';
import { CACHE_FORMAT as FORMAT, SpecCacheError, writeAtomically } from '../source/cache.js';
import type { StoredStatus } from '../store/types.js';

export function writeStatusCache(path: string, statuses: readonly StoredStatus[]): void {
  const entries = statuses.map((s) => ({ name: s.name, revision: s.revision, status: serializeStatus(s.status) }));
  writeAtomically(path, JSON.stringify({ format: FORMAT, savedAt: new Date().toISOString(), statuses: entries }) + '\n');
}

/** The cached statuses; null when there is no cache file. Throws SpecCacheError for a damaged one. */
export function readStatusCache(path: string): StoredStatus[] | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const doc = JSON.parse(text) as { format?: unknown; statuses?: { name: string; revision: number; status: string }[] };
    if (doc.format !== FORMAT || !Array.isArray(doc.statuses)) throw new Error(`unknown format ${JSON.stringify(doc.format)}`);
    return doc.statuses.map((s) => ({ name: s.name, revision: s.revision, status: parseStatus(s.status) }));
  } catch (e) {
    throw new SpecCacheError(path, `not a status cache: ${(e as Error).message}`);
  }
}
