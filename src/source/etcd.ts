/**
 * The spec in etcd: `graylane apply` writes it, every gateway watches it.
 *
 * - `P/spec` holds a JSON envelope `{ sha256, appliedAt, source, yaml }`: the YAML exactly as
 *   applied (so `graylane get spec` returns the user's file, comments included) and its content
 *   hash. A value that is not such an envelope is read as bare YAML, so an operator may also
 *   `etcdctl put /graylane/spec "$(cat graylane.yaml)"`.
 * - The spec's revision is the key's mod_revision: the etcd revision of the apply.
 * - Applying the text that is already there writes nothing (no revision, no reload anywhere).
 * - Validation is the caller's: apply only what parseSpec accepted; a gateway parses what it gets
 *   and rejects a bad spec (written by hand) by returning false, keeping its current Snapshot.
 *
 * Start-up decision (docs/cluster.md): a gateway that cannot reach etcd starts from its cache of
 * the last good spec (cache.ts) with a loud warning, and catches up when etcd answers; with
 * no cache it refuses to start, with a message that says so.
 */
import type { Logger } from 'pino';
import { parseSpec, type Spec } from '../spec/index.js';
import type { EtcdConnection, EtcdEntry } from '../store/etcd-connection.js';
import { watchKeys, type KeyWatch } from '../store/etcd-watch.js';
import { readSpecCache, sha256Hex, writeSpecCache } from './cache.js';
import { StoreConflictError, StoreUnavailableError } from '../store/types.js';
import type { AppliedSpec, SpecSource } from './types.js';

export type { AppliedSpec } from './types.js';

export interface ApplyResult {
  revision: number;
  sha256: string;
  /** False when etcd already held this exact text: nothing was written. */
  changed: boolean;
}

export interface ApplyOptions {
  /** Shown in messages and `get spec`, e.g. the file name. */
  source?: string;
  /** Compare-and-swap: apply only if the spec is still at this revision (0 = none applied yet). */
  expectRevision?: number;
  /** Clock for appliedAt (tests). */
  now?: () => Date;
}

/**
 * Writes `yaml` as the spec. The caller has validated it (parseSpec) first. Throws
 * StoreUnavailableError (etcd away: nothing written) or, with expectRevision, StoreConflictError.
 *
 * @example
 * parseSpec(text, file); // throws ConfigError: write nothing
 * const r = await applySpec(etcd, text, { source: file });
 * console.log(r.changed ? `applied at revision ${r.revision}` : 'unchanged');
 */
export async function applySpec(conn: EtcdConnection, yaml: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const key = conn.keys.spec;
  const sha256 = sha256Hex(yaml);
  const current = await getSpec(conn);
  const found = current?.revision ?? 0;
  if (opts.expectRevision !== undefined && opts.expectRevision !== found) throw new StoreConflictError('spec', opts.expectRevision, found);
  if (current?.sha256 === sha256) return { revision: current.revision, sha256, changed: false };
  const envelope = JSON.stringify({ sha256, appliedAt: (opts.now?.() ?? new Date()).toISOString(), source: opts.source ?? '', yaml });
  const put = { request_put: { key: Buffer.from(key), value: Buffer.from(envelope) } };
  if (opts.expectRevision === undefined) {
    // Last writer wins, as with kubectl apply.
    const res = await conn.txn('apply the spec', { success: [put] });
    return { revision: Number(res.header.revision), sha256, changed: true };
  }
  const res = await conn.txn('apply the spec', {
    compare: [{ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: opts.expectRevision }],
    success: [put],
    failure: [{ request_range: { key: Buffer.from(key) } }],
  });
  if (!res.succeeded) throw new StoreConflictError('spec', opts.expectRevision, Number(res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? 0));
  return { revision: Number(res.header.revision), sha256, changed: true };
}

/** The applied spec, or null when none was applied. Throws StoreUnavailableError. */
export async function getSpec(conn: EtcdConnection): Promise<AppliedSpec | null> {
  const { entry } = await conn.get('read the spec', conn.keys.spec);
  return entry ? decodeSpec(entry) : null;
}

/** The stored value as an AppliedSpec: our envelope, or bare YAML written by hand. */
export function decodeSpec(entry: EtcdEntry): AppliedSpec {
  const text = entry.value.toString('utf8');
  try {
    const e = JSON.parse(text) as Partial<AppliedSpec>;
    if (e && typeof e === 'object' && typeof e.yaml === 'string' && typeof e.sha256 === 'string') {
      return { yaml: e.yaml, sha256: sha256Hex(e.yaml), revision: entry.modRevision, appliedAt: String(e.appliedAt ?? ''), source: String(e.source ?? '') };
    }
  } catch {
    // not JSON: bare YAML
  }
  return { yaml: text, sha256: sha256Hex(text), revision: entry.modRevision, appliedAt: '', source: '' };
}

