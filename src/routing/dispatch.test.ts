import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from './compile.js';
import { dispatch, DISPATCH_REASON, needsHttp2 } from './dispatch.js';
import type { CompiledService, HealthView, Status } from './types.js';
import { allUp, down, service, spec } from '../../test/support/routing.js';

const S1 = 'http://127.0.0.1:9001';
const S2 = 'http://127.0.0.1:9002';
const B1 = 'http://127.0.0.1:9101';

function svc(over: Parameters<typeof service>[1] = {}, status?: Status, versions?: Record<string, string[]>): CompiledService {
  const s = service(versions ?? { stable: [S1, S2], beta: [B1], empty: [] }, over);
  return compile(spec({ services: { svc: s } }), status).services.get('svc')!;
}

function urls(s: CompiledService, lane: string, health: HealthView, n: number): (string | null)[] {
  return Array.from({ length: n }, () => dispatch(s, lane, health).endpoint?.url ?? null);
}

test("the lane's version with an up endpoint serves, round robin over its endpoints", () => {
  const s = svc();
  assert.deepEqual(urls(s, 'stable', allUp, 4), [S1, S2, S1, S2]);
  assert.deepEqual(dispatch(s, 'beta', allUp), {
    version: 'beta',
    endpoint: { url: B1, origin: B1, basePath: '', registered: false, http2: false },
    fellBack: false,
    reason: DISPATCH_REASON.own,
  });
});

test('round robin skips endpoints that are down', () => {
  const s = svc();
  assert.deepEqual(urls(s, 'stable', down(S1), 3), [S2, S2, S2]);
  assert.deepEqual(urls(s, 'stable', allUp, 2), [S1, S2]);
});

test('no version for the lane -> fallback', () => {
  const r = dispatch(svc(), 'alpha', allUp);
  assert.equal(r.version, 'stable');
  assert.equal(r.fellBack, true);
  assert.equal(r.reason, DISPATCH_REASON.noVersion);
});

test('a version without endpoints -> fallback', () => {
  const r = dispatch(svc(), 'empty', allUp);
  assert.equal(r.version, 'stable');
  assert.equal(r.fellBack, true);
  assert.equal(r.reason, DISPATCH_REASON.noEndpoints);
});

test("every endpoint of the lane's version down -> fallback's up endpoints", () => {
  const r = dispatch(svc(), 'beta', down(B1, S1));
  assert.equal(r.version, 'stable');
  assert.equal(r.endpoint?.url, S2);
  assert.equal(r.fellBack, true);
  assert.equal(r.reason, DISPATCH_REASON.allDown);
});

test('fail-closed lanes get no endpoint instead of falling back (503)', () => {
  const s = svc({ failClosed: ['beta', 'alpha'] });
  assert.deepEqual(dispatch(s, 'beta', down(B1)), {
    version: '',
    endpoint: null,
    fellBack: false,
    reason: DISPATCH_REASON.failClosedDown,
  });
  assert.equal(dispatch(s, 'alpha', allUp).reason, DISPATCH_REASON.failClosedNoVersion);
  assert.equal(dispatch(s, 'beta', allUp).version, 'beta', 'up: served normally');
});

test('panic mode: all fallback endpoints down -> used anyway, and said so', () => {
  const s = svc();
  const health = down(S1, S2, B1);
  const fell = dispatch(s, 'beta', health);
  assert.equal(fell.version, 'stable');
  assert.ok(fell.endpoint !== null);
  assert.equal(fell.fellBack, true);
  assert.equal(fell.reason, DISPATCH_REASON.fallbackDown);
  assert.deepEqual(urls(s, 'stable', health, 4).sort(), [S1, S1, S2, S2]);
  assert.equal(dispatch(s, 'stable', health).reason, DISPATCH_REASON.ownPanic);
});

test('no fallback endpoints at all -> no endpoint', () => {
  const s = svc({}, undefined, { stable: [], beta: [B1] });
  const r = dispatch(s, 'alpha', allUp);
  assert.equal(r.version, '');
  assert.equal(r.endpoint, null);
  assert.equal(r.reason, DISPATCH_REASON.nothing);
});

