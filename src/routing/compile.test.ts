import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile, parseEndpoint } from './compile.js';
import { CompileError } from './errors.js';
import { route, service, spec, SVC } from '../../test/support/routing.js';
import type { RouteSpec } from '../spec/types.js';
import { ObjectHeaders } from './request-values.js';

test('endpoint URLs are parsed once into origin and basePath', () => {
  assert.deepEqual(parseEndpoint('http://127.0.0.1:9001', false, 'k'), {
    url: 'http://127.0.0.1:9001',
    origin: 'http://127.0.0.1:9001',
    basePath: '',
    registered: false,
    http2: false,
  });
  assert.equal(parseEndpoint('http://h:8080/app/', false, 'k').basePath, '/app');
  assert.equal(parseEndpoint('https://H.example.com:443/a/b', true, 'k').origin, 'https://h.example.com');
  assert.throws(() => parseEndpoint('ftp://h', false, 'services.a.versions.b.endpoints[0]'), CompileError);
  assert.throws(() => parseEndpoint('not a url', false, 'k'), CompileError);
});

test('h2c:// and h2:// endpoints get a real origin (URL.origin is "null" for them) and are HTTP/2', () => {
  assert.deepEqual(parseEndpoint('h2c://Grpc.Local:50051', false, 'k'), {
    url: 'h2c://Grpc.Local:50051',
    origin: 'h2c://grpc.local:50051',
    basePath: '',
    registered: false,
    http2: true,
  });
  assert.equal(parseEndpoint('h2://[::1]:8443', false, 'k').origin, 'h2://[::1]:8443');
  // Two h2c hosts must not share one pool and one health entry under "null".
  assert.notEqual(parseEndpoint('h2c://a:1', false, 'k').origin, parseEndpoint('h2c://b:1', false, 'k').origin);
});

test('registered endpoints merge with static ones: deduplicated, flagged, new versions created', () => {
  const snap = compile(spec(), {
    registered: {
      svc: {
        stable: ['http://127.0.0.1:9002/', 'http://127.0.0.1:9003', 'http://127.0.0.1:9003', 'bad url'],
        'feature-x': ['http://127.0.0.1:9301'],
      },
      unknown: { stable: ['http://127.0.0.1:1'] },
    },
  });
  const svc = snap.services.get('svc')!;
  const stable = svc.versions.get('stable')!;
  assert.deepEqual(
    stable.endpoints.map((e) => [e.url, e.registered]),
    [
      ['http://127.0.0.1:9001', false],
      ['http://127.0.0.1:9002', false],
      ['http://127.0.0.1:9003', true],
    ],
  );
  assert.deepEqual(svc.versions.get('feature-x')!.endpoints.map((e) => e.url), ['http://127.0.0.1:9301']);
  assert.equal(snap.services.has('unknown'), false);
});

test('matchRoute: first route in declared order; exact host, *.suffix, any host', () => {
  const routes: RouteSpec[] = [
    route({ name: 'alpha-host', match: { host: 'alpha.example.com' } }),
    route({ name: 'api-any-host', match: { pathPrefix: '/api/' } }),
    route({ name: 'wild', match: { host: '*.example.com' } }),
    route({ name: 'prod', match: { host: 'prod.example.com', pathPrefix: '/' } }),
    route({ name: 'exact', match: { path: '/healthz' } }),
  ];
  const snap = compile(spec({ routes }));
  const m = (host: string, path: string) => snap.matchRoute(host, path)?.name;
  assert.equal(m('alpha.example.com', '/api/x'), 'alpha-host');
  assert.equal(m('prod.example.com', '/api/x'), 'api-any-host', 'declared order across host kinds');
  assert.equal(m('prod.example.com', '/x'), 'wild', 'the wildcard is declared before the exact host');
  assert.equal(m('a.b.example.com', '/x'), 'wild');
  assert.equal(m('example.com', '/x'), undefined, '*.example.com does not match the apex');
  assert.equal(m('evilexample.com', '/x'), undefined);
  assert.equal(m('other.org', '/healthz'), 'exact');
  assert.equal(m('other.org', '/healthz/x'), undefined);
  assert.equal(m('other.org', '/api/v1'), 'api-any-host');
});

test('matchRoute: pathPrefix is a plain string prefix; exact path is exact', () => {
  const snap = compile(spec({ routes: [route({ name: 'api', match: { pathPrefix: '/api' } })] }));
  assert.equal(snap.matchRoute('h', '/api')?.name, 'api');
  assert.equal(snap.matchRoute('h', '/apis')?.name, 'api');
  assert.equal(snap.matchRoute('h', '/ap'), undefined);
});

test('mirror: an accumulator, so 5% is exactly 5 of every 100 requests, evenly spaced', () => {
  const snap = compile(spec({ routes: [route({ mirror: { lane: 'beta', percent: 5 } })] }));
  const r = snap.routes[0]!;
  const hits: number[] = [];
  for (let i = 1; i <= 1000; i++) if (r.mirrorLane() === 'beta') hits.push(i);
  assert.equal(hits.length, 50);
  assert.deepEqual(hits.slice(0, 3), [20, 40, 60]);
  const third = compile(spec({ routes: [route({ mirror: { lane: 'beta', percent: 33.33 } })] })).routes[0]!;
  let n = 0;
  for (let i = 0; i < 10_000; i++) if (third.mirrorLane() !== null) n++;
  assert.equal(n, 3333);
  const none = compile(spec()).routes[0]!;
  assert.equal(none.mirrorLane(), null);
});

