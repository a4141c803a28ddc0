import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InstanceRegistry, RegistryError, type InstanceInput } from './registry.js';

function registry(): InstanceRegistry {
  let n = 0;
  return new InstanceRegistry({ services: ['a', 'b'], defaultTtlMs: 10_000, minTtlMs: 1_000, maxTtlMs: 60_000, newId: () => `id${++n}` });
}

function refused(fn: () => unknown, code: string, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RegistryError);
    assert.equal(err.code, code);
    assert.equal(err.field, field);
    assert.equal(err.status, 400);
    return true;
  });
}

test('register validates service, version, url and ttl with typed errors', () => {
  const r = registry();
  const ok: InstanceInput = { service: 'a', version: 'beta', url: 'http://10.0.0.7:8080' };
  refused(() => r.register({ ...ok, service: 'nope' }, 0), 'unknown_service', 'service');
  refused(() => r.register({ ...ok, service: '' }, 0), 'bad_request', 'service');
  refused(() => r.register(null as unknown as InstanceInput, 0), 'bad_request', 'body');
  for (const url of ['10.0.0.7:8080', '/x', 'ftp://h/x', 'http://u:p@h:1', 'http://h:1/?q=1', 'http://h:1/#f', 'http://0.0.0.0:80', 'not a url']) {
    refused(() => r.register({ ...ok, url }, 0), 'bad_address', 'url');
  }
  for (const version of ['', '-beta', 'a/b', 'x'.repeat(64), 'beta lane']) {
    refused(() => r.register({ ...ok, version }, 0), 'bad_version', 'version');
  }
  for (const ttlMs of [999, 60_001, 1.5, Number.NaN]) {
    refused(() => r.register({ ...ok, ttlMs }, 0), 'bad_ttl', 'ttlMs');
  }
  assert.equal(r.size, 0);
  const inst = r.register({ ...ok, version: 'Feature_1.x-2', url: 'https://svc.example:8443/base//' }, 5);
  assert.deepEqual(inst, {
    id: 'id1',
    service: 'a',
    version: 'Feature_1.x-2',
    url: 'https://svc.example:8443/base',
    ttlMs: 10_000,
    registeredAt: 5,
    expiresAt: 10_005,
  });
});

test('ids are random UUIDs by default', () => {
  const r = new InstanceRegistry({ services: ['a'] });
  const x = r.register({ service: 'a', version: 'stable', url: 'http://h:1' }, 0);
  const y = r.register({ service: 'a', version: 'stable', url: 'http://h:1' }, 0);
  assert.match(x.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(x.id, y.id);
});

test('TTL expiry with an injected clock: heartbeats keep an instance, silence removes it', () => {
  const r = registry();
  const a = r.register({ service: 'a', version: 'beta', url: 'http://h:1', ttlMs: 3_000 }, 0);
  const b = r.register({ service: 'b', version: 'stable', url: 'http://h:2' }, 0);
  assert.equal(r.nextExpiry(), 3_000);

  assert.deepEqual(r.expire(2_999), []);
  assert.equal(r.heartbeat(a.id, 2_000)?.expiresAt, 5_000);
  assert.equal(r.nextExpiry(), 5_000);
  assert.deepEqual(r.expire(4_999), []);

  const gone = r.expire(5_000);
  assert.deepEqual(gone.map((i) => i.id), [a.id]);
  assert.equal(r.heartbeat(a.id, 5_001), undefined, 'an expired instance is unknown to heartbeats');
  assert.equal(r.nextExpiry(), 10_000);
  assert.deepEqual(r.toRegistered(), { b: { stable: ['http://h:2'] } });

  assert.deepEqual(r.expire(10_000).map((i) => i.id), [b.id]);
  assert.equal(r.nextExpiry(), undefined);
  assert.deepEqual(r.toRegistered(), {});
});

test('a heartbeat that arrives after expiry but before expire() ran is refused', () => {
  const r = registry();
  const a = r.register({ service: 'a', version: 'beta', url: 'http://h:1', ttlMs: 1_000 }, 0);
  assert.equal(r.heartbeat(a.id, 1_000), undefined);
  // Left for expire() to remove and report, so that the caller hears of every removal.
  assert.deepEqual(r.expire(1_000).map((i) => i.id), [a.id]);
  assert.equal(r.size, 0);
});

test('deregister removes at once; unknown ids answer undefined', () => {
  const r = registry();
  const a = r.register({ service: 'a', version: 'beta', url: 'http://h:1' }, 0);
  assert.equal(r.deregister(a.id)?.id, a.id);
  assert.equal(r.deregister(a.id), undefined);
  assert.equal(r.heartbeat('nope', 0), undefined);
  assert.deepEqual(r.toRegistered(), {});
});

test('toRegistered is Status.registered: grouped, deduplicated, sorted, known services only', () => {
  const r = registry();
  r.register({ service: 'b', version: 'stable', url: 'http://h:9/' }, 0);
  r.register({ service: 'a', version: 'beta', url: 'http://h:2' }, 0);
  r.register({ service: 'a', version: 'beta', url: 'http://h:1' }, 0);
  r.register({ service: 'a', version: 'beta', url: 'http://h:1/' }, 1);
  r.register({ service: 'a', version: 'alpha', url: 'http://h:3' }, 0);
  assert.deepEqual(JSON.stringify(r.toRegistered()), JSON.stringify({
    a: { alpha: ['http://h:3'], beta: ['http://h:1', 'http://h:2'] },
    b: { stable: ['http://h:9'] },
  }));
  // A service removed from the spec: its instances stay, out of the status, until it returns.
  r.setServices(['a']);
  assert.deepEqual(Object.keys(r.toRegistered()), ['a']);
  refused(() => r.register({ service: 'b', version: 'stable', url: 'http://h:9' }, 0), 'unknown_service', 'service');
  r.setServices(['a', 'b']);
  assert.deepEqual(Object.keys(r.toRegistered()), ['a', 'b']);
});
