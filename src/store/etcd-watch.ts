/**
 * A watch on a key or a key prefix that survives disconnects without missing or repeating a
 * change: the list-then-watch pattern of Kubernetes informers, on etcd's revisions.
 *
 * - Start: list the range at revision R (onReset), then watch from R + 1. Started with
 *   `fromRevision` (e.g. from a cache file), it skips the list and watches from there.
 * - The revision it resumes from is the last one it *delivered* (the highest mod_revision of the
 *   changes handed over, or a progress notification's revision, which promises that everything up
 *   to it was sent). The etcd3 library's own watcher resumes from the newest revision in any
 *   response header, including the creation answer that comes before the replayed changes, so a
 *   stream cut at the wrong moment would skip them; hence this module drives the raw watch stream.
 * - After a disconnect it reconnects with jittered backoff (100 ms doubling to 2 s, so N gateways
 *   do not reconnect in step) and resumes from that revision: each change exactly once, in order.
 * - If etcd has compacted that revision away (down too long), it cannot replay: it lists again
 *   and hands over the whole range (onReset). That is the only full reload.
 */
import { castGrpcError, type IWatchResponse } from 'etcd3';
import { asUnavailable, prefixEnd, toEntry, type EtcdConnection, type EtcdEntry } from './etcd-connection.js';

export interface WatchChange {
  type: 'put' | 'delete';
  /** For a delete: the key, an empty value, and modRevision = the revision of the delete. */
  entry: EtcdEntry;
}

export interface WatchHandlers {
  /** The whole range as of `revision` (the first list, or a relist after compaction): replace what you hold. */
  onReset(entries: EtcdEntry[], revision: number): void | Promise<void>;
  /** Changes after the last revision delivered, in revision order, each exactly once. */
  onChanges(changes: WatchChange[], revision: number): void | Promise<void>;
  /** The watch is established (true) or lost (false, with why). Called on transitions only. */
  onConnection?(connected: boolean, error?: Error): void;
  /** A handler threw or rejected; the watch goes on. Default: process.emitWarning. */
  onError?(error: unknown): void;
}

export interface WatchOptions {
  /** Watch the exact key instead of every key starting with it. */
  exact?: boolean;
  /** Resume after this revision (no initial list): changes from `fromRevision + 1` on are delivered. */
  fromRevision?: number;
}

/**
 * Starts watching `key` (a prefix unless `exact`). Handlers are called one at a time, in order,
 * even when they are async.
 *
 * @example
 * const w = watchKeys(etcd, etcd.keys.instancesPrefix, {
 *   onReset: (entries) => table.replace(entries),
 *   onChanges: (changes) => table.apply(changes),
 * });
 * await w.close();
 */
export function watchKeys(conn: EtcdConnection, key: string, handlers: WatchHandlers, opts: WatchOptions = {}): KeyWatch {
  return new KeyWatch(conn, key, handlers, opts);
}

export class KeyWatch {
  /** Last revision delivered; undefined before the first list. */
  private seen: number | undefined;
  private closed = false;
  private isConnected = false;
  private cancelStream: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly loop: Promise<void>;
  private readonly firstSync: Promise<void>;
  private synced!: () => void;

  constructor(
    private readonly conn: EtcdConnection,
    private readonly key: string,
    private readonly handlers: WatchHandlers,
    private readonly opts: WatchOptions,
  ) {
    this.seen = opts.fromRevision;
    this.firstSync = new Promise((resolve) => (this.synced = resolve));
    this.loop = this.run();
  }

