/**
 * The gateway's local copy of the last good spec from etcd, so a gateway restarted while etcd is
 * down can still start (with a loud warning; see loadInitialSpec in etcd.ts).
 *
 * Written atomically: the text goes to a temporary file in the same directory, is fsynced, and is
 * renamed over the cache, so a crash leaves the old cache or the new one, never half of either.
 * The YAML's sha256 is stored with it and checked on read, so a damaged file is refused, not served.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, basename } from 'node:path';
import type { AppliedSpec } from './types.js';

/** sha256 of the YAML text as applied, hex: the spec's content hash in etcd, the cache and `get spec`. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The format of the cache files; the status cache (src/cluster/status-cache.ts) shares it. */
export const CACHE_FORMAT = 1;
const FORMAT = CACHE_FORMAT;

/** The cache file exists but cannot be used (damaged, or from an unknown format). */
export class SpecCacheError extends Error {
  readonly code = 'SPEC_CACHE_INVALID';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`spec cache ${path}: ${reason}`);
    this.name = 'SpecCacheError';
  }
}

/** Replaces the cache at `path` with `spec`, atomically (tmp file + fsync + rename + directory fsync). */
export function writeSpecCache(path: string, spec: AppliedSpec): void {
  writeAtomically(path, JSON.stringify({ format: FORMAT, savedAt: new Date().toISOString(), spec }, null, 2) + '\n');
}

/** Replaces `path` with `body`: the old content or the new, never half of either, also across a crash. */
export function writeAtomically(path: string, body: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  // The rename itself is durable only once the directory is synced.
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** The text of a cache file; null when there is none (a gateway that never cached anything). */
export function readCacheText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The cached spec; null when there is no cache file. Throws SpecCacheError for a damaged one. */
export function readSpecCache(path: string): AppliedSpec | null {
  const text = readCacheText(path);
  if (text === null) return null;
  let doc: { format?: unknown; spec?: Partial<AppliedSpec> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new SpecCacheError(path, 'not valid JSON');
  }
  if (doc.format !== FORMAT) throw new SpecCacheError(path, `unknown format ${JSON.stringify(doc.format)} (expected ${FORMAT})`);
  const s = doc.spec;
  if (!s || typeof s.yaml !== 'string' || typeof s.sha256 !== 'string' || typeof s.revision !== 'number') {
    throw new SpecCacheError(path, 'missing yaml, sha256 or revision');
  }
  if (sha256Hex(s.yaml) !== s.sha256) throw new SpecCacheError(path, 'the YAML does not match its sha256 (damaged file)');
  return { yaml: s.yaml, sha256: s.sha256, revision: s.revision, appliedAt: String(s.appliedAt ?? ''), source: String(s.source ?? '') };
}
