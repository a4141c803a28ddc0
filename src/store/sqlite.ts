/**
 * The embedded store: one SQLite file through better-sqlite3.
 *
 * - WAL journal (readers such as the CLI never block the controller's writes) with
 *   `synchronous = FULL`: a commit that returned survives kill -9 and power loss, and a commit cut
 *   short is rolled back when the file is next opened. Writes are few (a controller tick), so the
 *   fsync per commit costs nothing that matters.
 * - Every write is one `BEGIN IMMEDIATE` transaction: the write lock is taken first, so two
 *   processes on one file queue (busy_timeout) instead of failing halfway.
 * - The schema is versioned in `schema_migrations`; opening a file applies the missing migrations
 *   in order, each in its own transaction, and refuses a file written by a newer graylane.
 *
 * better-sqlite3 is synchronous; the methods are async only to share the Store interface with etcd.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { AnalysisRun } from '../status/analysis-run.js';
import { parseStatus, serializeStatus, type RolloutEvent } from '../status/rollout-status.js';
import {
  StoreConflictError,
  type CommitRequest,
  type EventQuery,
  type KeyEntry,
  type Store,
  type StoredEvent,
  type StoredStatus,
} from './types.js';

/** Ordered schema changes. Never edit one that has shipped: add the next. */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'rollout status, events, analysis runs, keys',
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT INTO meta (key, value) VALUES ('revision', 0);
      CREATE TABLE rollout_status (
        name TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        status TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE rollout_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        rollout TEXT NOT NULL,
        time INTEGER NOT NULL,
        type TEXT NOT NULL,
        reason TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX rollout_events_by_rollout ON rollout_events (rollout, seq);
      CREATE TABLE analysis_runs (
        rollout TEXT NOT NULL,
        id TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        run TEXT NOT NULL,
        PRIMARY KEY (rollout, id)
      );
      CREATE TABLE kv (key TEXT PRIMARY KEY, revision INTEGER NOT NULL, value TEXT NOT NULL);
    `,
  },
];

export interface SqliteStoreOptions {
  /** How long a write waits for another process's write lock (default 5000 ms). */
  busyTimeoutMs?: number;
}

interface EventRow {
  seq: number;
  rollout: string;
  time: number;
  type: string;
  reason: string;
  message: string;
}

/**
 * Opens (creating it and its directory when needed) the SQLite store at `path`; `:memory:` works
 * for tests that need no file.
 *
 * @example const store = openSqliteStore('.graylane/state.db');
 */
export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return new SqliteStore(db);
}

/** Applies missing migrations; returns the schema version. */
export function migrate(db: Database.Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const current = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
  const newest = MIGRATIONS.at(-1)?.version ?? 0;
  if (current > newest) {
    throw new Error(`the state file has schema version ${current}, newer than this graylane knows (${newest}): upgrade graylane`);
  }
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }).immediate();
  }
  return newest;
}

export class SqliteStore implements Store {
  private readonly stmt;

  constructor(private readonly db: Database.Database) {
    this.stmt = {
      bump: db.prepare("UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value"),
      getStatus: db.prepare('SELECT name, revision, status FROM rollout_status WHERE name = ?'),
      listStatuses: db.prepare('SELECT name, revision, status FROM rollout_status ORDER BY name'),
      revisionOf: db.prepare('SELECT revision FROM rollout_status WHERE name = ?'),
      upsertStatus: db.prepare(
        'INSERT INTO rollout_status (name, revision, status, updated_at) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, status = excluded.status, updated_at = excluded.updated_at',
      ),
      deleteStatus: db.prepare('DELETE FROM rollout_status WHERE name = ?'),
      insertEvent: db.prepare('INSERT INTO rollout_events (rollout, time, type, reason, message) VALUES (?, ?, ?, ?, ?)'),
      upsertRun: db.prepare(
        'INSERT INTO analysis_runs (rollout, id, started_at, run) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (rollout, id) DO UPDATE SET started_at = excluded.started_at, run = excluded.run',
      ),
      listRuns: db.prepare('SELECT run FROM analysis_runs WHERE rollout = ? ORDER BY started_at, id'),
      getKey: db.prepare('SELECT key, revision, value FROM kv WHERE key = ?'),
      putKey: db.prepare(
        'INSERT INTO kv (key, revision, value) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET revision = excluded.revision, value = excluded.value',
      ),
      deleteKey: db.prepare('DELETE FROM kv WHERE key = ?'),
      listKeys: db.prepare("SELECT key, revision, value FROM kv WHERE substr(key, 1, length(?)) = ? ORDER BY key"),
    };
  }

  private nextRevision(): number {
    return (this.stmt.bump.get() as { value: number }).value;
  }

  private insertEvents(name: string, events: readonly RolloutEvent[]): void {
    for (const e of events) this.stmt.insertEvent.run(name, e.time, e.type, e.reason, e.message);
  }

  async getStatus(name: string): Promise<StoredStatus | null> {
    const row = this.stmt.getStatus.get(name) as { name: string; revision: number; status: string } | undefined;
    return row ? { name: row.name, revision: row.revision, status: parseStatus(row.status) } : null;
  }

  async listStatuses(): Promise<StoredStatus[]> {
    const rows = this.stmt.listStatuses.all() as { name: string; revision: number; status: string }[];
    return rows.map((r) => ({ name: r.name, revision: r.revision, status: parseStatus(r.status) }));
  }

  async commit(req: CommitRequest): Promise<number> {
    const text = serializeStatus(req.status);
    return this.db
      .transaction(() => {
        const found = (this.stmt.revisionOf.get(req.name) as { revision: number } | undefined)?.revision ?? 0;
        if (found !== req.expectRevision) throw new StoreConflictError(`rollout ${req.name}`, req.expectRevision, found);
        const revision = this.nextRevision();
        this.stmt.upsertStatus.run(req.name, revision, text, Date.now());
        this.insertEvents(req.name, req.events ?? []);
        for (const run of req.runs ?? []) this.stmt.upsertRun.run(req.name, run.id, run.startedAt, JSON.stringify(run));
        return revision;
      })
      .immediate();
  }

  async deleteStatus(name: string, expectRevision?: number): Promise<boolean> {
    return this.db
      .transaction(() => {
        const found = (this.stmt.revisionOf.get(name) as { revision: number } | undefined)?.revision ?? 0;
        if (expectRevision !== undefined && found !== expectRevision) throw new StoreConflictError(`rollout ${name}`, expectRevision, found);
        if (found === 0) return false;
        this.nextRevision();
        this.stmt.deleteStatus.run(name);
        return true;
      })
      .immediate();
  }

  async appendEvents(name: string, events: readonly RolloutEvent[]): Promise<void> {
    this.db.transaction(() => this.insertEvents(name, events)).immediate();
  }

  async listEvents(name: string | null, query: EventQuery = {}): Promise<StoredEvent[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (name !== null) {
      where.push('rollout = ?');
      args.push(name);
    }
    if (query.afterSeq !== undefined) {
      where.push('seq > ?');
      args.push(query.afterSeq);
    }
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    let sql: string;
    if (query.last !== undefined) {
      sql = `SELECT * FROM (SELECT * FROM rollout_events ${filter} ORDER BY seq DESC LIMIT ?) ORDER BY seq`;
      args.push(query.last);
    } else {
      sql = `SELECT * FROM rollout_events ${filter} ORDER BY seq${query.limit !== undefined ? ' LIMIT ?' : ''}`;
      if (query.limit !== undefined) args.push(query.limit);
    }
    const rows = this.db.prepare(sql).all(...args) as EventRow[];
    return rows.map((r) => ({ seq: r.seq, rollout: r.rollout, time: r.time, type: r.type as RolloutEvent['type'], reason: r.reason, message: r.message }));
  }

  async listAnalysisRuns(name: string): Promise<AnalysisRun[]> {
    return (this.stmt.listRuns.all(name) as { run: string }[]).map((r) => JSON.parse(r.run) as AnalysisRun);
  }

  async getKey(key: string): Promise<KeyEntry | null> {
    const row = this.stmt.getKey.get(key) as { key: string; revision: number; value: string } | undefined;
    return row ? { key: row.key, revision: row.revision, value: JSON.parse(row.value) as unknown } : null;
  }

  async putKey(key: string, value: unknown, opts: { expectRevision?: number } = {}): Promise<number> {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`value of ${key} is not JSON`);
    return this.db
      .transaction(() => {
        if (opts.expectRevision !== undefined) {
          const found = (this.stmt.getKey.get(key) as { revision: number } | undefined)?.revision ?? 0;
          if (found !== opts.expectRevision) throw new StoreConflictError(`key ${key}`, opts.expectRevision, found);
        }
        const revision = this.nextRevision();
        this.stmt.putKey.run(key, revision, text);
        return revision;
      })
      .immediate();
  }

  async deleteKey(key: string, opts: { expectRevision?: number } = {}): Promise<boolean> {
    return this.db
      .transaction(() => {
        const found = (this.stmt.getKey.get(key) as { revision: number } | undefined)?.revision ?? 0;
        if (opts.expectRevision !== undefined && found !== opts.expectRevision) throw new StoreConflictError(`key ${key}`, opts.expectRevision, found);
        if (found === 0) return false;
        this.nextRevision();
        this.stmt.deleteKey.run(key);
        return true;
      })
      .immediate();
  }

  async listKeys(prefix: string): Promise<KeyEntry[]> {
    const rows = this.stmt.listKeys.all(prefix, prefix) as { key: string; revision: number; value: string }[];
    return rows.map((r) => ({ key: r.key, revision: r.revision, value: JSON.parse(r.value) as unknown }));
  }

  /** `PRAGMA integrity_check`: 'ok' for a sound file. */
  integrityCheck(): string {
    return (this.db.pragma('integrity_check', { simple: true }) as string) ?? '';
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
