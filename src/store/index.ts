/** The store interface and its embedded SQLite implementation (etcd comes with clustered mode). */
export * from './types.js';
export { openSqliteStore, SqliteStore, MIGRATIONS, type SqliteStoreOptions } from './sqlite.js';
