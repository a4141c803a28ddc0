/** The store interface and its embedded SQLite implementation; the etcd one is in ./cluster.js (loaded only in clustered mode). */
export * from './types.js';
export { openSqliteStore, SqliteStore, MIGRATIONS, type SqliteStoreOptions } from './sqlite.js';
