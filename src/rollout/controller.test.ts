import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceOverlay } from '../routing/types.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/types.js';
import { RolloutController } from './controller.js';
import { RolloutError } from './errors.js';
import type { AnalysisTemplate, RolloutSpec } from '../spec/rollout-model.js';
import { loadRollouts } from '../../test/support/rollout-driver.js';
import { until } from '../../test/support/wait.js';

const CANARY = `
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 20
          - pause: {}
          - setWeight: 60
`;

function open(store: Store, config: { rollouts: RolloutSpec[]; templates: Record<string, AnalysisTemplate> }, published: Record<string, ServiceOverlay>[]) {
  return RolloutController.open({ store, rollouts: config.rollouts, templates: config.templates, onStatus: (o) => published.push(o) });
}

test('a command is committed before it resolves, and its overlay was handed out synchronously with the commit', async () => {
  const store = openSqliteStore(':memory:');
  const published: Record<string, ServiceOverlay>[] = [];
  const c = await open(store, loadRollouts(CANARY), published);
  assert.deepEqual(c.overlays(), { web: { split: { stable: 100 } } }, 'not started: all on stable');
  c.start();
  await until('the manual pause', async () => (await c.get('web-beta')).stored?.status.reason === 'AwaitingPromotion', 5000);
  assert.deepEqual(published.at(-1), { web: { split: { stable: 80, beta: 20 } } });

  const written = await c.command('web-beta', { type: 'abort' });
  assert.equal(written.status.phase, 'Degraded');
  assert.deepEqual(published.at(-1), { web: { split: { stable: 100 }, withdrawn: ['beta'] } }, 'traffic back on stable by the time abort resolves');
  assert.equal((await store.getStatus('web-beta'))!.revision, written.revision);

  await assert.rejects(c.command('web-beta', { type: 'setWeight', weight: 5 }), (e: unknown) => e instanceof RolloutError && e.code === 'ROLLOUT_ABORTED');
  await assert.rejects(c.command('nope', { type: 'promote' }), (e: unknown) => e instanceof RolloutError && e.httpStatus === 404);
  assert.equal((await store.getStatus('web-beta'))!.revision, written.revision, 'refused commands write nothing');
  await c.close();
  await store.close();
});

test('open() resumes from the store: the gateway can start with the weights of the last run', async () => {
  const store = openSqliteStore(':memory:');
  const config = loadRollouts(CANARY);
  const first = await open(store, config, []);
  first.start();
  await until('the manual pause', async () => (await first.get('web-beta')).stored?.status.reason === 'AwaitingPromotion', 5000);
  await first.close();

  const published: Record<string, ServiceOverlay>[] = [];
  const second = await open(store, config, published);
  assert.deepEqual(second.overlays(), { web: { split: { stable: 80, beta: 20 } } });
  second.start();
  await second.command('web-beta', { type: 'promote' });
  await until('completion', async () => (await second.get('web-beta')).stored?.status.phase === 'Healthy', 5000);
  assert.deepEqual(published.at(-1), { web: { stableVersion: 'beta' } });
  const reasons = (await second.events('web-beta')).map((e) => e.reason);
  assert.equal(reasons.filter((r) => r === 'RolloutStarted').length, 1);
  assert.equal(reasons.filter((r) => r === 'WeightSet').length, 2);
  await second.close();
  await store.close();
});

test('update(): a removed rollout loses its overlay, a changed one aborts and starts a new attempt', async () => {
  const store = openSqliteStore(':memory:');
  const config = loadRollouts(CANARY);
  const c = await open(store, config, []);
  c.start();
  await until('the manual pause', async () => (await c.get('web-beta')).stored?.status.reason === 'AwaitingPromotion', 5000);

  c.update([], {});
  assert.deepEqual(c.overlays(), {});
  await assert.rejects(c.get('web-beta'), RolloutError);

  const changed = loadRollouts(CANARY.replace('setWeight: 20', 'setWeight: 30'));
  c.update(changed.rollouts, changed.templates);
  await until('a new attempt', async () => (await c.get('web-beta')).stored?.status.attempt === 2, 5000);
  await until('the new weight', () => JSON.stringify(c.overlays()) === JSON.stringify({ web: { split: { stable: 70, beta: 30 } } }), 5000);
  const reasons = (await c.events('web-beta')).map((e) => e.reason);
  assert.ok(reasons.includes('SpecChanged'));
  await c.close();
  await store.close();
});

