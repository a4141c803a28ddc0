/**
 * The suite every Store implementation passes (SQLite now, etcd later), in the manner of hono's
 * router conformance tests: an implementation's test file calls runStoreConformance() with a
 * harness that opens fresh stores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnalysisRun } from '../../src/rollout/analysis.js';
import { initialStatus, type RolloutEvent, type RolloutStatus } from '../../src/status/rollout-status.js';
import type { RolloutSpec } from '../../src/spec/rollout-model.js';
import { StoreConflictError, type Store } from '../../src/store/types.js';

export interface StoreHandle {
  store: Store;
  /** A second, independent client of the same storage (another process, another etcd client). */
  connect(): Promise<Store>;
  /** Closes every client and removes the storage. */
  cleanup(): Promise<void>;
}

export interface StoreHarness {
  fresh(): Promise<StoreHandle>;
}

const ROLLOUT: RolloutSpec = {
  name: 'whoami-v2',
  service: 'whoami',
  stable: 'stable',
  canary: 'beta',
  strategy: { kind: 'canary', steps: [{ kind: 'setWeight', weight: 10 }], analysis: null },
};

export function sampleStatus(name = ROLLOUT.name, step = 0): RolloutStatus {
  return { ...initialStatus({ ...ROLLOUT, name }, 1_000), currentStepIndex: step, message: `step ${step} ✓ ünïcode` };
}

export function sampleEvent(reason: string, time = 1_000): RolloutEvent {
  return { time, type: 'Normal', reason, message: `${reason} happened` };
}

function sampleRun(id: string, phase: AnalysisRun['phase'], startedAt: number): AnalysisRun {
  return { id, kind: 'step', stepIndex: 2, phase, startedAt, finishedAt: null, metrics: [], message: '', acknowledged: false };
}

const isConflict = (e: unknown): boolean => e instanceof StoreConflictError && e.code === 'STORE_CONFLICT';

