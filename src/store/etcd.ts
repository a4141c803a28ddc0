/**
 * The clustered store: the Store interface on etcd, for several gateways and controllers sharing
 * one state. Passes the same conformance suite as SQLite (conformance.ts).
 *
 * How the interface's consistency model maps onto etcd (docs/cluster.md has the key table):
 * - A *revision* is etcd's cluster revision: one counter for every write, so statuses and keys
 *   share it as the interface demands. A status's revision is its key's mod_revision; commit()
 *   returns the revision of its transaction, which is that same number.
 * - Compare-and-swap is an etcd transaction comparing the key's mod_revision (0 = absent, which
 *   is how etcd reports a missing key), so "must not exist yet" needs no special case.
 * - commit() is one transaction: status, events and runs land together or not at all.
 * - Event seqs come from a counter key (`event-seq`) advanced in the same transaction, guarded by
 *   its own mod_revision: two writers appending at once both succeed, one after a retry, and the
 *   log has no gap and no duplicate. The last seq seen is cached, so a lone writer needs one
 *   round trip per commit.
 * - Events are written twice, to the global log and to a per-rollout index, so both
 *   `listEvents(null, ...)` and `listEvents(name, ...)` are plain key ranges with a limit.
 * - fenced(leadership) gives a view whose every write also compares the leader key's
 *   create_revision: a controller that lost its lease cannot write anything (StoreFencedError).
 *
 * etcd caps a transaction at 128 operations by default (--max-txn-ops): a commit takes
 * 2 + 2 x events + runs of them.
 */
import type { IRequestOp, ITxnResponse } from 'etcd3';
import type { AnalysisRun } from '../status/analysis-run.js';
import { parseStatus, serializeStatus, type RolloutEvent } from '../status/rollout-status.js';
import { connectEtcd, padSeq, prefixEnd, toEntry, type EtcdConnection, type EtcdEntry, type EtcdOptions } from './etcd-connection.js';
import { watchKeys, type KeyWatch } from './etcd-watch.js';
import {
  StoreConflictError,
  StoreFencedError,
  StoreUnavailableError,
  type CommitRequest,
  type EventQuery,
  type KeyEntry,
  type Store,
  type StoredEvent,
  type StoredStatus,
} from './types.js';

/** A leader's fencing token: its election key and that key's create revision (see leader.ts). */
export interface Fence {
  key: string;
  revision: number;
}

/** How many times a write retries when only the event seq moved under it (another appender). */
const SEQ_RETRIES = 20;

interface SeqState {
  last: number;
  /** mod_revision of the event-seq key; 0 = not created yet. */
  modRevision: number;
}

const b = (s: string): Buffer => Buffer.from(s);
const put = (key: string, value: string): IRequestOp => ({ request_put: { key: b(key), value: b(value) } });
const getOp = (key: string): IRequestOp => ({ request_range: { key: b(key) } });

/**
 * Opens a store on its own connection; close() closes it.
 *
 * @example const store = openEtcdStore({ endpoints: ['http://127.0.0.1:2379'], prefix: '/graylane' });
 */
export function openEtcdStore(opts: EtcdOptions): EtcdStore {
  return new EtcdStore(connectEtcd(opts), { ownsConnection: true });
}

export class EtcdStore implements Store {
  private readonly keys;
  private readonly ownsConnection: boolean;
  private readonly fence: Fence | undefined;
  /** Shared by fenced views of the same store. */
  private readonly seq: { state: SeqState | null };

  /** A store on a shared connection (close() leaves the connection open unless `ownsConnection`). */
  constructor(
    readonly conn: EtcdConnection,
    opts: { ownsConnection?: boolean; fence?: Fence; seq?: { state: SeqState | null } } = {},
  ) {
    this.keys = conn.keys;
    this.ownsConnection = opts.ownsConnection ?? false;
    this.fence = opts.fence;
    this.seq = opts.seq ?? { state: null };
  }

  /**
   * This store, but every write also requires that `fence.key` still exists at create revision
   * `fence.revision`: the leadership a controller won (Leadership from leader.ts is a Fence).
   * A write after the leadership is gone throws StoreFencedError and writes nothing.
   */
  fenced(fence: Fence): EtcdStore {
    return new EtcdStore(this.conn, { fence: { key: fence.key, revision: fence.revision }, seq: this.seq });
  }

  async getStatus(name: string): Promise<StoredStatus | null> {
    const { entry } = await this.conn.get(`read rollout ${name}`, this.keys.status(name));
    return entry ? { name, revision: entry.modRevision, status: parseStatus(entry.value.toString()) } : null;
  }

  async listStatuses(): Promise<StoredStatus[]> {
    const prefix = this.keys.statusPrefix;
    const { entries } = await this.conn.list('list rollouts', prefix);
    return entries.map((e) => ({ name: decodeURIComponent(e.key.slice(prefix.length)), revision: e.modRevision, status: parseStatus(e.value.toString()) }));
  }

