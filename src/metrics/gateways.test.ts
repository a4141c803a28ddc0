import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CountersDocument, GatewayAbout } from '../traffic/index.js';
import { GatewayTable, singleGateway, STALE_AFTER_MS, type LocalGateway } from './gateways.js';

const T0 = 1_800_000_000_000;

const about = (name: string, leading = false): GatewayAbout => ({
  name,
  hostname: `host-${name}`,
  address: `10.0.0.${name.length}:8080`,
  admin: `10.0.0.${name.length}:9090`,
  candidate: true,
  leading,
  store: { up: true },
});

function doc(name: string, at: number, requests: Record<string, number>, extra: Partial<CountersDocument> = {}): CountersDocument {
  const versions: CountersDocument['versions'] = { web: {} };
  for (const [v, n] of Object.entries(requests)) versions.web![v] = { requests: n, errors: n > 10 ? 1 : 0, latency: [] };
  return { v: 1, gateway: `${name}-1`, startedAt: T0 - 60_000, at, versions, about: about(name), ...extra };
}

function local(name = 'gw-a', counts: Record<string, number> = { stable: 5 }): LocalGateway {
  return {
    ...about(name, true),
    id: `${name}-1`,
    startedAt: T0 - 60_000,
    versions: Object.entries(counts).map(([version, requests]) => ({ service: 'web', version, requests, errors: 0 })),
  };
}

test('one process: itself alone, live, leader, its counts are the totals', () => {
  const o = singleGateway(local('solo', { stable: 7, beta: 2 }));
  assert.equal(o.mode, 'single');
  assert.equal(o.staleAfterMs, null);
  assert.equal(o.gateways.length, 1);
  const [me] = o.gateways;
  assert.equal(me!.local, true);
  assert.equal(me!.role, 'leader');
  assert.equal(me!.state, 'live');
  assert.equal(me!.publishedAt, null);
  assert.deepEqual(o.totals, { web: { beta: { requests: 2, errors: 0 }, stable: { requests: 7, errors: 0 } } });
});

test('a cluster: this gateway first, the others by name, each with its role, and totals per version summed', () => {
  const table = new GatewayTable();
  table.put('gw-c-1', doc('gw-c', T0, { stable: 30, beta: 12 }), T0);
  table.put('gw-b-1', { ...doc('gw-b', T0, { stable: 20 }), about: { ...about('gw-b', false), candidate: false } }, T0);
  // This gateway's own document comes back through the watch too: it gives the publish time only.
  table.put('gw-a-1', doc('gw-a', T0 - 200, { stable: 1 }), T0);
  const o = table.overview(local('gw-a', { stable: 5, beta: 1 }), T0 + 500);
  assert.equal(o.mode, 'cluster');
  assert.deepEqual(
    o.gateways.map((g) => [g.name, g.local, g.role, g.candidate, g.state]),
    [
      ['gw-a', true, 'leader', true, 'live'],
      ['gw-b', false, 'follower', false, 'live'],
      ['gw-c', false, 'follower', true, 'live'],
    ],
  );
  const me = o.gateways[0]!;
  assert.equal(me.publishedAt, T0 - 200);
  assert.deepEqual(me.versions, { web: { stable: { requests: 5, errors: 0 }, beta: { requests: 1, errors: 0 } } }, 'the local counts as counted now, not as published');
  assert.equal(o.gateways[2]!.address, '10.0.0.4:8080');
  assert.equal(o.gateways[2]!.silentMs, 500);
  assert.deepEqual(o.totals, { web: { beta: { requests: 13, errors: 1 }, stable: { requests: 55, errors: 2 } } });
});