/** Registers the conformance tests under `name`. */
export function runStoreConformance(name: string, harness: StoreHarness): void {
  const withStore = (title: string, body: (h: StoreHandle) => Promise<void>): void => {
    test(`${name} store: ${title}`, async () => {
      const h = await harness.fresh();
      try {
        await body(h);
      } finally {
        await h.cleanup();
      }
    });
  };

  withStore('a status is created with revision 0 and read back as written', async ({ store }) => {
    assert.equal(await store.getStatus('whoami-v2'), null);
    const status = sampleStatus();
    const rev = await store.commit({ name: 'whoami-v2', status, expectRevision: 0 });
    assert.ok(rev > 0);
    const got = await store.getStatus('whoami-v2');
    assert.deepEqual(got, { name: 'whoami-v2', revision: rev, status });
  });

  withStore('compare-and-swap: a stale revision is refused and writes nothing', async ({ store }) => {
    const r1 = await store.commit({ name: 'a', status: sampleStatus('a', 0), expectRevision: 0 });
    const r2 = await store.commit({ name: 'a', status: sampleStatus('a', 1), expectRevision: r1, events: [sampleEvent('One')] });
    assert.ok(r2 > r1);
    await assert.rejects(
      store.commit({ name: 'a', status: sampleStatus('a', 9), expectRevision: r1, events: [sampleEvent('Lost')], runs: [sampleRun('x', 'Running', 1)] }),
      (e: unknown) => isConflict(e) && (e as StoreConflictError).actualRevision === r2,
    );
    await assert.rejects(store.commit({ name: 'a', status: sampleStatus('a', 9), expectRevision: 0 }), isConflict);
    await assert.rejects(store.commit({ name: 'b', status: sampleStatus('b', 9), expectRevision: 5 }), isConflict);
    const got = await store.getStatus('a');
    assert.equal(got?.status.currentStepIndex, 1);
    assert.equal(got?.revision, r2);
    assert.deepEqual((await store.listEvents('a')).map((e) => e.reason), ['One'], 'the refused commit logged nothing');
    assert.deepEqual(await store.listAnalysisRuns('a'), []);
    assert.equal(await store.getStatus('b'), null);
  });

  withStore('revisions grow with every write, statuses and keys alike', async ({ store }) => {
    const revs = [
      await store.commit({ name: 'a', status: sampleStatus('a'), expectRevision: 0 }),
      await store.putKey('k', 1),
      await store.commit({ name: 'b', status: sampleStatus('b'), expectRevision: 0 }),
      await store.putKey('k', 2),
    ];
    for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! > revs[i - 1]!, `${revs.join(' < ')}`);
  });

  withStore('events are logged with their commit, in order, and can be tailed', async ({ store }) => {
    let rev = 0;
    for (let i = 0; i < 5; i++) {
      rev = await store.commit({ name: 'a', status: sampleStatus('a', i), expectRevision: rev, events: [sampleEvent(`A${i}`, i), sampleEvent(`A${i}b`, i)] });
    }
    await store.appendEvents('b', [sampleEvent('B0')]);
    const all = await store.listEvents('a');
    assert.deepEqual(all.map((e) => e.reason), ['A0', 'A0b', 'A1', 'A1b', 'A2', 'A2b', 'A3', 'A3b', 'A4', 'A4b']);
    assert.ok(all.every((e) => e.rollout === 'a' && e.type === 'Normal' && e.message === `${e.reason} happened`));
    for (let i = 1; i < all.length; i++) assert.ok(all[i]!.seq > all[i - 1]!.seq);
    assert.equal(all[3]!.time, 1);
    const after = await store.listEvents('a', { afterSeq: all[5]!.seq });
    assert.deepEqual(after.map((e) => e.reason), ['A3', 'A3b', 'A4', 'A4b']);
    assert.deepEqual((await store.listEvents('a', { afterSeq: all[5]!.seq, limit: 1 })).map((e) => e.reason), ['A3']);
    assert.deepEqual((await store.listEvents('a', { last: 3 })).map((e) => e.reason), ['A3b', 'A4', 'A4b']);
    const everything = await store.listEvents(null);
    assert.equal(everything.length, 11);
    assert.equal(everything.at(-1)!.rollout, 'b');
  });

  withStore('analysis runs are kept by id across commits, oldest first', async ({ store }) => {
    let rev = await store.commit({ name: 'a', status: sampleStatus('a'), expectRevision: 0, runs: [sampleRun('a1.step2', 'Running', 10)] });
    rev = await store.commit({ name: 'a', status: sampleStatus('a', 1), expectRevision: rev, runs: [sampleRun('a1.step2', 'Successful', 10), sampleRun('a1.bg1', 'Running', 5)] });
    await store.commit({ name: 'a', status: sampleStatus('a', 2), expectRevision: rev, runs: [sampleRun('a2.step2', 'Failed', 20)] });
    const runs = await store.listAnalysisRuns('a');
    assert.deepEqual(runs.map((r) => `${r.id}:${r.phase}`), ['a1.bg1:Running', 'a1.step2:Successful', 'a2.step2:Failed']);
    assert.deepEqual(await store.listAnalysisRuns('other'), []);
  });

  withStore('statuses are listed by name and deleted with compare-and-swap', async ({ store }) => {
    await store.commit({ name: 'zeta', status: sampleStatus('zeta'), expectRevision: 0 });
    const ra = await store.commit({ name: 'alpha', status: sampleStatus('alpha'), expectRevision: 0, events: [sampleEvent('Kept')] });
    assert.deepEqual((await store.listStatuses()).map((s) => s.name), ['alpha', 'zeta']);
    await assert.rejects(store.deleteStatus('alpha', ra + 100), isConflict);
    assert.equal(await store.deleteStatus('alpha', ra), true);
    assert.equal(await store.deleteStatus('alpha'), false);
    assert.equal(await store.getStatus('alpha'), null);
    assert.equal((await store.listEvents('alpha')).length, 1, 'history outlives the status');
    // a deleted status can be created again from revision 0
    assert.ok((await store.commit({ name: 'alpha', status: sampleStatus('alpha'), expectRevision: 0 })) > 0);
  });

  withStore('keys hold JSON values, with optional compare-and-swap and prefix listing', async ({ store }) => {
    assert.equal(await store.getKey('registered/whoami/beta/1'), null);
    const r1 = await store.putKey('registered/whoami/beta/1', { url: 'http://10.0.0.7:8080' });
    await store.putKey('registered/whoami/beta/2', { url: 'http://10.0.0.8:8080' });
    await store.putKey('registered/whoamix', 'not under the prefix/');
    await store.putKey('leader', { id: 'a', n: [1, 2, null], ok: true });
    assert.deepEqual(await store.getKey('leader'), { key: 'leader', revision: (await store.getKey('leader'))!.revision, value: { id: 'a', n: [1, 2, null], ok: true } });
    assert.deepEqual((await store.listKeys('registered/whoami/')).map((k) => k.key), ['registered/whoami/beta/1', 'registered/whoami/beta/2']);
    await assert.rejects(store.putKey('registered/whoami/beta/1', {}, { expectRevision: r1 + 100 }), isConflict);
    await assert.rejects(store.putKey('leader', {}, { expectRevision: 0 }), isConflict);
    const r2 = await store.putKey('registered/whoami/beta/1', { url: 'http://10.0.0.9:8080' }, { expectRevision: r1 });
    assert.ok(r2 > r1);
    await assert.rejects(store.deleteKey('registered/whoami/beta/1', { expectRevision: r1 }), isConflict);
    assert.equal(await store.deleteKey('registered/whoami/beta/1', { expectRevision: r2 }), true);
    assert.equal(await store.deleteKey('registered/whoami/beta/1'), false);
    assert.deepEqual((await store.listKeys('registered/whoami/')).map((k) => k.key), ['registered/whoami/beta/2']);
    assert.equal((await store.listKeys('')).length, 3);
  });

  withStore('two clients racing on one revision: exactly one commit wins', async ({ store, connect }) => {
    const other = await connect();
    const rev = await store.commit({ name: 'a', status: sampleStatus('a'), expectRevision: 0 });
    const seen = await other.getStatus('a');
    assert.equal(seen?.revision, rev, 'the second client sees the first one\'s write');
    const results = await Promise.allSettled([
      store.commit({ name: 'a', status: sampleStatus('a', 1), expectRevision: rev, events: [sampleEvent('FromOne')] }),
      other.commit({ name: 'a', status: sampleStatus('a', 2), expectRevision: rev, events: [sampleEvent('FromTwo')] }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.ok(isConflict((lost[0] as PromiseRejectedResult).reason));
    const events = await other.listEvents('a');
    assert.equal(events.length, 1, 'only the winner logged');
    const final = await store.getStatus('a');
    assert.equal(final?.status.currentStepIndex, events[0]!.reason === 'FromOne' ? 1 : 2);
  });
}
