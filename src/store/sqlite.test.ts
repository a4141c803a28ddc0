import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { runStoreConformance, sampleStatus } from '../../test/support/store-conformance.js';
import { MIGRATIONS, openSqliteStore, type SqliteStore } from './sqlite.js';
import { EVENTS_PER_COMMIT } from '../../test/support/crash-writer.fixture.js';
import type { Store } from './types.js';
import { tempDir } from '../../test/support/temp.js';

runStoreConformance('sqlite', {
  async fresh() {
    const dir = await tempDir();
    const path = join(dir.path, 'nested', 'state.db');
    const clients: Store[] = [openSqliteStore(path)];
    return {
      store: clients[0]!,
      async connect() {
        const s = openSqliteStore(path);
        clients.push(s);
        return s;
      },
      async cleanup() {
        for (const c of clients) await c.close();
        await dir.remove();
      },
    };
  },
});

test('sqlite store: WAL journal, full sync, and the migrations recorded once', async () => {
  const dir = await tempDir();
  try {
    const path = dir.file('state.db');
    const store = openSqliteStore(path);
    await store.commit({ name: 'a', status: sampleStatus('a'), expectRevision: 0 });
    await store.close();
    const again = openSqliteStore(path); // migrations are not applied twice
    assert.equal((await again.getStatus('a'))?.status.name, 'a');
    await again.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    assert.deepEqual(applied, MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    db.close();
  } finally {
    await dir.remove();
  }
});

test('sqlite store: a file from a newer graylane is refused, not damaged', async () => {
  const dir = await tempDir();
  try {
    const path = dir.file('state.db');
    openSqliteStore(path).close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(999, 'from the future', 0);
    db.close();
    assert.throws(() => openSqliteStore(path), /schema version 999, newer than this graylane knows/);
  } finally {
    await dir.remove();
  }
});

test('sqlite store: a path that is not a database is an error', async () => {
  const dir = await tempDir();
  try {
    const path = dir.file('state.db');
    writeFileSync(path, 'this is not sqlite, just text long enough to have a header page '.repeat(20));
    assert.throws(() => openSqliteStore(path), /not a database/);
  } finally {
    await dir.remove();
  }
});

test('sqlite store: a writer killed with SIGKILL mid-loop leaves a consistent file with every acknowledged commit', async () => {
  const dir = await tempDir();
  const path = dir.file('state.db');
  const fixture = fileURLToPath(new URL('../../test/support/crash-writer.fixture.js', import.meta.url));
  try {
    const child = spawn(process.execPath, [fixture, path, '100000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let acknowledged = 0;
    let buffered = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) acknowledged = Number(line);
        // Kill once well into the loop, while it is writing.
        if (acknowledged >= 150 && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', (code) => (code !== null ? reject(new Error(`writer exited with ${code} before it was killed`)) : undefined));
    });
    assert.equal(await exited, 'SIGKILL');

    const store: SqliteStore = openSqliteStore(path);
    try {
      assert.equal(store.integrityCheck(), 'ok');
      const status = await store.getStatus('crash');
      const committed = status!.status.currentStepIndex;
      assert.ok(committed >= acknowledged, `every acknowledged commit survived (${committed} >= ${acknowledged})`);
      const events = await store.listEvents('crash');
      assert.equal(events.length, committed * EVENTS_PER_COMMIT, 'no partial commit: events match the status');
      assert.equal(events.at(-1)!.reason, `C${committed}`);
      const runs = await store.listAnalysisRuns('crash');
      assert.equal(runs.length, committed);
      // and the file is writable again from where it stopped
      const rev = await store.commit({ name: 'crash', status: sampleStatus('crash', committed + 1), expectRevision: status!.revision });
      assert.ok(rev > status!.revision);
    } finally {
      await store.close();
    }
  } finally {
    await dir.remove();
  }
});
