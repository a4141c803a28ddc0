/**
 * The admin API's instance endpoints over a real graylane process: validation with reasons, the
 * token, heartbeats and deregistration of unknown ids, and a registration taking effect on the very
 * next request (registered and static endpoints merged).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { register, RegistrationError } from '@graylane/lanes';
import { call, startGraylane, TOKEN, type Graylane } from './helpers.js';
import { until } from '../support/wait.js';

let gl: Graylane;
let stable: http.Server;
let gray: http.Server;
let stableUrl: string;
let grayUrl: string;

/** An upstream answering with its name. */
async function named(name: string): Promise<[http.Server, string]> {
  const server = http.createServer((_req, res) => res.end(name));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
}

before(async () => {
  [stable, stableUrl] = await named('orders-stable');
  [gray, grayUrl] = await named('orders-gray');
  gl = await startGraylane(`
services:
  orders: { versions: { stable: [${stableUrl}] } }
routes:
  - match: { pathPrefix: / }
    service: orders
    trustLane: true     # the test picks the lane with x-gray-lane
`);
});

after(async () => {
  await gl.close();
  stable.close();
  gray.close();
});

const instances = '/api/v1/instances';
const post = (body: unknown, opts: { token?: string } = { token: TOKEN }) => call(`${gl.admin}${instances}`, { method: 'POST', body, token: opts.token });

test('bad registrations are refused with 400, a code and a reason; nothing is registered', async () => {
  const ok = { service: 'orders', version: 'gray', url: grayUrl };
  const cases: [unknown, string, RegExp][] = [
    [{ ...ok, service: 'payments' }, 'unknown_service', /unknown service "payments"/],
    [{ ...ok, url: '10.0.0.7:8080' }, 'bad_address', /absolute http\(s\) URL|http or https/],
    [{ ...ok, url: 'http://0.0.0.0:8080' }, 'bad_address', /not an address others can reach/],
    [{ ...ok, url: 'ftp://10.0.0.7/' }, 'bad_address', /http, https, h2c or h2/],
    [{ ...ok, url: 'http://10.0.0.7:8080/?q=1' }, 'bad_address', /query or fragment/],
    [{ ...ok, version: 'gray lane' }, 'bad_version', /version must be a lane name/],
    [{ ...ok, ttlMs: 10 }, 'bad_ttl', /ttlMs must be an integer/],
    [{ ...ok, service: 7 }, 'bad_request', /service must be a non-empty string/],
    [{ ...ok, labels: {} }, 'unknown_field', /unknown field labels/],
  ];
  for (const [body, code, reason] of cases) {
    const r = await post(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    const err = r.json<{ error: string; message: string }>();
    assert.equal(err.error, code, JSON.stringify(body));
    assert.match(err.message, reason);
  }
  assert.deepEqual((await call(`${gl.admin}${instances}`)).json(), { instances: [] });
});

test('every change needs the token: none or a wrong one is 401', async () => {
  const ok = { service: 'orders', version: 'gray', url: grayUrl };
  for (const token of [undefined, 'wrong']) {
    assert.equal((await post(ok, { token })).status, 401);
    assert.equal((await call(`${gl.admin}${instances}/x/heartbeat`, { method: 'PUT', token })).status, 401);
    assert.equal((await call(`${gl.admin}${instances}/x`, { method: 'DELETE', token })).status, 401);
  }
  assert.equal((await post(ok, {})).json<{ error: string }>().error, 'unauthorized');
  assert.deepEqual((await call(`${gl.admin}${instances}`)).json(), { instances: [] }, 'reads are open');
});

test('a registration serves its lane on the next request, next to the static endpoints; heartbeat and delete by id', async () => {
  const lane = (l: string) => call(`${gl.entry}/`, { headers: { 'x-gray-lane': l } });
  assert.equal((await lane('gray')).text, 'orders-stable', 'no gray version yet: fallback');

  const r = await post({ service: 'orders', version: 'gray', url: `${grayUrl}/`, ttlMs: 60_000 });
  assert.equal(r.status, 201);
  const inst = r.json<{ id: string; ttlMs: number; url: string; service: string; version: string }>();
  assert.equal(inst.ttlMs, 60_000);
  assert.deepEqual([inst.service, inst.version, inst.url], ['orders', 'gray', grayUrl], 'the URL normalized');
  assert.equal((await lane('gray')).text, 'orders-gray');
  assert.equal((await lane('stable')).text, 'orders-stable', 'the static endpoints stay');

  const listed = (await call(`${gl.admin}${instances}`)).json<{ instances: { id: string }[] }>().instances;
  assert.deepEqual(listed.map((i) => i.id), [inst.id]);
  assert.equal((await call(`${gl.admin}${instances}/${inst.id}/heartbeat`, { method: 'PUT', token: TOKEN })).status, 200);
  assert.equal((await call(`${gl.admin}${instances}/nope/heartbeat`, { method: 'PUT', token: TOKEN })).status, 404);

  assert.equal((await call(`${gl.admin}${instances}/${inst.id}`, { method: 'DELETE', token: TOKEN })).status, 204);
  assert.equal((await lane('gray')).text, 'orders-stable');
  const again = await call(`${gl.admin}${instances}/${inst.id}`, { method: 'DELETE', token: TOKEN });
  assert.equal(again.status, 404);
  assert.equal(again.json<{ error: string }>().error, 'unknown_instance');
  assert.equal((await call(`${gl.admin}${instances}/${inst.id}/heartbeat`, { method: 'PUT', token: TOKEN })).status, 404);
});

test('a registration for a version the config does not declare creates that lane for its service', async () => {
  const r = await post({ service: 'orders', version: 'feature-x', url: grayUrl });
  assert.equal(r.status, 201);
  assert.equal((await call(`${gl.entry}/`, { headers: { 'x-gray-lane': 'feature-x' } })).text, 'orders-gray');
  await call(`${gl.admin}${instances}/${r.json<{ id: string }>().id}`, { method: 'DELETE', token: TOKEN });
});

test('the SDK reads the admin API\'s refusals: code and reason in the error it reports', async () => {
  const errors: RegistrationError[] = [];
  const reg = register({
    admin: gl.admin,
    token: TOKEN,
    service: 'payments',
    version: 'gray',
    url: grayUrl,
    retryMinMs: 10,
    retryMaxMs: 20,
    onError: (e) => errors.push(e),
  });
  await until('a refusal', () => errors.length >= 1);
  await reg.deregister();
  assert.equal(errors[0]?.code, 'rejected');
  assert.equal(errors[0]?.status, 400);
  assert.match(errors[0]!.message, /unknown_service: unknown service "payments"/);
});