  async commit(req: CommitRequest): Promise<number> {
    const statusKey = this.keys.status(req.name);
    const ops: IRequestOp[] = [put(statusKey, serializeStatus(req.status))];
    for (const run of req.runs ?? []) ops.push(put(this.keys.run(req.name, run.id), JSON.stringify(run)));
    const res = await this.writeWithEvents(`commit rollout ${req.name}`, req.name, req.events ?? [], ops, { key: statusKey, expect: req.expectRevision });
    return Number(res.header.revision);
  }

  async deleteStatus(name: string, expectRevision?: number): Promise<boolean> {
    const key = this.keys.status(name);
    const res = await this.guardedTxn(`delete rollout ${name}`, [{ request_delete_range: { key: b(key) } }], expectRevision === undefined ? undefined : { key, expect: expectRevision }, `rollout ${name}`);
    return deletedCount(res) > 0;
  }

  async appendEvents(name: string, events: readonly RolloutEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.writeWithEvents(`append events of rollout ${name}`, name, events, [], undefined);
  }

  async listEvents(name: string | null, query: EventQuery = {}): Promise<StoredEvent[]> {
    const prefix = name === null ? this.keys.eventsPrefix : this.keys.rolloutEventsPrefix(name);
    // etcd reads limit 0 as "no limit"; SQL's LIMIT 0 is nothing.
    if (query.last !== undefined ? query.last <= 0 : query.limit !== undefined && query.limit <= 0) return [];
    const from = query.afterSeq !== undefined ? prefix + padSeq(query.afterSeq + 1) : prefix;
    const res = await this.conn.range(`list events${name === null ? '' : ` of rollout ${name}`}`, {
      key: b(from),
      range_end: prefixEnd(prefix),
      ...(query.last !== undefined
        ? { limit: query.last, sort_order: 'Descend' as const, sort_target: 'Key' as const }
        : query.limit !== undefined
          ? { limit: query.limit }
          : {}),
    });
    const entries = res.kvs.map(toEntry);
    if (query.last !== undefined) entries.reverse();
    return entries.map((e) => {
      const ev = JSON.parse(e.value.toString()) as RolloutEvent & { rollout: string };
      return { seq: Number(e.key.slice(prefix.length)), rollout: ev.rollout, time: ev.time, type: ev.type, reason: ev.reason, message: ev.message };
    });
  }

  async listAnalysisRuns(name: string): Promise<AnalysisRun[]> {
    const { entries } = await this.conn.list(`list analysis runs of rollout ${name}`, this.keys.runsPrefix(name));
    const runs = entries.map((e) => JSON.parse(e.value.toString()) as AnalysisRun);
    return runs.sort((x, y) => x.startedAt - y.startedAt || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  }

  async getKey(key: string): Promise<KeyEntry | null> {
    const { entry } = await this.conn.get(`read key ${key}`, this.keys.kv(key));
    return entry ? { key, revision: entry.modRevision, value: JSON.parse(entry.value.toString()) as unknown } : null;
  }

  async putKey(key: string, value: unknown, opts: { expectRevision?: number } = {}): Promise<number> {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`value of ${key} is not JSON`);
    const k = this.keys.kv(key);
    const res = await this.guardedTxn(`write key ${key}`, [put(k, text)], opts.expectRevision === undefined ? undefined : { key: k, expect: opts.expectRevision }, `key ${key}`);
    return Number(res.header.revision);
  }

  async deleteKey(key: string, opts: { expectRevision?: number } = {}): Promise<boolean> {
    const k = this.keys.kv(key);
    const res = await this.guardedTxn(`delete key ${key}`, [{ request_delete_range: { key: b(k) } }], opts.expectRevision === undefined ? undefined : { key: k, expect: opts.expectRevision }, `key ${key}`);
    return deletedCount(res) > 0;
  }

  async listKeys(prefix: string): Promise<KeyEntry[]> {
    const base = this.keys.kvPrefix;
    const { entries } = await this.conn.list(`list keys ${prefix}`, base + prefix);
    return entries.map((e) => ({ key: e.key.slice(base.length), revision: e.modRevision, value: JSON.parse(e.value.toString()) as unknown }));
  }

  async close(): Promise<void> {
    if (this.ownsConnection) this.conn.close();
  }