test('id: short sha256 hex, independent of key order, changed by status', () => {
  const a = compile(spec());
  const s = spec();
  const reordered = Object.fromEntries(Object.entries(s).reverse()) as unknown as typeof s;
  assert.match(a.id, /^[0-9a-f]{12}$/);
  assert.equal(compile(reordered).id, a.id);
  assert.notEqual(compile(spec(), { services: { svc: { split: { beta: 1 } } } }).id, a.id);
});

test('lane headers: the lane header then aliases, lower-cased, without duplicates', () => {
  const snap = compile(spec({ laneHeader: 'X-Gray-Lane', laneAliases: ['x-mse-tag', 'X-GRAY-LANE', 'x-opensergo-traffic'] }));
  assert.deepEqual(snap.laneHeaders, ['x-gray-lane', 'x-mse-tag', 'x-opensergo-traffic']);
});

test('services: fallback, failClosed, passive health carried over', () => {
  const snap = compile(spec({ services: { svc: service({ v1: ['http://a:1'] }, { fallback: 'v1', failClosed: ['v2'] }) } }));
  const svc = snap.services.get('svc')!;
  assert.equal(svc.fallback, 'v1');
  assert.ok(svc.failClosed.has('v2'));
  assert.deepEqual(svc.passiveHealth, { consecutiveFailures: 3, ejectMs: 10_000 });
  assert.equal(snap.routes[0]!.service, svc);
});

test('the snapshot is frozen; routes share their service object', () => {
  const snap = compile(spec({ services: { svc: SVC() }, routes: [route({ name: 'a' }), route({ name: 'b' })] }));
  assert.ok(Object.isFrozen(snap) && Object.isFrozen(snap.routes));
  assert.equal(snap.routes[0]!.service, snap.routes[1]!.service);
});

test('compile errors carry the key path', () => {
  assert.throws(
    () => compile(spec({ routes: [route(), route({ service: 'nope' })] })),
    (e: unknown) => e instanceof CompileError && e.keyPath === 'routes[1].service',
  );
  assert.throws(
    () => compile(spec({ routes: [route({ rules: [{ lane: 'b', header: { name: 'x', pattern: '[' } }] })] })),
    (e: unknown) => e instanceof CompileError && e.keyPath === 'routes[0].rules[0].header.pattern',
  );
  assert.throws(
    () => compile(spec({ routes: [route({ split: { stable: -1 } })] })),
    (e: unknown) => e instanceof CompileError && e.keyPath === 'routes[0].split.stable',
  );
  assert.throws(
    () => compile(spec({ routes: [route({ canary: [{ lane: 'b', weight: 101 }] })] })),
    (e: unknown) => e instanceof CompileError && e.keyPath === 'routes[0].canary[0].weight',
  );
});

test('a route host written with a trailing dot or in capitals matches the host as requests are read', () => {
  const snap = compile(spec({ routes: [route({ name: 'dot', match: { host: 'Prod.Example.com.' } }), route({ name: 'wild', match: { host: '*.example.org.' } })] }));
  assert.equal(snap.matchRoute('prod.example.com', '/')?.name, 'dot');
  assert.equal(snap.matchRoute('a.example.org', '/')?.name, 'wild');
});

test('route paths and rule paths are compared in normalised percent-encoding; a malformed % is a CompileError with its key path', () => {
  const snap = compile(
    spec({
      routes: [
        route({ name: 'encoded', match: { pathPrefix: '/new%2dcheckout' }, rules: [{ lane: 'beta', path: { contains: '/st%65p%2f' } }] }),
        route({ name: 'exact', match: { path: '/caf%c3%a9' } }),
      ],
    }),
  );
  const r = snap.matchRoute('h', '/new-checkout/step%2F2')!;
  assert.equal(r.name, 'encoded');
  const ctx = { random: () => 0.5, newVisitorId: () => 'v' };
  assert.equal(r.mark({ host: 'h', path: '/new-checkout/step%2F2', query: '', headers: new ObjectHeaders({}) }, ctx).lane, 'beta');
  assert.equal(snap.matchRoute('h', '/caf%C3%A9')?.name, 'exact');
  assert.throws(
    () => compile(spec({ routes: [route({ match: { pathPrefix: '/100%' } })] })),
    (err: unknown) => err instanceof CompileError && /routes\[0\]\.match\.pathPrefix/.test(err.message),
  );
  assert.throws(
    () => compile(spec({ routes: [route({ rules: [{ lane: 'beta', path: { prefix: '/a%g' } }] })] })),
    (err: unknown) => err instanceof CompileError && /routes\[0\]\.rules\[0\]\.path\.prefix/.test(err.message),
  );
});
