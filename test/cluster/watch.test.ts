import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTcpProxy } from '../support/etcd.js';
import { watchKeys, type WatchChange } from '../../src/store/etcd-watch.js';
import { Connections, etcdForFile, freshPrefix } from './helpers.js';
import { until } from '../support/wait.js';

const etcd = etcdForFile();

/** What a watch handed over, as short strings: `reset:a=1,b=2@rev`, `put:a=1@rev`, `delete:a@rev`. */
function recorder() {
  const log: string[] = [];
  const revisions: number[] = [];
  const states: boolean[] = [];
  const name = (key: string): string => key.slice(key.lastIndexOf('/') + 1);
  return {
    log,
    revisions,
    states,
    handlers: {
      onReset(entries: { key: string; value: Buffer }[], revision: number) {
        log.push(`reset:${entries.map((e) => `${name(e.key)}=${e.value.toString()}`).join(',')}`);
        revisions.push(revision);
      },
      onChanges(changes: WatchChange[]) {
        for (const c of changes) {
          log.push(c.type === 'put' ? `put:${name(c.entry.key)}=${c.entry.value.toString()}` : `delete:${name(c.entry.key)}`);
          revisions.push(c.entry.modRevision);
        }
      },
      onConnection(up: boolean) {
        states.push(up);
      },
    },
  };
}

test('watch: changes written while the watcher was cut off arrive once each, in order, without a relist', async () => {
  const server = await etcd();
  const proxy = await startTcpProxy(server.endpoint);
  const conns = new Connections();
  const prefix = freshPrefix();
  try {
    const writer = conns.open(server.endpoint, prefix).client;
    const watched = conns.open(proxy.endpoint, prefix);
    await writer.put(`${prefix}/w/a`).value('1');
    const rec = recorder();
    const w = watchKeys(watched, `${prefix}/w/`, rec.handlers);
    await w.ready();
    await writer.put(`${prefix}/w/b`).value('1');
    await until('b', () => rec.log.length === 2);

    proxy.cut();
    await until('the watch to notice the cut', () => !w.connected);
    await writer.put(`${prefix}/w/b`).value('2');
    await writer.put(`${prefix}/w/c`).value('1');
    await writer.delete().key(`${prefix}/w/a`);
    await writer.put(`${prefix}/other`).value('outside the prefix');
    proxy.restore();

    await until('the three changes', () => rec.log.length === 5);
    await writer.put(`${prefix}/w/d`).value('1');
    await until('d', () => rec.log.length === 6);
    assert.deepEqual(rec.log, ['reset:a=1', 'put:b=1', 'put:b=2', 'put:c=1', 'delete:a', 'put:d=1']);
    for (let i = 1; i < rec.revisions.length; i++) assert.ok(rec.revisions[i]! > rec.revisions[i - 1]!, `revisions grow: ${rec.revisions.join(',')}`);
    assert.deepEqual(rec.states, [true, false, true]);
    assert.ok(proxy.accepted >= 2, 'the watcher reconnected through the proxy');
    await w.close();
  } finally {
    conns.closeAll();
    await proxy.close();
  }
});

test('watch: etcd restarted (same data) -> the watch resumes and sees a later write exactly once', async () => {
  const server = await etcd();
  const conns = new Connections();
  const prefix = freshPrefix();
  try {
    const conn = conns.open(server.endpoint, prefix);
    const rec = recorder();
    const w = watchKeys(conn, `${prefix}/w/`, rec.handlers);
    await w.ready();
    await conn.client.put(`${prefix}/w/a`).value('1');
    await until('a', () => rec.log.length === 2);
    await server.kill();
    await until('the watch to notice', () => !w.connected);
    await server.start();
    await until('the watch to come back', () => w.connected, 15_000);
    await conn.client.put(`${prefix}/w/a`).value('2');
    await until('a=2', () => rec.log.length === 3);
    assert.deepEqual(rec.log, ['reset:', 'put:a=1', 'put:a=2']);
    await w.close();
  } finally {
    conns.closeAll();
  }
});

test('watch: resumed from a revision that etcd compacted away -> one relist with the current range', async () => {
  const server = await etcd();
  const proxy = await startTcpProxy(server.endpoint);
  const conns = new Connections();
  const prefix = freshPrefix();
  try {
    const writer = conns.open(server.endpoint, prefix).client;
    const rec = recorder();
    const w = watchKeys(conns.open(proxy.endpoint, prefix), `${prefix}/w/`, rec.handlers);
    await w.ready();
    proxy.cut();
    await until('the watch to notice the cut', () => !w.connected);
    await writer.put(`${prefix}/w/a`).value('1');
    await writer.put(`${prefix}/w/a`).value('2');
    const last = await writer.put(`${prefix}/w/b`).value('1').exec();
    await writer.kv.compact({ revision: last.header.revision, physical: true });
    proxy.restore();
    await until('the relist', () => rec.log.length === 2);
    assert.deepEqual(rec.log, ['reset:', 'reset:a=2,b=1']);
    assert.equal(rec.revisions[1], Number(last.header.revision));
    await writer.put(`${prefix}/w/b`).value('2');
    await until('b=2 after the relist', () => rec.log.length === 3);
    assert.equal(rec.log[2], 'put:b=2');
    await w.close();
  } finally {
    conns.closeAll();
    await proxy.close();
  }
});

test('watch: started from a known revision, it delivers only what came after (no initial list)', async () => {
  const server = await etcd();
  const conns = new Connections();
  const prefix = freshPrefix();
  try {
    const conn = conns.open(server.endpoint, prefix);
    const first = await conn.client.put(`${prefix}/spec`).value('one').exec();
    await conn.client.put(`${prefix}/spec`).value('two');
    const rec = recorder();
    const w = watchKeys(conn, `${prefix}/spec`, rec.handlers, { exact: true, fromRevision: Number(first.header.revision) });
    await until('two', () => rec.log.length === 1);
    await conn.client.put(`${prefix}/specx`).value('not this key');
    await conn.client.put(`${prefix}/spec`).value('three');
    await until('three', () => rec.log.length === 2);
    assert.deepEqual(rec.log, ['put:spec=two', 'put:spec=three']);
    await w.close();
  } finally {
    conns.closeAll();
  }
});