export interface InitialSpec {
  /** null: etcd answered and no spec was applied yet. */
  spec: AppliedSpec | null;
  /** `cache`: etcd was unreachable, or its spec was refused; this is the last good spec this gateway saw. Warn loudly. */
  from: 'etcd' | 'cache';
  /** Why etcd's spec is not served, when from = cache: StoreUnavailableError, or what `accept` threw. */
  error?: Error;
}

/**
 * The spec a gateway starts with: from etcd (refreshing the cache once `accept` passed it), else
 * from the cache file. `accept` validates the text as the gateway will (throw to refuse it): a
 * refused spec is never cached, and the cached one is served instead. Throws StoreUnavailableError
 * when etcd is away and there is no cache to start from, what `accept` threw when there is no cache
 * either, and SpecCacheError when the cache is damaged.
 */
export async function loadInitialSpec(
  conn: EtcdConnection,
  opts: { cacheFile?: string; accept?: (spec: AppliedSpec) => void } = {},
): Promise<InitialSpec> {
  let spec: AppliedSpec | null;
  try {
    spec = await getSpec(conn);
  } catch (e) {
    if (!(e instanceof StoreUnavailableError)) throw e;
    const cached = opts.cacheFile ? readSpecCache(opts.cacheFile) : null;
    if (cached === null) {
      const where = opts.cacheFile ? `no cached spec at ${opts.cacheFile}` : 'no spec cache file configured';
      throw new StoreUnavailableError('load the spec', `${e.message.replace(/^store unavailable: read the spec: /, '')}; and ${where}: cannot start without a spec`, { cause: e });
    }
    return { spec: cached, from: 'cache', error: e };
  }
  if (spec === null) return { spec, from: 'etcd' };
  try {
    opts.accept?.(spec);
  } catch (e) {
    const cached = opts.cacheFile ? readSpecCache(opts.cacheFile) : null;
    if (cached === null) throw e;
    return { spec: cached, from: 'cache', error: e instanceof Error ? e : new Error(String(e)) };
  }
  if (opts.cacheFile) {
    let cached: AppliedSpec | null = null;
    try {
      cached = readSpecCache(opts.cacheFile);
    } catch {
      // damaged: rewritten below
    }
    if (cached?.sha256 !== spec.sha256 || cached.revision !== spec.revision) writeSpecCache(opts.cacheFile, spec);
  }
  return { spec, from: 'etcd' };
}

export interface WatchSpecOptions {
  /** The spec the caller already serves: it is not handed over again (compared by sha256). */
  since?: { sha256: string } | null;
  /** Keep the last accepted spec in this file (atomic writes). */
  cacheFile?: string;
  /** etcd reachable or not (for /metrics and the dashboard: the store is down). */
  onConnection?: (connected: boolean, error?: Error) => void;
  /** onSpec threw, or the cache could not be written. */
  onError?: (error: unknown) => void;
}

/**
 * Calls `onSpec` with each new spec: first the current one if it differs from `since`, then every
 * change (a burst that arrives together, e.g. after a reconnect, gives only its last spec). Return
 * false (or throw) from onSpec to reject a spec: it is not cached, and the same text is not offered
 * again. A deleted spec key is ignored (the gateway keeps what it serves).
 *
 * On a reconnect the watch resumes from the last revision it saw; see etcd-watch.ts.
 *
 * @example
 * const initial = await loadInitialSpec(etcd, { cacheFile });
 * const watch = watchSpec(etcd, (s) => reload(parseSpec(s.yaml, `etcd ${s.source}`)), { since: initial.spec, cacheFile });
 */