test('a hook cut off by a restart is not run again: the new process fails it and runs cleanup once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'graylane-controller-'));
  const log = join(dir, 'hooks.log');
  const path = join(dir, 'state.db');
  const config = loadRollouts(`
rollouts:
  - name: web-bg
    service: web
    strategy:
      blueGreen:
        previewLane: beta
        hooks:
          preRollout: { command: "echo preRollout >> '${log}'; sleep 1", timeout: 5s }
          cleanup: { command: "echo cleanup $GRAYLANE_PHASE >> '${log}'", timeout: 5s }
`);
  try {
    // Given a process that started the preRollout hook and then went away while it ran
    let store: Store = openSqliteStore(path);
    const first = await open(store, config, []);
    first.start();
    await until('the hook to start', async () => (await first.get('web-bg')).stored?.status.hooks.preRollout?.state === 'started', 5000);
    await first.close();
    await store.close();

    // When a new process takes over
    store = openSqliteStore(path);
    const second = await open(store, config, []);
    second.start();
    await until('cleanup', async () => (await second.get('web-bg')).stored?.status.hooks.cleanup?.state === 'finished', 5000);

    // Then the interrupted hook counts as failed, the attempt is aborted, and nothing ran twice
    const { stored } = await second.get('web-bg');
    assert.equal(stored!.status.reason, 'HookFailed');
    assert.equal(stored!.status.hooks.preRollout?.interrupted, true);
    await new Promise((r) => setTimeout(r, 1200)); // the first hook's own run ends meanwhile
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['preRollout', 'cleanup Degraded']);
    await second.close();
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A store whose writes (and, with `reads`, reads too) fail like a full disk or an absent etcd. */
function failing(inner: Store): Store & { writes: boolean; reads: boolean } {
  const refuse = (op: string) => Promise.reject(new Error(`${op}: disk I/O error`));
  const s = {
    writes: true,
    reads: true,
    getStatus: (name: string) => (s.reads ? inner.getStatus(name) : refuse('read')),
    listStatuses: () => (s.reads ? inner.listStatuses() : refuse('list')),
    commit: (req: Parameters<Store['commit']>[0]) => (s.writes ? inner.commit(req) : refuse('commit')),
    deleteStatus: inner.deleteStatus.bind(inner),
    appendEvents: inner.appendEvents.bind(inner),
    listEvents: inner.listEvents.bind(inner),
    listAnalysisRuns: inner.listAnalysisRuns.bind(inner),
    getKey: inner.getKey.bind(inner),
    putKey: inner.putKey.bind(inner),
    deleteKey: inner.deleteKey.bind(inner),
    listKeys: inner.listKeys.bind(inner),
    close: inner.close.bind(inner),
  };
  return s;
}

const ABORTED = { web: { split: { stable: 100 }, withdrawn: ['beta'] } };

test('abort with a store that refuses writes: routes at once, answers not durable, blocks other commands, is written once the store takes writes', async () => {
  const inner = openSqliteStore(':memory:');
  const store = failing(inner);
  const published: Record<string, ServiceOverlay>[] = [];
  const config = loadRollouts(CANARY);
  const c = await RolloutController.open({ store, rollouts: config.rollouts, templates: config.templates, onStatus: (o) => published.push(o), retryMs: 20 });
  c.start();
  await until('the manual pause', async () => (await c.get('web-beta')).stored?.status.reason === 'AwaitingPromotion', 5000);
  const before = (await inner.getStatus('web-beta'))!;

  // When the store stops taking writes and reads, and an abort is asked for
  store.writes = false;
  store.reads = false;
  const answer = c.command('web-beta', { type: 'abort' });
  // Then routing is aborted before the command even awaited anything
  assert.deepEqual(published.at(-1), ABORTED);
  const out = await answer;
  assert.equal(out.durable, false);
  assert.equal(out.status.phase, 'Degraded');
  const held = await c.get('web-beta');
  assert.equal(held.stored?.status.phase, 'Degraded', 'get() shows the held abort without reading the store');
  assert.equal(held.abortPending?.attempts, 1);
  assert.match(held.abortPending!.error, /disk I\/O error/);
  assert.deepEqual(c.abortsPending(), [{ rollout: 'web-beta', service: 'web', pending: held.abortPending }]);

  // And reads back: still not written, retried, other commands wait for it
  store.reads = true;
  await until('a few retries', async () => ((await c.get('web-beta')).abortPending?.attempts ?? 0) >= 3, 5000);
  assert.equal((await inner.getStatus('web-beta'))!.revision, before.revision, 'nothing written');
  await assert.rejects(c.command('web-beta', { type: 'promote' }), (e: unknown) => e instanceof RolloutError && e.code === 'ABORT_PENDING' && e.httpStatus === 503);
  assert.deepEqual(c.overlays(), ABORTED, 'still routed as aborted');

  // When writes work again: the retry writes it, an ordinary aborted status with its events
  store.writes = true;
  await until('the abort written', async () => (await c.get('web-beta')).abortPending === null, 5000);
  const written = (await inner.getStatus('web-beta'))!;
  assert.equal(written.status.phase, 'Degraded');
  assert.equal(written.status.reason, 'Aborted');
  assert.equal(written.status.abortedAt, held.abortPending!.since, 'dated when it was asked for');
  const reasons = (await inner.listEvents('web-beta')).map((e) => e.reason);
  assert.ok(reasons.includes('AbortWritten') && reasons.includes('Aborted'), reasons.join(' '));
  assert.deepEqual(c.overlays(), ABORTED);
  assert.equal(JSON.stringify(published.slice(published.findIndex((p) => JSON.stringify(p) === JSON.stringify(ABORTED)))), JSON.stringify([ABORTED]), 'routing never went back in between');
  await assert.rejects(c.command('web-beta', { type: 'abort' }), (e: unknown) => e instanceof RolloutError && e.code === 'ROLLOUT_ABORTED');
  assert.equal((await c.command('web-beta', { type: 'retry' })).durable, true);
  await c.close();
  await inner.close();
});

test('a held abort the stored status refuses (aborted elsewhere meanwhile) is dropped; an abort refused at once holds nothing', async () => {
  const inner = openSqliteStore(':memory:');
  const store = failing(inner);
  const published: Record<string, ServiceOverlay>[] = [];
  const config = loadRollouts(CANARY);
  const c = await RolloutController.open({ store, rollouts: config.rollouts, templates: config.templates, onStatus: (o) => published.push(o), retryMs: 20 });
  c.start();
  await until('the manual pause', async () => (await c.get('web-beta')).stored?.status.reason === 'AwaitingPromotion', 5000);
  store.writes = false;
  assert.equal((await c.command('web-beta', { type: 'abort' })).durable, false);
  // Another writer (another process on the file, or gateway) aborts it meanwhile
  const stored = (await inner.getStatus('web-beta'))!;
  await inner.commit({ name: 'web-beta', expectRevision: stored.revision, status: { ...stored.status, phase: 'Degraded', reason: 'Aborted', message: 'elsewhere', abort: true, weight: 0 } });
  store.writes = true;
  await until('the held abort settles', async () => (await c.get('web-beta')).abortPending === null, 5000);
  assert.equal((await inner.getStatus('web-beta'))!.status.message, 'elsewhere', 'not written over');
  assert.deepEqual(c.overlays(), ABORTED);
  const count = published.length;
  await assert.rejects(c.command('web-beta', { type: 'abort' }), (e: unknown) => e instanceof RolloutError && e.code === 'ROLLOUT_ABORTED');
  assert.equal((await c.get('web-beta')).abortPending, null);
  assert.equal(published.length, count, 'routing untouched by the refused abort');
  await c.close();
  await inner.close();
});
