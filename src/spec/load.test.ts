import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadSpecFile, parseSpec, type Spec } from './index.js';

const FULL = `
listen: 0.0.0.0:8080
laneHeader: X-Gray-Lane
laneAliases: [x-mse-tag, X-OpenSergo-Traffic]
exposeLane: true
timeouts: { connect: 250ms, headers: 1.5s, idle: 2m, tunnelIdle: 30m }
mirror: { maxConcurrent: 8, maxBodyBytes: 64kb }
accessLog: false
drain: 0
services:
  whoami:
    fallback: stable
    failClosed: [alpha]
    passiveHealth: { consecutiveFailures: 3, eject: 1h }
    versions:
      stable: { endpoints: [http://127.0.0.1:9001, http://127.0.0.1:9002] }
      beta:   { endpoints: [http://127.0.0.1:9101] }
      alpha: [https://10.0.0.7:8443/base]
  orders:
    fallback: v1
    versions:
      v1: [http://127.0.0.1:9301]
      alpha1: []
routes:
  - name: checkout
    match: { host: Prod.Example.com, pathPrefix: / }
    service: whoami
    trustLane: true
    identity: [header:X-User-Id, cookie:UID, query:uid]
    visitorCookie: { name: vid, maxAge: 7d }
    salt: 2026
    rules:
      - { name: vip, lane: alpha, users: ["1001", 1002, 0012, 12345678901234567890] }
      - { lane: beta, appVersion: { header: X-App-Version, range: ">=2.3.0" } }
      - { lane: beta, appVersion: { query: v, range: "^3" } }
      - { lane: beta, path: { contains: /new-checkout } }
      - { lane: beta, path: { regex: "^/v[0-9]+/pay$" } }
      - { lane: beta, header: { name: X-Canary, equals: always } }
      - { lane: beta, header: { name: x-tier, in: [gold, 2] } }
      - { lane: beta, cookie: { name: Canary, pattern: "^on|yes$" } }
      - { lane: beta, query: { name: preview, present: true } }
      - lane: beta
        percent: 10.25
        headers: { set: { X-MSE-Tag: gray, x-retries: 3 }, add: { via: graylane }, remove: [X-Debug] }
    canary:
      - { lane: beta, byHeader: X-Canary, byHeaderValue: yes, byCookie: canary, weight: 10 }
      - { lane: alpha1, byHeader: x-ring, byHeaderPattern: "^a[0-9]$", weight: 5, weightTotal: 1000 }
    split: { stable: 3, beta: 1 }
    stickySplit: true
    mirror: { lane: beta, percent: 5 }
  - match: { host: "*.alpha1.example.com", path: /exact }
    service: orders
    lane: alpha1
    identity: []
    visitorCookie: false
    mirror: { lane: alpha }
  - service: orders
    visitorCookie: true
`;

