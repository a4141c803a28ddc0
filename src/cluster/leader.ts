/**
 * Leader election for the rollout controller, on an etcd lease: exactly one controller drives
 * rollouts; when it dies, another takes over within the lease TTL.
 *
 * The recipe is etcd's own (clientv3/concurrency Election), written out so that its timing is
 * ours to state:
 * - A candidate grants a lease (TTL, default 5 s) and creates `P/election/controller/<lease hex>`
 *   on it. The candidate whose key has the lowest create_revision is the leader; each other one
 *   watches the key just older than its own and re-checks when that one goes.
 * - The leader renews its lease every TTL/3. etcd keeps a lease at least TTL after the renewal it
 *   *received*; the leader only knows when it *sent* it, so it counts its leadership valid until
 *   send time + TTL - margin (a quarter of the TTL, at most 1 s) and demotes itself when that
 *   passes without a renewal: an unreachable etcd demotes the leader before its key can expire and
 *   another be elected. No two leaders act at once, short of a clock running 25% slow.
 * - It also demotes itself at once when etcd says the lease is gone or its key was deleted.
 *
 * Fencing: a controller can still be paused (GC, SIGSTOP) past its leadership and resume with a
 * write in flight. So the leadership is also a fencing token (Fence: the key and its
 * create_revision), and the controller writes through `store.fenced(leadership)`: every write
 * transaction then also requires that key at that revision, and a stale leader's write fails whole
 * with StoreFencedError. Checking leadership inside the store's transaction, rather than passing a
 * token to each writer, keeps the Store interface unchanged and covers every write, events and
 * keys included. Side effects outside etcd (hooks, webhooks) are stopped by `signal`/onDemoted.
 */
import { hostname } from 'node:os';
import { prefixEnd, type EtcdConnection } from '../store/etcd-connection.js';
import { watchKeys, type KeyWatch } from '../store/etcd-watch.js';
import type { Fence } from '../store/etcd.js';

/** What an elected controller holds; pass it to EtcdStore.fenced(). */
export interface Leadership extends Fence {
  /** The election key, `P/election/controller/<lease hex>`. */
  key: string;
  /** Its create revision: the fencing token. */
  revision: number;
  leaseId: string;
  candidate: string;
  /** Aborted the moment leadership ends (abort reason: why). */
  signal: AbortSignal;
}

export interface CampaignOptions {
  /** Shown as the leader's name; default `<hostname>-<pid>`. */
  candidate?: string;
  /** Lease TTL in seconds (default 5; etcd's own minimum is about 2). */
  ttlSec?: number;
  /** This process now leads. Start the controller loop with `store.fenced(leadership)`. */
  onElected(leadership: Leadership): void;
  /** This process stopped leading (lease lost, key gone, etcd unreachable, resign). Stop acting now. */
  onDemoted(reason: string, leadership: Leadership): void;
  /** A failure while campaigning (etcd away): the campaign retries by itself. */
  onError?(error: unknown): void;
}

/** Who leads, as stored (for status pages and `graylane get leader`). */
export interface LeaderRecord {
  candidate: string;
  key: string;
  revision: number;
  /** ISO time the candidate joined the election. */
  since: string;
}

/**
 * Joins the election and stays in it (re-campaigning after a demotion) until resign().
 *
 * @example
 * const election = campaign(etcd, {
 *   onElected: (l) => controller.start(store.fenced(l), l.signal),
 *   onDemoted: () => controller.stop(),
 * });
 * process.on('SIGTERM', () => election.resign());
 */
export function campaign(conn: EtcdConnection, opts: CampaignOptions): Campaign {
  return new Campaign(conn, opts);
}

/** The current leader, or null when there is none. Throws StoreUnavailableError. */
export async function currentLeader(conn: EtcdConnection): Promise<LeaderRecord | null> {
  const res = await conn.range('read the leader', {
    key: Buffer.from(conn.keys.electionPrefix),
    range_end: prefixEnd(conn.keys.electionPrefix),
    sort_target: 'Create',
    sort_order: 'Ascend',
    limit: 1,
  });
  const kv = res.kvs[0];
  if (!kv) return null;
  let v: Partial<LeaderRecord> = {};
  try {
    v = JSON.parse(kv.value.toString()) as Partial<LeaderRecord>;
  } catch {
    // a key put there by hand: still the leader, without a name
  }
  return { candidate: String(v.candidate ?? ''), since: String(v.since ?? ''), key: kv.key.toString(), revision: Number(kv.create_revision) };
}

