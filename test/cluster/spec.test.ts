import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTcpProxy } from '../support/etcd.js';
import { readSpecCache, SpecCacheError } from '../../src/source/cache.js';
import { applySpec, getSpec, loadInitialSpec, watchSpec, type AppliedSpec } from '../../src/source/etcd.js';
import { StoreConflictError, StoreUnavailableError } from '../../src/store/types.js';
import { Connections, etcdForFile, freshPrefix } from './helpers.js';
import { eventually, until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

const etcd = etcdForFile();

const spec = (weight: number): string => `# canary weight ${weight}\nservices:\n  whoami:\n    versions:\n      stable: { endpoints: [http://127.0.0.1:9001] }\n# weight: ${weight}\n`;

test('spec: apply stores the text as written with its hash; the same text again writes nothing', async () => {
  const server = await etcd();
  const conns = new Connections();
  try {
    const conn = conns.open(server.endpoint, freshPrefix());
    assert.equal(await getSpec(conn), null);
    const r1 = await applySpec(conn, spec(10), { source: 'graylane.yaml', now: () => new Date('2026-01-02T03:04:05Z') });
    assert.equal(r1.changed, true);
    const got = await getSpec(conn);
    assert.deepEqual(got, { yaml: spec(10), sha256: r1.sha256, revision: r1.revision, appliedAt: '2026-01-02T03:04:05.000Z', source: 'graylane.yaml' });
    assert.match(r1.sha256, /^[0-9a-f]{64}$/);

    const again = await applySpec(conn, spec(10));
    assert.deepEqual(again, { revision: r1.revision, sha256: r1.sha256, changed: false });

    await assert.rejects(applySpec(conn, spec(20), { expectRevision: r1.revision - 1 }), (e: unknown) => e instanceof StoreConflictError && e.actualRevision === r1.revision);
    const r2 = await applySpec(conn, spec(20), { expectRevision: r1.revision });
    assert.ok(r2.revision > r1.revision);

    // Written by hand with etcdctl: bare YAML is read as the spec.
    await conn.client.put(conn.keys.spec).value(spec(30));
    assert.equal((await getSpec(conn))?.yaml, spec(30));
  } finally {
    conns.closeAll();
  }
});

test('spec: three watching gateways get each apply; one cut off meanwhile catches up with the latest, nothing twice', async () => {
  const server = await etcd();
  const proxy = await startTcpProxy(server.endpoint);
  const conns = new Connections();
  const prefix = freshPrefix();
  try {
    const admin = conns.open(server.endpoint, prefix);
    const first = await applySpec(admin, spec(0));
    const seen: string[][] = [[], [], []];
    const watches = [0, 1, 2].map((i) =>
      watchSpec(conns.open(i === 2 ? proxy.endpoint : server.endpoint, prefix), (s) => void seen[i]!.push(s.yaml), { since: i === 0 ? first : null }),
    );
    await Promise.all(watches.map((w) => w.ready()));
    assert.deepEqual(seen, [[], [spec(0)], [spec(0)]], 'a gateway already serving the spec is not handed it again');

    await applySpec(admin, spec(10));
    await until('all three at 10', () => seen.every((s) => s.at(-1) === spec(10)));

    proxy.cut();
    await until('gateway 3 to notice the cut', () => !watches[2]!.connected);
    await applySpec(admin, spec(20));
    await applySpec(admin, spec(30));
    await until('gateways 1 and 2 at 30', () => seen[0]!.at(-1) === spec(30) && seen[1]!.at(-1) === spec(30));
    proxy.restore();
    await until('gateway 3 at 30', () => seen[2]!.at(-1) === spec(30));

    // Every gateway saw the applies in order, none twice; applies that arrive together (as after a
    // reconnect) may be handed over as their last one only.
    const order = [spec(0), spec(10), spec(20), spec(30)];
    for (const [i, got] of seen.entries()) {
      const positions = got.map((t) => order.indexOf(t));
      assert.deepEqual(positions, [...positions].sort(), `gateway ${i + 1}: in order, none twice: ${positions.join(',')}`);
      assert.equal(new Set(positions).size, positions.length);
    }
    assert.deepEqual(seen[2]!.slice(0, 2), [spec(0), spec(10)], 'nothing from before the cut was handed over again');
    await Promise.all(watches.map((w) => w.close()));
  } finally {
    conns.closeAll();
    await proxy.close();
  }
});

test('spec: the cache keeps the last accepted spec; a rejected one is not cached', async () => {
  const server = await etcd();
  const conns = new Connections();
  const dir = await tempDir();
  const cacheFile = join(dir.path, 'state', 'spec-cache.json');
  try {
    const conn = conns.open(server.endpoint, freshPrefix());
    const accepted: AppliedSpec[] = [];
    const w = watchSpec(conn, (s) => (s.yaml.includes('broken') ? false : void accepted.push(s)), { cacheFile });
    await w.ready();
    const r1 = await applySpec(conn, spec(10));
    await until('the spec accepted and cached', () => accepted.length === 1 && readSpecCache(cacheFile)?.revision === r1.revision);
    await applySpec(conn, 'broken: [\n');
    await applySpec(conn, spec(20));
    await until('20 accepted', () => accepted.length === 2);
    await until('20 cached', () => readSpecCache(cacheFile)?.yaml === spec(20));
    assert.deepEqual(accepted.map((s) => s.yaml), [spec(10), spec(20)]);
    assert.deepEqual(readdirSync(dir.file('state')), ['spec-cache.json'], 'no temporary file left behind');
    await w.close();
  } finally {
    conns.closeAll();
    await dir.remove();
  }
});

test('spec: a gateway restarted while etcd is down starts from its cache, then picks up an apply made meanwhile', async () => {
  const server = await etcd();
  const conns = new Connections();
  const dir = await tempDir();
  const cacheFile = dir.file('spec-cache.json');
  const prefix = freshPrefix();
  try {
    const admin = conns.open(server.endpoint, prefix);
    const applied = await applySpec(admin, spec(10));
    const gateway = conns.open(server.endpoint, prefix);
    const boot = await loadInitialSpec(gateway, { cacheFile });
    assert.equal(boot.from, 'etcd');
    assert.equal(boot.spec?.revision, applied.revision);
    assert.equal(readSpecCache(cacheFile)?.yaml, spec(10), 'reading from etcd refreshed the cache');

    await server.kill();
    // "Restart": a new process has only the cache file.
    const restarted = conns.open(server.endpoint, prefix);
    const fromCache = await loadInitialSpec(restarted, { cacheFile });
    assert.equal(fromCache.from, 'cache');
    assert.equal(fromCache.spec?.yaml, spec(10));
    assert.ok(fromCache.error instanceof StoreUnavailableError);
    await assert.rejects(
      loadInitialSpec(restarted, { cacheFile: dir.file('missing.json') }),
      (e: unknown) => e instanceof StoreUnavailableError && /no cached spec at .*missing\.json: cannot start without a spec/.test(e.message),
    );

    const seen: string[] = [];
    const w = watchSpec(restarted, (s) => void seen.push(s.yaml), { since: fromCache.spec, cacheFile });
    await server.start();
    await eventually(() => applySpec(admin, spec(20)));
    await until('the apply made after the outage', () => seen.at(-1) === spec(20), 15_000);
    assert.deepEqual(seen, [spec(20)]);
    await until('the cache to follow', () => readSpecCache(cacheFile)?.yaml === spec(20));
    await w.close();
  } finally {
    conns.closeAll();
    await dir.remove();
  }
});

test('spec: a damaged cache is refused, not served', async () => {
  const dir = await tempDir();
  try {
    const file = dir.file('spec-cache.json');
    writeFileSync(file, JSON.stringify({ format: 1, spec: { yaml: spec(10), sha256: '00', revision: 3 } }));
    assert.throws(() => readSpecCache(file), (e: unknown) => e instanceof SpecCacheError && /does not match its sha256/.test(e.message));
    writeFileSync(file, '{"format": 1, "spec": {"yaml": "servi');
    assert.throws(() => readSpecCache(file), SpecCacheError);
    assert.equal(readSpecCache(dir.file('none.json')), null);
  } finally {
    await dir.remove();
  }
});

test('spec: a spec the gateway refuses at start is never cached; the cached one is served, or the refusal thrown', async () => {
  const server = await etcd();
  const conns = new Connections();
  const dir = await tempDir();
  const cacheFile = dir.file('spec-cache.json');
  const prefix = freshPrefix();
  try {
    const conn = conns.open(server.endpoint, prefix);
    const refuse = (s: AppliedSpec) => {
      if (s.yaml.includes('weight 99')) throw new Error('refused: weight 99');
    };
    await applySpec(conn, spec(10));
    assert.equal((await loadInitialSpec(conn, { cacheFile, accept: refuse })).from, 'etcd');

    // When a spec that does not pass is written (by hand, past `graylane apply`)
    await applySpec(conn, spec(99));
    const boot = await loadInitialSpec(conn, { cacheFile, accept: refuse });
    // Then the last accepted one is served, and the cache still holds it
    assert.equal(boot.from, 'cache');
    assert.equal(boot.spec?.yaml, spec(10));
    assert.equal(boot.error?.message, 'refused: weight 99');
    assert.equal(readSpecCache(cacheFile)?.yaml, spec(10));
    // And with no cache to fall back on, the refusal is the error
    await assert.rejects(loadInitialSpec(conn, { cacheFile: dir.file('none.json'), accept: refuse }), /refused: weight 99/);
  } finally {
    conns.closeAll();
    await dir.remove();
  }
});