test('overlay stableVersion: the fallback lane is served by that version', () => {
  const s = svc({}, { services: { svc: { stableVersion: 'beta' } } });
  const own = dispatch(s, 'stable', allUp);
  assert.equal(own.version, 'beta');
  assert.equal(own.endpoint?.url, B1);
  assert.equal(own.fellBack, false);
  const fell = dispatch(s, 'alpha', allUp);
  assert.equal(fell.version, 'beta');
  assert.equal(fell.fellBack, true);
  // An overlay naming a version that does not exist is ignored.
  assert.equal(dispatch(svc({}, { services: { svc: { stableVersion: 'nope' } } }), 'stable', allUp).version, 'stable');
});

test('registered endpoints are dispatched to like static ones', () => {
  const s = svc({}, { registered: { svc: { beta: ['http://127.0.0.1:9102'], 'feature-x': ['http://10.0.0.9:80/app'] } } });
  assert.deepEqual(urls(s, 'beta', allUp, 2), [B1, 'http://127.0.0.1:9102']);
  const fx = dispatch(s, 'feature-x', allUp);
  assert.equal(fx.version, 'feature-x');
  assert.equal(fx.endpoint?.registered, true);
});

test('overlay withdrawn (an aborted rollout): the lane is served as if its version were absent; registered endpoints too', () => {
  const status: Status = { services: { svc: { withdrawn: ['beta'] } }, registered: { svc: { beta: ['http://127.0.0.1:9102'] } } };
  const s = svc({}, status);
  assert.equal(s.versions.get('beta')!.withdrawn, true, 'still listed, with its endpoints');
  assert.equal(s.versions.get('beta')!.endpoints.length, 2);
  for (let i = 0; i < 4; i++) {
    const r = dispatch(s, 'beta', allUp);
    assert.equal(r.version, 'stable');
    assert.equal(r.fellBack, true);
    assert.equal(r.reason, DISPATCH_REASON.withdrawn);
  }
  const closed = dispatch(svc({ failClosed: ['beta'] }, status), 'beta', allUp);
  assert.deepEqual(closed, { version: '', endpoint: null, fellBack: false, reason: DISPATCH_REASON.failClosedWithdrawn });
  // Only the named service: the same lane elsewhere keeps its version.
  assert.equal(dispatch(svc({}, { services: { other: { withdrawn: ['beta'] } } }), 'beta', allUp).version, 'beta');
});

test('overlay withdrawn never takes the fallback out, nor the version serving it, nor a version that does not exist', () => {
  const s = svc({}, { services: { svc: { withdrawn: ['stable', 'nope'] } } });
  assert.equal(s.versions.get('stable')!.withdrawn, false);
  assert.equal(dispatch(s, 'stable', allUp).version, 'stable');
  const completed = svc({}, { services: { svc: { stableVersion: 'beta', withdrawn: ['beta'] } } });
  assert.equal(dispatch(completed, 'stable', allUp).version, 'beta');
  assert.equal(dispatch(completed, 'beta', allUp).version, 'beta');
});

// A gRPC call (http2Only) sees only HTTP/2 endpoints: a version without one counts as absent.
const G1 = 'h2c://127.0.0.1:50051';
const G2 = 'h2c://127.0.0.1:50052';
const GB = 'h2://127.0.0.1:50151';

test('a gRPC call goes only to HTTP/2 endpoints of a version that has both kinds', () => {
  const s = svc({}, undefined, { stable: [S1, G1, S2, G2] });
  assert.deepEqual(
    Array.from({ length: 4 }, () => dispatch(s, 'stable', allUp, true).endpoint?.url),
    [G1, G2, G1, G2],
  );
  // Plain HTTP requests still use every endpoint.
  assert.deepEqual(urls(s, 'stable', allUp, 4), [S1, G1, S2, G2]);
});