test('a gateway that stops publishing is stale after three periods, live again on a new document, gone when its key goes', () => {
  const table = new GatewayTable();
  table.put('gw-b-1', doc('gw-b', T0, { stable: 20 }), T0);
  const stateOf = (now: number) => table.overview(local(), now).gateways.find((g) => g.id === 'gw-b-1')?.state;
  assert.equal(stateOf(T0 + STALE_AFTER_MS - 1), 'live');
  assert.equal(stateOf(T0 + STALE_AFTER_MS), 'stale');
  // The same document again (a watch replay) is not a publish.
  table.put('gw-b-1', doc('gw-b', T0, { stable: 20 }), T0 + STALE_AFTER_MS + 100);
  assert.equal(stateOf(T0 + STALE_AFTER_MS + 200), 'stale');
  // A newer one is: live, whatever its own clock says.
  table.put('gw-b-1', doc('gw-b', T0 - 50_000, { stable: 21 }, { startedAt: T0 - 60_000 + 1 }), T0 + 5000);
  assert.equal(stateOf(T0 + 5000 + STALE_AFTER_MS - 1), 'live');
  // Stale gateways still count in the totals; gone ones do not.
  assert.equal(table.overview(local(), T0 + 20_000).totals.web!.stable!.requests, 26);
  table.delete('gw-b-1');
  const o = table.overview(local(), T0 + 20_000);
  assert.deepEqual(o.gateways.map((g) => g.id), ['gw-a-1']);
  assert.equal(o.totals.web!.stable!.requests, 5);
});

test('first sight: a document published long ago is stale at once; one from a clock ahead counts from its arrival', () => {
  const table = new GatewayTable();
  table.put('old-1', doc('old', T0 - 10_000, { stable: 1 }), T0);
  table.put('ahead-1', doc('ahead', T0 + 60_000, { stable: 1 }), T0);
  const states = Object.fromEntries(table.overview(local(), T0 + 100).gateways.map((g) => [g.name, g.state]));
  assert.deepEqual(states, { 'gw-a': 'stale', old: 'stale', ahead: 'live' });
});

test('reset (a relist) drops keys no longer there and keeps the arrival time of documents already seen', () => {
  const table = new GatewayTable();
  table.put('gw-b-1', doc('gw-b', T0, { stable: 1 }), T0);
  table.put('gw-c-1', doc('gw-c', T0, { stable: 1 }), T0);
  table.reset([['gw-b-1', doc('gw-b', T0, { stable: 1 })]], T0 + 2500);
  const o = table.overview(local(), T0 + STALE_AFTER_MS);
  assert.deepEqual(o.gateways.map((g) => [g.id, g.state]), [['gw-a-1', 'stale'], ['gw-b-1', 'stale']]);
});

test('the local gateway before its first publish came back: live for the grace period, then stale', () => {
  const table = new GatewayTable();
  const me = { ...local(), startedAt: T0 };
  assert.equal(table.overview(me, T0 + STALE_AFTER_MS - 1).gateways[0]!.state, 'live');
  assert.equal(table.overview(me, T0 + STALE_AFTER_MS).gateways[0]!.state, 'stale');
});

test('what another process published is checked field by field: nothing but strings, booleans and counts gets through', () => {
  const table = new GatewayTable();
  const bad = {
    v: 1,
    gateway: 'x',
    startedAt: T0,
    at: T0,
    about: { name: 42, leading: 'yes', store: { up: 'true', error: { no: 1 } }, address: ['a'] },
    versions: { web: { stable: { requests: -5, errors: 'many' }, beta: null }, 'not-an-object': 7 },
  } as unknown as CountersDocument;
  table.put('weird-1', bad, T0);
  const g = table.overview(local(), T0).gateways.find((x) => x.id === 'weird-1')!;
  assert.equal(g.name, 'weird-1');
  assert.equal(g.role, 'follower');
  assert.deepEqual(g.store, { up: false });
  assert.equal(g.address, '');
  assert.deepEqual(g.versions, { web: { stable: { requests: 0, errors: 0 } } });
  // Text is cut to 256 characters and cannot carry terminal escapes (graylane top prints it).
  table.put('esc-1', { ...doc('esc', T0, {}), about: { ...about('esc'), name: '\x1b[2Jgw\r\n' + 'x'.repeat(500), store: { up: false, error: 'no\x07' } } }, T0);
  const esc = table.overview(local(), T0).gateways.find((x) => x.id === 'esc-1')!;
  assert.equal(esc.name, `?[2Jgw??${'x'.repeat(248)}`);
  assert.deepEqual(esc.store, { up: false, error: 'no?' });
  // A document without `about` (an older writer) is listed under its id.
  table.put('plain-1', { ...doc('plain', T0, { stable: 3 }), about: undefined }, T0);
  assert.equal(table.overview(local(), T0).gateways.find((x) => x.id === 'plain-1')!.name, 'plain-1');
});