/** One candidacy: a lease, its key, and (maybe) a leadership. Ends once; everything waits on `signal`. */
class Round {
  private readonly ac = new AbortController();
  readonly ended: Promise<string>;
  keepaliveTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly leaseId: string,
    /** The lease is ours until then (renewal send time + TTL - margin). */
    public validUntil: number,
  ) {
    this.ended = new Promise((resolve) => this.ac.signal.addEventListener('abort', () => resolve(String(this.ac.signal.reason)), { once: true }));
    this.ac.signal.addEventListener('abort', () => clearTimeout(this.keepaliveTimer), { once: true });
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  end(reason: string): void {
    if (!this.ac.signal.aborted) this.ac.abort(reason);
  }
}

export class Campaign {
  private readonly ttlMs: number;
  private readonly marginMs: number;
  private readonly candidate: string;
  private stopped = false;
  private round: Round | undefined;
  private current: { leadership: Leadership; controller: AbortController; round: Round } | null = null;
  private demoteTimer: NodeJS.Timeout | undefined;
  private readonly loop: Promise<void>;

  constructor(
    private readonly conn: EtcdConnection,
    private readonly opts: CampaignOptions,
  ) {
    this.ttlMs = Math.max(1, Math.ceil(opts.ttlSec ?? 5)) * 1000;
    this.marginMs = Math.min(1000, this.ttlMs / 4);
    this.candidate = opts.candidate ?? `${hostname()}-${process.pid}`;
    this.loop = this.run();
  }

  get leadership(): Leadership | null {
    return this.current?.leadership ?? null;
  }

  get isLeader(): boolean {
    return this.current !== null;
  }