const EXPECTED: Spec = {
  listen: '0.0.0.0:8080',
  laneHeader: 'x-gray-lane',
  laneAliases: ['x-mse-tag', 'x-opensergo-traffic'],
  exposeLane: true,
  timeouts: { connectMs: 250, headersMs: 1500, idleMs: 120_000, tunnelIdleMs: 1_800_000 },
  mirror: { maxConcurrent: 8, maxBodyBytes: 65_536 },
  accessLog: false,
  drainMs: 0,
  limits: { maxUrlBytes: 8192, maxHeaderBytes: 16_384, maxHeaders: 100, headersTimeoutMs: 10_000, maxConcurrentStreams: 100 },
  services: {
    whoami: {
      fallback: 'stable',
      failClosed: ['alpha'],
      versions: {
        stable: { endpoints: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] },
        beta: { endpoints: ['http://127.0.0.1:9101'] },
        alpha: { endpoints: ['https://10.0.0.7:8443/base'] },
      },
      passiveHealth: { consecutiveFailures: 3, ejectMs: 3_600_000 },
    },
    orders: {
      fallback: 'v1',
      failClosed: [],
      versions: { v1: { endpoints: ['http://127.0.0.1:9301'] }, alpha1: { endpoints: [] } },
      passiveHealth: { consecutiveFailures: 5, ejectMs: 10_000 },
    },
  },
  routes: [
    {
      name: 'checkout',
      match: { host: 'prod.example.com', pathPrefix: '/' },
      service: 'whoami',
      trustLane: true,
      identity: [
        { kind: 'header', name: 'x-user-id' },
        { kind: 'cookie', name: 'UID' },
        { kind: 'query', name: 'uid' },
      ],
      visitorCookie: { name: 'vid', maxAgeMs: 7 * 86_400_000 },
      salt: '2026',
      rules: [
        { name: 'vip', lane: 'alpha', users: ['1001', '1002', '0012', '12345678901234567890'] },
        { name: 'rules[1]', lane: 'beta', appVersion: { from: { kind: 'header', name: 'x-app-version' }, range: '>=2.3.0', prerelease: 'include' } },
        { name: 'rules[2]', lane: 'beta', appVersion: { from: { kind: 'query', name: 'v' }, range: '^3', prerelease: 'include' } },
        { name: 'rules[3]', lane: 'beta', path: { contains: '/new-checkout' } },
        { name: 'rules[4]', lane: 'beta', path: { regex: '^/v[0-9]+/pay$' } },
        { name: 'rules[5]', lane: 'beta', header: { name: 'x-canary', equals: 'always' } },
        { name: 'rules[6]', lane: 'beta', header: { name: 'x-tier', in: ['gold', '2'] } },
        { name: 'rules[7]', lane: 'beta', cookie: { name: 'Canary', pattern: '^on|yes$' } },
        { name: 'rules[8]', lane: 'beta', query: { name: 'preview', present: true } },
        {
          name: 'rules[9]',
          lane: 'beta',
          percent: 10.25,
          headers: { set: { 'x-mse-tag': 'gray', 'x-retries': '3' }, add: { via: 'graylane' }, remove: ['x-debug'] },
        },
      ],
      canary: [
        { lane: 'beta', byHeader: 'x-canary', byHeaderValue: 'yes', byCookie: 'canary', weight: 10, weightTotal: 100 },
        { lane: 'alpha1', byHeader: 'x-ring', byHeaderPattern: '^a[0-9]$', weight: 5, weightTotal: 1000 },
      ],
      split: { stable: 3, beta: 1 },
      stickySplit: true,
      mirror: { lane: 'beta', percent: 5 },
    },
    {
      name: '*.alpha1.example.com/exact',
      match: { host: '*.alpha1.example.com', path: '/exact' },
      service: 'orders',
      lane: 'alpha1',
      trustLane: false,
      identity: [],
      visitorCookie: null,
      salt: '*.alpha1.example.com/exact',
      rules: [],
      canary: [],
      stickySplit: false,
      mirror: { lane: 'alpha', percent: 100 },
    },
    {
      name: 'routes[2]',
      match: {},
      service: 'orders',
      trustLane: false,
      identity: [{ kind: 'header', name: 'x-user-id' }],
      visitorCookie: { name: 'gl_vid', maxAgeMs: 30 * 86_400_000 },
      salt: 'routes[2]',
      rules: [],
      canary: [],
      stickySplit: false,
    },
  ],
  rollouts: [],
  analysisTemplates: {},
  state: { path: '.graylane/state.db' },
  admin: { listen: '127.0.0.1:9090' },
};

test('a full config produces exactly the expected Spec', () => {
  assert.deepStrictEqual(parseSpec(FULL, 'full.yaml'), EXPECTED);
});