  /**
   * One transaction: `ops` when `cas.key` is at `cas.expect` (if given) and the fence holds. The
   * failure branch reads back what the compares looked at, to say which one failed.
   */
  private async guardedTxn(operation: string, ops: IRequestOp[], cas: { key: string; expect: number } | undefined, label = ''): Promise<ITxnResponse> {
    const compare = [];
    const failure: IRequestOp[] = [];
    if (cas) {
      compare.push({ key: b(cas.key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: cas.expect });
      failure.push(getOp(cas.key));
    }
    if (this.fence) {
      compare.push({ key: b(this.fence.key), target: 'Create' as const, result: 'Equal' as const, create_revision: this.fence.revision });
      failure.push(getOp(this.fence.key));
    }
    const res = await this.conn.txn(operation, { compare, success: ops, failure });
    if (!res.succeeded) {
      this.throwFenced(res, cas ? 1 : 0);
      const found = firstEntry(res, 0);
      throw new StoreConflictError(label, cas!.expect, found?.modRevision ?? 0);
    }
    return res;
  }

  /** `ops` plus `events` appended to the log, in one transaction (see the module comment on seqs). */
  private async writeWithEvents(
    operation: string,
    rollout: string,
    events: readonly RolloutEvent[],
    ops: IRequestOp[],
    cas: { key: string; expect: number } | undefined,
  ): Promise<ITxnResponse> {
    if (events.length === 0) return this.guardedTxn(operation, ops, cas, `rollout ${rollout}`);
    const seqKey = this.keys.eventSeq;
    let seq = this.seq.state;
    if (seq === null) {
      const { entry } = await this.conn.get(operation, seqKey);
      seq = seqStateOf(entry);
    }
    for (let attempt = 0; attempt < SEQ_RETRIES; attempt++) {
      const compare = [];
      const failure: IRequestOp[] = [getOp(seqKey)];
      if (cas) {
        compare.push({ key: b(cas.key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: cas.expect });
        failure.push(getOp(cas.key));
      }
      if (this.fence) {
        compare.push({ key: b(this.fence.key), target: 'Create' as const, result: 'Equal' as const, create_revision: this.fence.revision });
        failure.push(getOp(this.fence.key));
      }
      compare.push({ key: b(seqKey), target: 'Mod' as const, result: 'Equal' as const, mod_revision: seq.modRevision });
      const success = [...ops];
      let n = seq.last;
      for (const e of events) {
        n++;
        const text = JSON.stringify({ rollout, time: e.time, type: e.type, reason: e.reason, message: e.message });
        success.push(put(this.keys.event(n), text), put(this.keys.rolloutEvent(rollout, n), text));
      }
      success.push(put(seqKey, String(n)));
      const res = await this.conn.txn(operation, { compare, success, failure });
      if (res.succeeded) {
        this.seq.state = { last: n, modRevision: Number(res.header.revision) };
        return res;
      }
      seq = seqStateOf(firstEntry(res, 0));
      this.seq.state = seq;
      this.throwFenced(res, cas ? 2 : 1);
      if (cas) {
        const found = firstEntry(res, 1)?.modRevision ?? 0;
        if (found !== cas.expect) throw new StoreConflictError(`rollout ${rollout}`, cas.expect, found);
      }
      // Only the seq moved: another writer appended. Go again with the seq just read.
    }
    throw new StoreUnavailableError(operation, `the event log kept moving under ${SEQ_RETRIES} attempts (too many writers at once)`);
  }

  /** Throws StoreFencedError when the fence is set and the failure branch shows it broken. */
  private throwFenced(res: ITxnResponse, index: number): void {
    if (!this.fence) return;
    const leader = firstEntry(res, index);
    if (leader?.createRevision !== this.fence.revision) throw new StoreFencedError(this.fence.key, this.fence.revision);
  }
}

function deletedCount(res: ITxnResponse): number {
  // etcd3's typings omit response_delete_range from IResponseOp; it is there at run time.
  const op = res.responses[0] as { response_delete_range?: { deleted: string } } | undefined;
  return Number(op?.response_delete_range?.deleted ?? 0);
}

function firstEntry(res: ITxnResponse, index: number): EtcdEntry | undefined {
  const kv = res.responses[index]?.response_range?.kvs[0];
  return kv ? toEntry(kv) : undefined;
}

function seqStateOf(entry: EtcdEntry | null | undefined): SeqState {
  return entry ? { last: Number(entry.value.toString()), modRevision: entry.modRevision } : { last: 0, modRevision: 0 };
}

export interface StatusWatchOptions {
  /** etcd reachable or not; while it is not, the last statuses stay. */
  onConnection?: (connected: boolean, error?: Error) => void;
  /** A stored status could not be read (written by something else); it is left out. */
  onError?: (error: unknown) => void;
}

/**
 * Watches every rollout status: what each gateway compiles its weight overlays from, so a step the
 * (one, elected) controller commits reaches every gateway. `onChange` gets the full set, by name,
 * once at the start and after each change.
 *
 * @example
 * watchStatuses(etcd, (statuses) => recompile({ services: overlaysOf(statuses) }));
 */
export function watchStatuses(conn: EtcdConnection, onChange: (statuses: StoredStatus[]) => void, opts: StatusWatchOptions = {}): KeyWatch {
  const prefix = conn.keys.statusPrefix;
  const table = new Map<string, StoredStatus>();
  const put = (e: EtcdEntry): void => {
    const name = decodeURIComponent(e.key.slice(prefix.length));
    try {
      table.set(name, { name, revision: e.modRevision, status: parseStatus(e.value.toString()) });
    } catch (err) {
      table.delete(name);
      opts.onError?.(err);
    }
  };
  const emit = (): void => onChange([...table.values()].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)));
  return watchKeys(conn, prefix, {
    onReset: (entries) => {
      table.clear();
      for (const e of entries) put(e);
      emit();
    },
    onChanges: (changes) => {
      for (const c of changes) {
        if (c.type === 'put') put(c.entry);
        else table.delete(decodeURIComponent(c.entry.key.slice(prefix.length)));
      }
      emit();
    },
    ...(opts.onConnection ? { onConnection: opts.onConnection } : {}),
  });
}
