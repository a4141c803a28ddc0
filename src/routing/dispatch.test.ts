import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from './compile.js';
import { dispatch, DISPATCH_REASON } from './dispatch.js';
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
    endpoint: { url: B1, origin: B1, basePath: '', registered: false },
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
