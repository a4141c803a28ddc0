import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deregisterInstance, heartbeatInstance, listInstances, registerInstance, toRegistered, watchInstances, type Registration } from '../../src/cluster/registrations.js';
import { Connections, etcdForFile, freshPrefix } from './helpers.js';
import { sleep, until } from '../support/wait.js';

const etcd = etcdForFile();

test('registrations: every gateway sees them; one that stops heartbeating disappears everywhere after its TTL', async () => {
  const server = await etcd();
  const conns = new Connections();
  const prefix = freshPrefix();
  try {
    // Three gateways: a registers the instances, b and c only watch; heartbeats reach b.
    const [a, b, c] = [0, 1, 2].map(() => conns.open(server.endpoint, prefix));
    const views: Registration[][][] = [[], []];
    const watches = [b!, c!].map((conn, i) => watchInstances(conn, (instances) => void views[i]!.push(instances)));
    await Promise.all(watches.map((w) => w.ready()));
    const latest = (i: number): Record<string, Record<string, string[]>> => toRegistered(views[i]!.at(-1) ?? []);

    const kept = await registerInstance(a!, { service: 'whoami', version: 'beta', url: 'http://10.0.0.7:8080', ttlMs: 2000 });
    const dies = await registerInstance(a!, { service: 'whoami', version: 'beta', url: 'http://10.0.0.8:8080', ttlMs: 1500 });
    await registerInstance(a!, { service: 'gone', version: 'stable', url: 'http://10.0.0.9:8080', ttlMs: 60_000 });
    assert.match(kept.id, /^[0-9a-f]{16}$/);
    assert.equal(dies.ttlMs, 2000, 'rounded up to whole seconds');
    const both = { gone: { stable: ['http://10.0.0.9:8080'] }, whoami: { beta: ['http://10.0.0.7:8080', 'http://10.0.0.8:8080'] } };
    await until('both gateways see the three', () => [0, 1].every((i) => JSON.stringify(latest(i)) === JSON.stringify(both)));
    assert.deepEqual(toRegistered(views[0]!.at(-1)!, new Set(['whoami'])), { whoami: both.whoami }, 'filtered to the spec\'s services');

    // kept heartbeats (through gateway b) for longer than the TTLs; dies does not.
    const heartbeatsEnd = Date.now() + 3500;
    while (Date.now() < heartbeatsEnd) {
      assert.equal(await heartbeatInstance(b!, kept.id), true);
      await sleep(500);
    }
    await until('dies gone everywhere', () => [0, 1].every((i) => JSON.stringify(latest(i).whoami) === JSON.stringify({ beta: ['http://10.0.0.7:8080'] })), 5000);
    assert.equal(await heartbeatInstance(b!, dies.id), false, 'an expired registration cannot be revived');
    assert.deepEqual((await listInstances(c!)).map((r) => r.url).sort(), ['http://10.0.0.7:8080', 'http://10.0.0.9:8080']);

    assert.equal(await deregisterInstance(c!, kept.id), true);
    await until('kept gone at once', () => [0, 1].every((i) => latest(i).whoami === undefined));
    assert.equal(await deregisterInstance(c!, kept.id), false);
    assert.equal(await heartbeatInstance(c!, 'not-an-id'), false);
    await Promise.all(watches.map((w) => w.close()));
  } finally {
    conns.closeAll();
  }
});
