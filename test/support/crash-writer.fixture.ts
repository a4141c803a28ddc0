/**
 * Child process of the SQLite crash test (sqlite.test.ts): commits in a loop, each commit a status
 * (counter = i), EVENTS_PER_COMMIT events and one analysis run, and prints `i` once the commit has
 * returned. The test kills it with SIGKILL part way. Not used by production code.
 *
 * Usage: node crash-writer.fixture.js <db-path> <max-commits>
 */
import { writeSync } from 'node:fs';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { sampleStatus } from './store-conformance.js';

export const EVENTS_PER_COMMIT = 25;

async function main(): Promise<void> {
  const [path, max] = process.argv.slice(2);
  if (!path || !max) throw new Error('usage: crash-writer.fixture.js <db-path> <max-commits>');
  const store = openSqliteStore(path);
  const existing = await store.getStatus('crash');
  let revision = existing?.revision ?? 0;
  for (let i = (existing?.status.currentStepIndex ?? 0) + 1; i <= Number(max); i++) {
    const events = Array.from({ length: EVENTS_PER_COMMIT }, (_, k) => ({ time: i, type: 'Normal' as const, reason: `C${i}`, message: `event ${k} of commit ${i} ${'x'.repeat(200)}` }));
    revision = await store.commit({
      name: 'crash',
      status: sampleStatus('crash', i),
      expectRevision: revision,
      events,
      runs: [{ id: `run${i}`, kind: 'step', stepIndex: i, phase: 'Running', startedAt: i, finishedAt: null, metrics: [], message: '', acknowledged: false }],
    });
    // Synchronous, so the parent never sees a number before its commit returned.
    writeSync(1, `${i}\n`);
  }
  await store.close();
}

if (process.argv[1]?.endsWith('crash-writer.fixture.js')) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
