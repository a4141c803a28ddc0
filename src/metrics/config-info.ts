/**
 * What the process says about the config it serves and the store it runs on: reported by
 * /api/v1/config (src/admin/config.ts), /metrics (registry.ts) and the dashboard's overview
 * (overview.ts). Plain data; the admin API's wire module (src/admin/wire.ts) re-exports it.
 */
import type { ConfigIssue } from '../spec/index.js';

/** A rejected reload, as reported. */
export interface ReloadError {
  at: number;
  message: string;
  /** Config issues (empty when the failure was not a config problem, e.g. a compile error). */
  issues: ConfigIssue[];
}

export interface ConfigInfo {
  file: string;
  /** When the config being served was loaded (epoch ms). */
  loadedAt: number;
  snapshotId: string;
  /** The config's content hash (src/routing/compile.ts configHash), as `graylane validate` prints it. */
  configHash: string;
  /** Successful reloads since the start. */
  reloads: number;
  lastReloadError: ReloadError | null;
  /** The state store: SQLite or etcd, up or down, and whether this process drives the rollouts. */
  store?: StoreHealth;
  /** With `--workers N`: each worker slot, its process and the snapshot it serves (src/workers/). */
  workers?: { slot: number; pid: number | null; snapshotId: string; restarts: number }[];
}

/** What /api/v1/config, /metrics and the dashboard say about the store. */
export interface StoreHealth {
  kind: 'sqlite' | 'etcd';
  /** Where: the SQLite file, or the etcd endpoints and prefix. */
  location: string;
  /** The store answers (for etcd: the watches are connected). */
  up: boolean;
  /** This process's controller drives rollouts (always true with SQLite). */
  leading: boolean;
  /** Clustered mode: the reason the store is down, when it is. */
  error?: string;
}