  /**
   * Leaves the election: demotes this process if it leads (onDemoted 'resigned') and revokes its
   * lease, so another candidate takes over at once instead of after the TTL.
   */
  async resign(): Promise<void> {
    this.stopped = true;
    this.round?.end('resigned');
    await this.loop;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    // A closed connection is a dead process as far as the election goes: stop with it.
    while (!this.stopped && !this.conn.isClosed) {
      let round: Round | undefined;
      try {
        const sent = Date.now();
        const leaseId = await this.conn.grantLease('join the controller election', this.ttlMs / 1000);
        round = this.round = new Round(leaseId, sent + this.ttlMs - this.marginMs);
        // Demotion is synchronous with the end of the round, whatever ended it.
        round.signal.addEventListener('abort', () => this.demote(String(round!.signal.reason), round!), { once: true });
        if (this.stopped) {
          round.end('resigned');
          continue; // via finally: the lease is revoked
        }
        this.keepalive(round);
        const key = this.conn.keys.candidate(leaseId);
        const value = JSON.stringify({ candidate: this.candidate, since: new Date().toISOString() });
        const res = await this.conn.txn('join the controller election', {
          compare: [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(value), lease: leaseId } }],
          failure: [{ request_range: { key: Buffer.from(key) } }],
        });
        const revision = res.succeeded ? Number(res.header.revision) : Number(res.responses[0]!.response_range.kvs[0]!.create_revision);
        const turn = this.waitForTurn(revision, round.signal);
        turn.catch(() => undefined); // when the round ends first, a late failure of the wait is moot
        await Promise.race([turn, round.ended]);
        if (!round.signal.aborted && Date.now() < round.validUntil) {
          attempt = 0;
          await this.lead(round, key, revision);
        }
      } catch (e) {
        if (!this.stopped) this.opts.onError?.(e);
      } finally {
        if (round) {
          round.end(this.stopped ? 'resigned' : 'the campaign ended');
          // Frees our key now rather than after the TTL; if etcd is away it expires by itself.
          await this.conn.revokeLease('leave the controller election', round.leaseId).catch(() => undefined);
        }
      }
      if (!this.stopped && !this.conn.isClosed) await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt++) * (0.5 + Math.random() / 2)));
    }
  }

  /** Resolves when no candidate older than `revision` is left (or the round ended). */
  private async waitForTurn(revision: number, signal: AbortSignal): Promise<void> {
    const prefix = this.conn.keys.electionPrefix;
    while (!signal.aborted) {
      const res = await this.conn.range('wait for the controller election', {
        key: Buffer.from(prefix),
        range_end: prefixEnd(prefix),
        max_create_revision: revision - 1,
        sort_target: 'Create',
        sort_order: 'Descend',
        limit: 1,
      });
      const older = res.kvs[0];
      if (!older) return;
      // Wait for that one candidate to go: each waits on its own predecessor, no herd on a change.
      await this.untilDeleted(older.key.toString(), Number(res.header.revision), signal);
    }
  }

  private untilDeleted(key: string, fromRevision: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        void watch.close();
        resolve();
      };
      const watch: KeyWatch = watchKeys(
        this.conn,
        key,
        {
          onReset: (entries) => (entries.length === 0 ? done() : undefined),
          onChanges: (changes) => (changes.some((c) => c.type === 'delete') ? done() : undefined),
        },
        { exact: true, fromRevision },
      );
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Leads until the round ends. */
  private async lead(round: Round, key: string, revision: number): Promise<void> {
    const controller = new AbortController();
    const leadership: Leadership = { key, revision, leaseId: round.leaseId, candidate: this.candidate, signal: controller.signal };
    this.current = { leadership, controller, round };
    this.armDemoteTimer(round);
    // Our own key deleted (by hand, or the lease revoked elsewhere) ends the leadership too.
    const own = watchKeys(
      this.conn,
      key,
      {
        onReset: (entries) => (entries.length === 0 ? round.end('the leader key is gone') : undefined),
        onChanges: (changes) => (changes.some((c) => c.type === 'delete') ? round.end('the leader key was deleted') : undefined),
      },
      { exact: true, fromRevision: revision },
    );
    try {
      this.opts.onElected(leadership);
      await round.ended;
    } finally {
      await own.close();
    }
  }

  /** Ends the leadership of `round`, if it holds it, now: the signal aborts, then onDemoted runs. */
  private demote(reason: string, round: Round): void {
    if (this.current === null || this.current.round !== round) return;
    clearTimeout(this.demoteTimer);
    const { leadership, controller } = this.current;
    this.current = null;
    controller.abort(new Error(reason));
    try {
      this.opts.onDemoted(reason, leadership);
    } catch (e) {
      // runs inside an abort listener, where a throw would be an uncaught exception
      this.opts.onError?.(e);
    }
  }

  private armDemoteTimer(round: Round): void {
    clearTimeout(this.demoteTimer);
    const reason = `no lease renewal confirmed by etcd for ${this.ttlMs - this.marginMs} ms`;
    const left = round.validUntil - Date.now();
    if (left <= 0) round.end(reason);
    else this.demoteTimer = setTimeout(() => round.end(reason), left);
  }

  /** Renews the round's lease every TTL/3 until the round ends. */
  private keepalive(round: Round): void {
    const every = this.ttlMs / 3;
    const tick = async (): Promise<void> => {
      const sent = Date.now();
      try {
        const ttl = await this.conn.keepAliveOnce('renew the controller lease', round.leaseId, Math.min(this.conn.timeoutMs, every));
        if (round.signal.aborted) return;
        if (ttl <= 0) return round.end('the lease expired');
        round.validUntil = sent + ttl * 1000 - this.marginMs;
        if (this.current?.round === round) this.armDemoteTimer(round);
      } catch {
        // etcd away. A leader is demoted by its timer; a waiting candidate starts over.
        if (round.signal.aborted) return;
        if (Date.now() >= round.validUntil) return round.end('etcd unreachable for the lease TTL');
      }
      round.keepaliveTimer = setTimeout(() => void tick(), Math.max(0, sent + every - Date.now()));
    };
    round.keepaliveTimer = setTimeout(() => void tick(), every);
  }
}
