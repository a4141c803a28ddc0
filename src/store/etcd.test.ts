import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { runStoreConformance, sampleEvent, sampleStatus } from '../../test/support/store-conformance.js';
import { connectEtcd, type EtcdConnection } from './etcd-connection.js';
import { startEtcd, type EtcdServer } from '../../test/support/etcd.js';
import { EtcdStore, watchStatuses } from './etcd.js';
import { StoreConflictError, StoreFencedError, StoreUnavailableError, type Store } from './types.js';
import { eventually } from '../../test/support/wait.js';

/** One etcd for this file, started by the first test that needs it; each test has its own prefix. */
let server: Promise<EtcdServer> | undefined;
const etcd = (): Promise<EtcdServer> => (server ??= startEtcd());
after(async () => {
  if (server) await (await server).cleanup();
});

const TIMEOUT_MS = 1000;

async function connect(prefix: string): Promise<EtcdConnection> {
  return connectEtcd({ endpoints: [(await etcd()).endpoint], prefix, timeoutMs: TIMEOUT_MS });
}

const freshPrefix = (): string => `/graylane-test-${randomUUID()}`;

runStoreConformance('etcd', {
  async fresh() {
    const prefix = freshPrefix();
    const conns: EtcdConnection[] = [await connect(prefix)];
    return {
      store: new EtcdStore(conns[0]!),
      async connect(): Promise<Store> {
        const c = await connect(prefix);
        conns.push(c);
        return new EtcdStore(c);
      },
      async cleanup() {
        await conns[0]!.client.delete().prefix(`${prefix}/`).exec();
        for (const c of conns) c.close();
      },
    };
  },
});

const isUnavailable = (e: unknown): boolean => e instanceof StoreUnavailableError && e.code === 'STORE_UNAVAILABLE' && e.status === 503;

test('etcd store: the keys sit under the prefix, readable with any etcd client', async () => {
  const prefix = freshPrefix();
  const conn = await connect(prefix);
  try {
    const store = new EtcdStore(conn);
    const rev = await store.commit({ name: 'web/v2', status: sampleStatus('web/v2'), expectRevision: 0, events: [sampleEvent('Started')] });
    await store.putKey('registered/a', { url: 'http://10.0.0.1' });
    const keys = (await conn.client.getAll().prefix(`${prefix}/`).keys()).sort();
    assert.deepEqual(keys, [
      `${prefix}/kv/registered/a`,
      `${prefix}/rollouts/event-seq`,
      `${prefix}/rollouts/events-by-rollout/web%2Fv2/0000000000000001`,
      `${prefix}/rollouts/events/0000000000000001`,
      `${prefix}/rollouts/status/web%2Fv2`,
    ]);
    assert.deepEqual((await store.listStatuses()).map((s) => [s.name, s.revision]), [['web/v2', rev]]);
  } finally {
    conn.close();
  }
});

test('etcd store: a write under a lost fence is refused whole, and the leader key must be the one held', async () => {
  const prefix = freshPrefix();
  const conn = await connect(prefix);
  try {
    const store = new EtcdStore(conn);
    const leaderKey = `${prefix}/election/controller/test`;
    const held = await conn.client.put(leaderKey).value('me').exec();
    const fence = { key: leaderKey, revision: Number(held.header.revision) };
    const leader = store.fenced(fence);
    const r1 = await leader.commit({ name: 'a', status: sampleStatus('a'), expectRevision: 0, events: [sampleEvent('ByLeader')] });
    await leader.putKey('k', 1);

    // The lease ran out (here: the key is deleted) and another candidate now holds a new key.
    await conn.client.delete().key(leaderKey).exec();
    await conn.client.put(leaderKey).value('someone else').exec();
    const fencedOut = (e: unknown): boolean => e instanceof StoreFencedError && e.code === 'STORE_FENCED';
    await assert.rejects(leader.commit({ name: 'a', status: sampleStatus('a', 1), expectRevision: r1, events: [sampleEvent('Stale')] }), fencedOut);
    await assert.rejects(leader.appendEvents('a', [sampleEvent('Stale')]), fencedOut);
    await assert.rejects(leader.putKey('k', 2), fencedOut);
    await assert.rejects(leader.deleteKey('k'), fencedOut);
    await assert.rejects(leader.deleteStatus('a'), fencedOut);
    // A conflict on the status is still reported as a conflict while the fence holds.
    const now = Number((await conn.client.get(leaderKey).exec()).kvs[0]!.create_revision);
    await assert.rejects(store.fenced({ key: leaderKey, revision: now }).commit({ name: 'a', status: sampleStatus('a', 1), expectRevision: r1 + 100 }), StoreConflictError);

    assert.deepEqual((await store.listEvents('a')).map((e) => e.reason), ['ByLeader'], 'nothing of the stale leader was written');
    assert.equal((await store.getStatus('a'))?.revision, r1);
    assert.equal((await store.getKey('k'))?.value, 1);
  } finally {
    conn.close();
  }
});