test('a minimal config gets every default', () => {
  const spec = parseSpec('services:\n  web:\n    versions:\n      stable: [http://127.0.0.1:9001]\nroutes: []\n', 'min.yaml');
  assert.deepStrictEqual(spec, {
    listen: '127.0.0.1:8080',
    laneHeader: 'x-gray-lane',
    laneAliases: [],
    exposeLane: false,
    timeouts: { connectMs: 5_000, headersMs: 30_000, idleMs: 60_000, tunnelIdleMs: 3_600_000 },
    mirror: { maxConcurrent: 64, maxBodyBytes: 1_048_576 },
    accessLog: true,
    drainMs: 30_000,
    limits: { maxUrlBytes: 8192, maxHeaderBytes: 16_384, maxHeaders: 100, headersTimeoutMs: 10_000, maxConcurrentStreams: 100 },
    services: {
      web: {
        fallback: 'stable',
        failClosed: [],
        versions: { stable: { endpoints: ['http://127.0.0.1:9001'] } },
        passiveHealth: { consecutiveFailures: 5, ejectMs: 10_000 },
      },
    },
    routes: [],
    rollouts: [],
    analysisTemplates: {},
    state: { path: '.graylane/state.db' },
    admin: { listen: '127.0.0.1:9090' },
  });
});

test('the Spec is deeply frozen', () => {
  const spec = parseSpec(FULL, 'full.yaml');
  assert.ok(Object.isFrozen(spec));
  assert.ok(Object.isFrozen(spec.services.whoami!.versions.stable!.endpoints));
  assert.ok(Object.isFrozen(spec.routes[0]!.rules[0]!.users));
  assert.ok(Object.isFrozen(spec.routes[0]!.split));
  assert.throws(() => {
    (spec.routes as unknown as unknown[]).push({});
  }, TypeError);
});

test('a lane may be absent from the route\'s own service when another service has it (full-link gray)', () => {
  // orders has no beta; whoami has. The request keeps lane beta and orders serves it from its fallback.
  const spec = parseSpec(
    [
      'services:',
      '  orders: { fallback: v1, versions: { v1: [http://127.0.0.1:9301] } }',
      '  whoami: { versions: { stable: [http://127.0.0.1:9001], beta: [http://127.0.0.1:9101] } }',
      'routes:',
      '  - service: orders',
      '    rules: [{ lane: beta, users: [u1] }]',
      '    split: { v1: 9, beta: 1 }',
      '    mirror: { lane: beta, percent: 0.5 }',
    ].join('\n'),
    'gl.yaml',
  );
  assert.deepStrictEqual(spec.routes[0]!.split, { v1: 9, beta: 1 });
});

test('anchors, aliases and << merge keys are resolved', () => {
  const spec = parseSpec(
    [
      'services:',
      '  web: { versions: { stable: [http://127.0.0.1:9001], beta: [http://127.0.0.1:9101] } }',
      'routes:',
      '  - &route { service: web, split: { stable: 1, beta: 1 } }',
      '  - { <<: *route, match: { pathPrefix: /b } }',
    ].join('\n'),
    'gl.yaml',
  );
  assert.equal(spec.routes.length, 2);
  assert.deepStrictEqual(spec.routes[1]!.split, { stable: 1, beta: 1 });
  assert.equal(spec.routes[1]!.name, '/b');
});

test('loadSpecFile reads a file and reports its path in issues', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'graylane-spec-'));
  try {
    const good = join(dir, 'good.yaml');
    await writeFile(good, FULL);
    assert.deepStrictEqual(await loadSpecFile(good), EXPECTED);

    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'services: {}\nroutes: []\nlisten: nowhere\n');
    await assert.rejects(loadSpecFile(bad), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`^${bad.replace(/[.\\/]/g, '\\$&')}:3:9: listen: must be host:port`));
      return true;
    });

    const missing = join(dir, 'missing.yaml');
    await assert.rejects(loadSpecFile(missing), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.issues.length, 1);
      assert.equal(err.issues[0]!.code, 'unreadable-file');
      assert.equal(err.issues[0]!.line, 0);
      assert.match(err.message, new RegExp(`^${missing.replace(/[.\\/]/g, '\\$&')}: cannot read config file: ENOENT`));
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