test('a gRPC call for a lane whose version has no HTTP/2 endpoint falls back, as if the version were absent', () => {
  const s = svc({}, undefined, { stable: [G1], beta: [B1] });
  assert.deepEqual(dispatch(s, 'beta', allUp, true), {
    version: 'stable',
    endpoint: { url: G1, origin: G1, basePath: '', registered: false, http2: true },
    fellBack: true,
    reason: DISPATCH_REASON.noHttp2,
  });
  // The same lane over HTTP/1.1 keeps its version.
  assert.equal(dispatch(s, 'beta', allUp).version, 'beta');
});

test('a gRPC call with a version that has HTTP/2 endpoints is served by it', () => {
  const s = svc({}, undefined, { stable: [G1], beta: [GB] });
  const r = dispatch(s, 'beta', allUp, true);
  assert.equal(r.version, 'beta');
  assert.equal(r.endpoint?.url, GB);
  assert.equal(r.fellBack, false);
});

test('a gRPC call on a fail-closed lane without an HTTP/2 endpoint gets none (503), named as such', () => {
  const s = svc({ failClosed: ['beta'] }, undefined, { stable: [G1], beta: [B1] });
  const r = dispatch(s, 'beta', allUp, true);
  assert.equal(r.endpoint, null);
  assert.equal(r.reason, DISPATCH_REASON.failClosedNoHttp2);
});

test('a gRPC call when the fallback has no HTTP/2 endpoint gets no endpoint, not an HTTP/1.1 one', () => {
  const s = svc({}, undefined, { stable: [S1], beta: [B1] });
  for (const lane of ['stable', 'beta', 'alpha']) {
    const r = dispatch(s, lane, allUp, true);
    assert.equal(r.endpoint, null, lane);
    assert.equal(r.reason, DISPATCH_REASON.nothingHttp2, lane);
  }
});

test("a gRPC call whose version's HTTP/2 endpoints are all down falls back to the fallback's", () => {
  const s = svc({}, undefined, { stable: [G1], beta: [B1, GB] });
  const r = dispatch(s, 'beta', down(GB), true);
  assert.equal(r.version, 'stable');
  assert.equal(r.endpoint?.url, G1);
  assert.equal(r.reason, DISPATCH_REASON.allDown);
});

test('needsHttp2: application/grpc and its +format and parameters, in any case; not gRPC-Web or others', () => {
  for (const ct of ['application/grpc', 'application/grpc+proto', 'application/grpc+json', 'application/grpc;charset=utf-8', 'Application/GRPC']) {
    assert.equal(needsHttp2(ct), true, ct);
  }
  for (const ct of [undefined, '', 'application/json', 'application/grpc-web', 'application/grpc-web-text', 'application/grpcx', 'application\x0fgrpc', 'text/plain; application/grpc']) {
    assert.equal(needsHttp2(ct), false, String(ct));
  }
});

test("a retry's dispatch avoids the endpoint that failed and moves no cursor: the next request keeps its turn", () => {
  const s = svc();
  // First attempt S1 (cursor to S2), its retry S2 without taking S2's turn, the next request S2.
  assert.equal(dispatch(s, 'stable', allUp).endpoint?.url, S1);
  assert.equal(dispatch(s, 'stable', allUp, false, S1).endpoint?.url, S2);
  assert.equal(dispatch(s, 'stable', allUp, false, S1).endpoint?.url, S2, 'still S2: nothing moved');
  assert.deepEqual(urls(s, 'stable', allUp, 3), [S2, S1, S2]);
  // The failed endpoint only when nothing else qualifies: alone, or the others down.
  assert.equal(dispatch(s, 'beta', allUp, false, B1).endpoint?.url, B1);
  assert.equal(dispatch(s, 'stable', down(S2), false, S1).endpoint?.url, S1);
  // Falling back (beta down) the retry avoids the failed fallback endpoint too.
  assert.equal(dispatch(s, 'beta', down(B1), false, S2).endpoint?.url, S1);
});