export function watchSpec(
  conn: EtcdConnection,
  onSpec: (spec: AppliedSpec) => boolean | void | Promise<boolean | void>,
  opts: WatchSpecOptions = {},
): KeyWatch {
  let lastSha = opts.since?.sha256;
  const report = opts.onError ?? ((e: unknown) => process.emitWarning(e instanceof Error ? e : new Error(String(e)), 'GraylaneSpecWatch'));
  const consider = async (entry: EtcdEntry | undefined): Promise<void> => {
    if (entry === undefined) return;
    const spec = decodeSpec(entry);
    if (spec.sha256 === lastSha) return;
    lastSha = spec.sha256;
    let accepted: boolean | void;
    try {
      accepted = await onSpec(spec);
    } catch (e) {
      report(e);
      return;
    }
    if (accepted === false || !opts.cacheFile) return;
    try {
      writeSpecCache(opts.cacheFile, spec);
    } catch (e) {
      report(e);
    }
  };
  return watchKeys(
    conn,
    conn.keys.spec,
    {
      onReset: (entries) => consider(entries[0]),
      onChanges: (changes) => {
        const last = changes.at(-1)!;
        return consider(last.type === 'put' ? last.entry : undefined);
      },
      ...(opts.onConnection ? { onConnection: opts.onConnection } : {}),
      ...(opts.onError ? { onError: opts.onError } : {}),
    },
    { exact: true },
  );
}

export interface EtcdSourceOptions {
  /** Where the last accepted spec is cached (`spec-cache.json`). */
  cacheFile: string;
  /** For messages: `etcd://host:port/prefix`. */
  location: string;
  logger: Logger;
  /** The spec watch is established or not (the app reports etcd up only while it is). */
  onConnection?: (connected: boolean, error?: Error) => void;
}

/** The spec served while none was applied yet: no services, no routes (every request is a 404). */
const EMPTY_SPEC = 'services: {}\nroutes: []\n';

/**
 * The spec from etcd (loadInitialSpec, then watchSpec), parsed and validated here exactly as
 * `graylane validate` does; only a spec that passed, and that the app's onSpec accepted (compiled),
 * is cached. With etcd away at start the cached spec is served and `unreachable` says why; with no
 * cache the start is refused.
 */
export async function openEtcdSource(conn: EtcdConnection, opts: EtcdSourceOptions): Promise<SpecSource & { readonly unreachable?: Error }> {
  const log = opts.logger;
  const prefix = conn.keys.prefix;
  const fileOf = (s: AppliedSpec): string => `etcd:${prefix}/spec@${s.revision}${s.source ? ` (${s.source})` : ''}`;
  const initial = await initialSpec(conn, opts.cacheFile, fileOf, log);
  let watch: KeyWatch | undefined;
  return {
    spec: initial.spec,
    location: opts.location,
    ...(initial.unreachable ? { unreachable: initial.unreachable } : {}),
    follow(handlers) {
      watch = watchSpec(
        conn,
        (applied) => {
          let spec: Spec;
          try {
            spec = parseSpec(applied.yaml, fileOf(applied));
            handlers.onSpec(spec);
          } catch (err) {
            handlers.onReject(err instanceof Error ? err : new Error(String(err)));
            return false; // not cached; the same text is not offered again
          }
          return true;
        },
        {
          since: initial.applied,
          cacheFile: opts.cacheFile,
          ...(opts.onConnection ? { onConnection: opts.onConnection } : {}),
          onError: (err) => log.warn({ err }, 'spec watch'),
        },
      );
    },
    async stop() {
      await watch?.close();
    },
  };
}

/**
 * The spec at start (loadInitialSpec): etcd's if it is valid (and then cached), else the cache
 * (etcd away, or an invalid spec written by hand), else a refusal that says why. None applied yet:
 * the empty spec.
 */
async function initialSpec(
  conn: EtcdConnection,
  cacheFile: string,
  fileOf: (s: AppliedSpec) => string,
  log: Logger,
): Promise<{ applied: AppliedSpec | null; spec: Spec; unreachable?: Error }> {
  let parsed: Spec | undefined;
  const loaded = await loadInitialSpec(conn, { cacheFile, accept: (s) => void (parsed = parseSpec(s.yaml, fileOf(s))) });
  const applied = loaded.spec;
  if (applied === null) {
    log.warn({ prefix: conn.keys.prefix }, 'no spec applied yet: serving nothing until `graylane apply -f FILE`');
    return { applied: null, spec: parseSpec(EMPTY_SPEC, '(no spec applied)') };
  }
  if (loaded.from === 'cache') {
    const why = loaded.error instanceof StoreUnavailableError ? 'ETCD UNREACHABLE: serving the cached spec; changes apply when etcd answers' : 'the spec in etcd is invalid: serving the cached one';
    log.warn({ appliedAt: applied.appliedAt, revision: applied.revision, cache: cacheFile, err: loaded.error?.message }, why);
    const spec = parseSpec(applied.yaml, fileOf(applied));
    return loaded.error instanceof StoreUnavailableError ? { applied, spec, unreachable: loaded.error } : { applied, spec };
  }
  return { applied, spec: parsed! };
}