test('etcd store: concurrent appenders on separate clients get distinct, gapless seqs', async () => {
  const prefix = freshPrefix();
  const conns = await Promise.all([connect(prefix), connect(prefix), connect(prefix)]);
  try {
    const stores = conns.map((c) => new EtcdStore(c));
    await Promise.all(stores.map((s, i) => Promise.all([0, 1, 2, 3].map((j) => s.appendEvents(`r${i}`, [sampleEvent(`E${i}.${j}a`), sampleEvent(`E${i}.${j}b`)])))));
    const all = await stores[0]!.listEvents(null);
    assert.equal(all.length, 24);
    assert.deepEqual(all.map((e) => e.seq), Array.from({ length: 24 }, (_, i) => i + 1));
    for (let i = 0; i < 3; i++) {
      const mine = await stores[0]!.listEvents(`r${i}`);
      assert.equal(mine.length, 8);
      // the two events of one append stay adjacent
      for (let k = 0; k < 8; k += 2) assert.equal(mine[k + 1]!.seq, mine[k]!.seq + 1);
    }
  } finally {
    for (const c of conns) c.close();
  }
});

test('etcd store: etcd stopped -> StoreUnavailableError within the bound; started again -> the same client works', async () => {
  const server = await etcd();
  const prefix = freshPrefix();
  const conn = await connect(prefix);
  try {
    const store = new EtcdStore(conn);
    const rev = await store.commit({ name: 'a', status: sampleStatus('a'), expectRevision: 0 });
    await server.kill();

    for (const op of [
      () => store.getStatus('a'),
      () => store.commit({ name: 'a', status: sampleStatus('a', 1), expectRevision: rev, events: [sampleEvent('Lost')] }),
      () => store.putKey('k', 1),
      () => store.listEvents(null),
    ]) {
      await assert.rejects(op(), isUnavailable);
    }

    await server.start();
    const back = await eventually(() => store.getStatus('a'));
    assert.equal(back?.revision, rev, 'the write refused during the outage left nothing');
    assert.deepEqual(await store.listEvents('a'), []);
    const r2 = await store.commit({ name: 'a', status: sampleStatus('a', 1), expectRevision: rev, events: [sampleEvent('After')] });
    assert.ok(r2 > rev);
  } finally {
    conn.close();
  }
});

test('etcd store: a frozen etcd (no answer at all) is StoreUnavailableError after the deadline, not a hang', async () => {
  const server = await etcd();
  const prefix = freshPrefix();
  const conn = await connect(prefix);
  try {
    const store = new EtcdStore(conn);
    await store.putKey('k', 1);
    await server.freeze();
    try {
      const err = await store.getKey('k').then(() => null, (e: unknown) => e);
      assert.ok(isUnavailable(err), String(err));
      assert.match((err as Error).message, /deadline|no answer/i);
      await assert.rejects(store.commit({ name: 'a', status: sampleStatus('a'), expectRevision: 0 }), isUnavailable);
    } finally {
      server.thaw();
    }
    // The timed-out commit may still land once etcd wakes (its outcome is unknown to the caller);
    // the client itself answers again.
    assert.equal((await eventually(() => store.getKey('k')))?.value, 1);
  } finally {
    conn.close();
  }
});

test('etcd store: every gateway can watch the statuses the controller commits', async () => {
  const prefix = freshPrefix();
  const controller = await connect(prefix);
  const gateway = await connect(prefix);
  try {
    const store = new EtcdStore(controller);
    const seen: string[][] = [];
    const w = watchStatuses(gateway, (statuses) => void seen.push(statuses.map((s) => `${s.name}:${s.status.currentStepIndex}@${s.revision}`)));
    await w.ready();
    const r1 = await store.commit({ name: 'b', status: sampleStatus('b', 0), expectRevision: 0 });
    const r2 = await store.commit({ name: 'a', status: sampleStatus('a', 0), expectRevision: 0 });
    const r3 = await store.commit({ name: 'b', status: sampleStatus('b', 1), expectRevision: r1 });
    await store.putKey('not-a-status', 1);
    await store.deleteStatus('a', r2);
    const deadline = Date.now() + 5000;
    while (seen.at(-1)?.join() !== `b:1@${r3}` && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Each view is one of these, in this order (changes arriving together come as one view).
    const states = [[], [`b:0@${r1}`], [`a:0@${r2}`, `b:0@${r1}`], [`a:0@${r2}`, `b:1@${r3}`], [`b:1@${r3}`]].map((v) => v.join());
    let at = 0;
    for (const view of seen) {
      const i = states.indexOf(view.join(), at);
      assert.ok(i >= at, `view ${view.join()} out of order in ${JSON.stringify(seen)}`);
      at = i;
    }
    assert.equal(seen.at(-1)!.join(), states.at(-1));
    await w.close();
  } finally {
    controller.close();
    gateway.close();
  }
});
