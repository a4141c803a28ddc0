import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleStatus } from '../support/store-conformance.js';
import type { EtcdConnection } from '../../src/store/etcd-connection.js';
import { startTcpProxy } from '../support/etcd.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { campaign, currentLeader, type Campaign, type Leadership } from '../../src/cluster/leader.js';
import { StoreFencedError } from '../../src/store/types.js';
import { Connections, etcdForFile, freshPrefix } from './helpers.js';
import { until } from '../support/wait.js';

const etcd = etcdForFile();

interface Candidate {
  name: string;
  campaign: Campaign;
  elected: { at: number; leadership: Leadership }[];
  demoted: { at: number; reason: string }[];
}

/** Tracks how many candidates lead at once across a test; it must never exceed one. */
class Referee {
  leading = 0;
  most = 0;
  join(conn: EtcdConnection, name: string, ttlSec: number): Candidate {
    const c: Candidate = { name, elected: [], demoted: [], campaign: undefined as unknown as Campaign };
    c.campaign = campaign(conn, {
      candidate: name,
      ttlSec,
      onElected: (leadership) => {
        this.leading++;
        this.most = Math.max(this.most, this.leading);
        c.elected.push({ at: Date.now(), leadership });
      },
      onDemoted: (reason) => {
        this.leading--;
        c.demoted.push({ at: Date.now(), reason });
      },
    });
    return c;
  }
}

async function candidates(conn: EtcdConnection): Promise<number> {
  return (await conn.client.getAll().prefix(conn.keys.electionPrefix).keys()).length;
}

test('leader: the leader\'s process dies -> the other candidate leads within the TTL; the dead one\'s late write is fenced off', async () => {
  const server = await etcd();
  const conns = new Connections();
  const prefix = freshPrefix();
  const TTL = 2;
  try {
    const admin = conns.open(server.endpoint, prefix);
    const ref = new Referee();
    const connA = conns.open(server.endpoint, prefix);
    const a = ref.join(connA, 'a', TTL);
    await until('a elected', () => a.elected.length === 1);
    const b = ref.join(conns.open(server.endpoint, prefix), 'b', TTL);
    await until('b to be a candidate', async () => (await candidates(admin)) === 2);
    assert.equal(b.campaign.isLeader, false);
    assert.equal((await currentLeader(admin))?.candidate, 'a');

    const store = new EtcdStore(admin);
    const leaderA = a.elected[0]!.leadership;
    const rev = await store.fenced(leaderA).commit({ name: 'r', status: sampleStatus('r', 0), expectRevision: 0 });

    // The process of a goes away without resigning: its lease is no longer renewed.
    connA.close();
    // Within the TTL (plus etcd's expiry sweep, every 500 ms, and slack for a loaded machine).
    await until('b elected', () => b.elected.length === 1, TTL * 1000 + 3000);
    await until('a demoted', () => a.demoted.length === 1);
    assert.ok(a.demoted[0]!.at <= b.elected[0]!.at, 'a stopped acting before b started');
    assert.equal(ref.most, 1);
    assert.equal((await currentLeader(admin))?.candidate, 'b');

    // A write a sent before it died, arriving now: refused whole.
    await assert.rejects(store.fenced(leaderA).commit({ name: 'r', status: sampleStatus('r', 1), expectRevision: rev }), StoreFencedError);
    const leaderB = b.elected[0]!.leadership;
    assert.ok(leaderB.revision > leaderA.revision);
    assert.equal(leaderA.signal.aborted, true);
    const rev2 = await store.fenced(leaderB).commit({ name: 'r', status: sampleStatus('r', 1), expectRevision: rev });
    assert.ok(rev2 > rev);
    await b.campaign.resign();
    await a.campaign.resign();
  } finally {
    conns.closeAll();
  }
});

test('leader: a leader cut off from etcd demotes itself before another is elected, then rejoins as a candidate', async () => {
  const server = await etcd();
  const proxy = await startTcpProxy(server.endpoint);
  const conns = new Connections();
  const prefix = freshPrefix();
  const TTL = 2;
  try {
    const admin = conns.open(server.endpoint, prefix);
    const ref = new Referee();
    const a = ref.join(conns.open(proxy.endpoint, prefix, 500), 'a', TTL);
    await until('a elected', () => a.elected.length === 1);
    const b = ref.join(conns.open(server.endpoint, prefix), 'b', TTL);
    await until('b to be a candidate', async () => (await candidates(admin)) === 2);

    proxy.cut();
    await until('b elected', () => b.elected.length === 1, TTL * 1000 + 3000);
    assert.equal(a.demoted.length, 1);
    assert.ok(a.demoted[0]!.at <= b.elected[0]!.at, `a demoted at ${a.demoted[0]!.at}, b elected at ${b.elected[0]!.at}`);
    assert.match(a.demoted[0]!.reason, /no lease renewal/);

    proxy.restore();
    await until('a to be a candidate again', async () => (await candidates(admin)) === 2, 10_000);
    assert.equal(a.campaign.isLeader, false);
    assert.equal(b.campaign.isLeader, true);
    assert.equal(ref.most, 1, 'never two leaders at once');
    await a.campaign.resign();
    await b.campaign.resign();
    assert.equal(await candidates(admin), 0, 'resigning removes the keys');
  } finally {
    conns.closeAll();
    await proxy.close();
  }
});

test('leader: resign hands over at once; a leader whose key is deleted by hand steps down and campaigns again', async () => {
  const server = await etcd();
  const conns = new Connections();
  const prefix = freshPrefix();
  const TTL = 10; // long, so a handover well inside it is not the lease running out
  try {
    const admin = conns.open(server.endpoint, prefix);
    const ref = new Referee();
    const a = ref.join(conns.open(server.endpoint, prefix), 'a', TTL);
    await until('a elected', () => a.elected.length === 1);
    const b = ref.join(conns.open(server.endpoint, prefix), 'b', TTL);
    await until('b to be a candidate', async () => (await candidates(admin)) === 2);

    await a.campaign.resign();
    assert.deepEqual(a.demoted.map((d) => d.reason), ['resigned']);
    await until('b elected', () => b.elected.length === 1, 3000);

    await admin.client.delete().key(b.elected[0]!.leadership.key);
    await until('b demoted', () => b.demoted.length === 1, 3000);
    assert.match(b.demoted[0]!.reason, /leader key was deleted/);
    await until('b elected again', () => b.elected.length === 2, 5000);
    assert.ok(b.elected[1]!.leadership.revision > b.elected[0]!.leadership.revision);
    assert.equal(ref.most, 1);
    await b.campaign.resign();
  } finally {
    conns.closeAll();
  }
});
