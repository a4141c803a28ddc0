import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { LocalInstances } from './service.js';
import { RegistryError } from './registry.js';

/** A LocalInstances on node:test's fake clock (setTimeout and Date), counting onChange calls. */
function setup(services = ['a', 'b']): { instances: LocalInstances; changes: () => number } {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  let changes = 0;
  const instances = new LocalInstances({ services, minTtlMs: 1_000, onChange: () => changes++ });
  return { instances, changes: () => changes };
}

test('onChange fires once per change of the endpoint table, synchronously', (t) => {
  t.after(() => mock.timers.reset());
  const { instances, changes } = setup();
  const x = instances.register({ service: 'a', version: 'gray', url: 'http://10.0.0.1:8080', ttlMs: 5_000 });
  assert.equal(changes(), 1);
  assert.deepEqual(instances.status(), { registered: { a: { gray: ['http://10.0.0.1:8080'] } } });
  // The same URL again is the same endpoint; a heartbeat changes nothing either.
  const y = instances.register({ service: 'a', version: 'gray', url: 'http://10.0.0.1:8080/', ttlMs: 5_000 });
  assert.ok(instances.heartbeat(x.id));
  assert.equal(changes(), 1);
  instances.deregister(x.id);
  assert.equal(changes(), 1, 'y still serves the URL');
  instances.deregister(y.id);
  assert.equal(changes(), 2);
  assert.deepEqual(instances.status(), {}, 'no registrations: no registered key at all');
  assert.throws(() => instances.register({ service: 'zzz', version: 'gray', url: 'http://h:1' }), RegistryError);
  assert.equal(changes(), 2);
  instances.close();
});

test('one timer expires instances at their TTL; heartbeats keep them; a shorter TTL registered later is honoured', (t) => {
  t.after(() => mock.timers.reset());
  const { instances, changes } = setup();
  const long = instances.register({ service: 'a', version: 'gray', url: 'http://10.0.0.1:8080', ttlMs: 10_000 });
  const short = instances.register({ service: 'b', version: 'gray', url: 'http://10.0.0.2:8080', ttlMs: 2_000 });
  assert.equal(changes(), 2);

  mock.timers.tick(1_500);
  assert.ok(instances.heartbeat(short.id), 'renewed until 3,500');
  mock.timers.tick(1_000); // 2,500: the timer set for 2,000 fires, finds nothing expired, and is set again
  assert.equal(instances.list().length, 2);
  assert.equal(changes(), 2);

  mock.timers.tick(1_100); // 3,600: short expired without a heartbeat
  assert.deepEqual(instances.list().map((i) => i.id), [long.id]);
  assert.equal(changes(), 3);
  assert.equal(instances.heartbeat(short.id), undefined, 'an expired instance is unknown');

  mock.timers.tick(6_500); // 10,100
  assert.equal(instances.list().length, 0);
  assert.equal(changes(), 4);
  assert.deepEqual(instances.status(), {});
  instances.close();
});

test('setServices: instances of a removed service leave the status, and come back with the service', (t) => {
  t.after(() => mock.timers.reset());
  const { instances, changes } = setup();
  instances.register({ service: 'b', version: 'gray', url: 'http://10.0.0.2:8080' });
  instances.setServices(['a']);
  assert.deepEqual(instances.status(), {});
  instances.setServices(['a', 'b']);
  assert.deepEqual(instances.status(), { registered: { b: { gray: ['http://10.0.0.2:8080'] } } });
  assert.equal(changes(), 1, 'the caller recompiles after setServices itself');
  instances.close();
});