  /** The revision the watch has delivered up to (what a restart would resume from). */
  get revision(): number | undefined {
    return this.seen;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /**
   * Resolves once the watch has listed (or resumed) and is established, with every handler called
   * so far finished. It waits as long as etcd is away: race it with a timer where that matters.
   */
  async ready(): Promise<void> {
    await this.firstSync;
    await this.queue;
  }

  /** Stops watching; resolves when the last handler call has finished. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelStream?.();
    this.wake?.();
    await this.loop;
    await this.queue;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.closed && !this.conn.isClosed) {
      try {
        if (this.seen === undefined) await this.list();
        const established = await this.stream(this.seen! + 1);
        if (established) attempt = 0;
      } catch (e) {
        this.setConnected(false, e instanceof Error ? e : new Error(String(e)));
      }
      if (this.closed || this.conn.isClosed) break;
      await this.sleep(Math.min(2000, 100 * 2 ** attempt++) * (0.5 + Math.random() / 2));
    }
    this.setConnected(false);
  }

  private async list(): Promise<void> {
    const operation = `watch ${this.key}`;
    if (this.opts.exact) {
      const { entry, revision } = await this.conn.get(operation, this.key);
      this.deliver(() => this.handlers.onReset(entry ? [entry] : [], revision));
      this.seen = revision;
    } else {
      const { entries, revision } = await this.conn.list(operation, this.key);
      this.deliver(() => this.handlers.onReset(entries, revision));
      this.seen = revision;
    }
  }

  /**
   * One watch stream from `from`; resolves when it ends (with whether it was established first).
   * A compacted start revision clears `seen`, so the loop lists again.
   */
  private async stream(from: number): Promise<boolean> {
    const s = await this.conn.client.watchClient.watch();
    if (this.closed) {
      s.end();
      s.cancel();
      return false;
    }
    let established = false;
    return new Promise<boolean>((resolve, reject) => {
      let done = false;
      const finish = (error?: Error): void => {
        if (done) return;
        done = true;
        this.cancelStream = undefined;
        // end() first: etcd3 resets every connection of the host when a *writable* stream errors,
        // and cancel() makes the stream error with CANCELLED. (etcd ignores a half-close.)
        s.end();
        s.cancel();
        if (error && !this.closed) reject(asUnavailable(`watch ${this.key}`, error) ?? error);
        else resolve(established);
      };
      this.cancelStream = () => finish();
      s.on('data', (res: IWatchResponse) => {
        if (done) return;
        if (res.canceled) {
          if (Number(res.compact_revision) > 0) this.seen = undefined; // history gone: list again
          finish(new Error(`watch canceled by etcd: ${res.cancel_reason || `revision ${from} compacted`}`));
          return;
        }
        if (res.created) {
          established = true;
          this.setConnected(true);
          this.synced();
          return;
        }
        if (res.events.length === 0) {
          // Progress notification: every change up to this revision has been sent.
          this.seen = Math.max(this.seen ?? 0, Number(res.header.revision));
          return;
        }
        const changes: WatchChange[] = [];
        for (const ev of res.events) {
          const entry = toEntry(ev.kv);
          if (entry.modRevision <= this.seen!) continue; // already delivered (never expected; guards exactly-once)
          changes.push({ type: ev.type === 'Delete' ? 'delete' : 'put', entry });
        }
        if (changes.length === 0) return;
        const revision = changes.at(-1)!.entry.modRevision;
        this.seen = revision;
        this.deliver(() => this.handlers.onChanges(changes, revision));
      });
      s.on('error', (e: Error) => finish(castGrpcError(e)));
      s.on('end', () => finish(new Error('the watch stream ended')));
      s.write({
        create_request: {
          key: Buffer.from(this.key),
          ...(this.opts.exact ? {} : { range_end: prefixEnd(this.key) }),
          start_revision: from,
          progress_notify: true,
        },
      });
    });
  }

  private deliver(call: () => void | Promise<void>): void {
    this.queue = this.queue.then(call).catch((e: unknown) => {
      if (this.handlers.onError) this.handlers.onError(e);
      else process.emitWarning(e instanceof Error ? e : new Error(String(e)), 'GraylaneWatchHandler');
    });
  }

  private setConnected(connected: boolean, error?: Error): void {
    if (connected === this.isConnected) return;
    this.isConnected = connected;
    this.handlers.onConnection?.(connected, error);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
