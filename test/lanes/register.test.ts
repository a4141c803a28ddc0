/**
 * register() against a small real admin API implementing the three instance endpoints over the real
 * instance registry: registration, heartbeats, re-registration after a 404, deregistration, retries
 * while the admin API is away, refusals, and deregistration on SIGTERM in a child process.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { installLanePropagation, register, RegistrationError, runWithLane, type Registration } from '@graylane/lanes';
import { InstanceRegistry, RegistryError } from '../../src/registry/index.js';
import { listen, type Listening } from './helpers.js';
import { sleep, until } from '../support/wait.js';

const TOKEN = 's3cret';
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

interface Call {
  method: string;
  path: string;
  status: number;
}

/** The admin API's instance endpoints over an InstanceRegistry; records every call. */
function adminServer(): { server: http.Server; registry: InstanceRegistry; calls: Call[] } {
  const registry = new InstanceRegistry({ services: ['orders'], minTtlMs: 1_000 });
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const send = (status: number, json?: unknown) => {
        calls.push({ method: req.method ?? '', path: req.url ?? '', status });
        res.writeHead(status, json === undefined ? {} : { 'content-type': 'application/json' });
        res.end(json === undefined ? undefined : JSON.stringify(json));
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        return send(401, { error: 'unauthorized', message: 'a valid admin token is required' });
      }
      const now = Date.now();
      const m = /^\/api\/v1\/instances(?:\/([^/]+)(\/heartbeat)?)?$/.exec(req.url ?? '');
      if (m === null) return send(404);
      const [, id, heartbeat] = m;
      if (req.method === 'POST' && id === undefined) {
        try {
          const inst = registry.register(JSON.parse(body), now);
          return send(201, { id: inst.id, ttlMs: inst.ttlMs });
        } catch (err) {
          if (err instanceof RegistryError) return send(400, { error: err.code, message: err.message });
          throw err;
        }
      }
      if (req.method === 'PUT' && id !== undefined && heartbeat) return send(registry.heartbeat(id, now) ? 200 : 404, {});
      if (req.method === 'DELETE' && id !== undefined && !heartbeat) return send(registry.deregister(id) ? 204 : 404);
      return send(405);
    });
  });
  return { server, registry, calls };
}

async function startAdmin(): Promise<Listening & ReturnType<typeof adminServer>> {
  const a = adminServer();
  const l = await listen(a.server);
  cleanup.push(l.close);
  return Object.assign(l, a);
}

function track(reg: Registration): Registration {
  cleanup.push(() => reg.deregister());
  return reg;
}

const heartbeatsOf = (calls: Call[], id: string) =>
  calls.filter((c) => c.method === 'PUT' && c.path === `/api/v1/instances/${id}/heartbeat` && c.status === 200).length;

test('registers, heartbeats, and deregisters on deregister()', async () => {
  const admin = await startAdmin();
  const reg = track(
    register({ admin: `${admin.url}/`, token: TOKEN, service: 'orders', version: 'beta', url: 'http://10.0.0.7:8080', ttlMs: 1_000, heartbeatMs: 20 }),
  );
  const id = await reg.ready;
  assert.equal(reg.id, id);
  assert.deepEqual(admin.registry.toRegistered(), { orders: { beta: ['http://10.0.0.7:8080'] } });
  assert.equal(admin.registry.get(id)?.ttlMs, 1_000);

  await until('three heartbeats', () => heartbeatsOf(admin.calls, id) >= 3);

  await reg.deregister();
  assert.equal(reg.id, undefined);
  assert.deepEqual(admin.calls.at(-1), { method: 'DELETE', path: `/api/v1/instances/${id}`, status: 204 });
  assert.equal(admin.registry.size, 0);
  // Nothing more after deregistration, however long we look (here: ten heartbeat periods).
  const count = admin.calls.length;
  await sleep(200);
  assert.equal(admin.calls.length, count);
  await reg.deregister();
  assert.equal(admin.calls.length, count, 'deregister() is idempotent');
});

test('a heartbeat answered 404 (registration lost) registers again', async () => {
  const admin = await startAdmin();
  const reg = track(register({ admin: admin.url, token: TOKEN, service: 'orders', version: 'beta', url: 'http://10.0.0.8:8080', heartbeatMs: 20 }));
  const first = await reg.ready;
  // The admin API forgets it, as after a restart or a missed TTL.
  admin.registry.deregister(first);
  await until('a new registration', () => reg.id !== undefined && reg.id !== first);
  const second = reg.id!;
  assert.ok(admin.calls.some((c) => c.method === 'PUT' && c.path.includes(first) && c.status === 404));
  assert.equal(admin.calls.filter((c) => c.method === 'POST' && c.status === 201).length, 2);
  assert.deepEqual(admin.registry.list().map((i) => i.id), [second]);
  await until('a heartbeat of the new registration', () => heartbeatsOf(admin.calls, second) >= 1);
  await reg.deregister();
  assert.equal(admin.registry.size, 0);
});

test('retries with backoff while the admin API is away, then registers', async () => {
  // A port with nothing listening (yet).
  const probe = await listen(http.createServer());
  const port = Number(new URL(probe.url).port);
  await probe.close();

  const errors: RegistrationError[] = [];
  const reg = track(
    register({
      admin: `http://127.0.0.1:${port}`,
      token: TOKEN,
      service: 'orders',
      version: 'beta',
      url: 'http://10.0.0.9:8080',
      retryMinMs: 10,
      retryMaxMs: 40,
      onError: (e) => errors.push(e),
    }),
  );
  await until('three failed attempts', () => errors.length >= 3);
  assert.ok(errors.every((e) => e instanceof RegistrationError && e.code === 'unreachable'));
  assert.equal(reg.id, undefined);

  const a = adminServer();
  await new Promise<void>((resolve) => a.server.listen(port, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => a.server.close(() => resolve())));
  const id = await reg.ready;
  assert.deepEqual(a.registry.list().map((i) => i.id), [id]);
  await reg.deregister();
  a.server.closeAllConnections();
});

test('refusals are reported with the admin API\'s reason; ready rejects if deregistered first', async () => {
  const admin = await startAdmin();
  const errors: RegistrationError[] = [];
  const common = { admin: admin.url, version: 'beta', url: 'http://10.0.0.7:8080', retryMinMs: 10, retryMaxMs: 20, onError: (e: RegistrationError) => errors.push(e) };

  const badToken = register({ ...common, token: 'wrong', service: 'orders' });
  await until('a refusal', () => errors.length >= 1);
  await badToken.deregister();
  await assert.rejects(badToken.ready, (err: unknown) => err instanceof RegistrationError && err.code === 'deregistered');
  assert.equal(errors[0]?.code, 'rejected');
  assert.equal(errors[0]?.status, 401);
  assert.match(errors[0]!.message, /a valid admin token is required/);

  errors.length = 0;
  const unknown = register({ ...common, token: TOKEN, service: 'nope' });
  await until('a refusal', () => errors.length >= 1);
  await unknown.deregister();
  assert.equal(errors[0]?.status, 400);
  assert.match(errors[0]!.message, /unknown service "nope"/);
  assert.equal(admin.registry.size, 0);
});

test('deregisterOnSignals: SIGTERM deregisters, then the process ends by SIGTERM', async () => {
  const admin = await startAdmin();
  const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/register-child.js', import.meta.url)), admin.url, TOKEN], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanup.push(() => void child.kill('SIGKILL'));
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => (exited = { code, signal }));
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (out += d));
  await until('the child to register', () => out.includes('\n'));
  const id = /^ready (\S+)/.exec(out)?.[1];
  assert.ok(id !== undefined && admin.registry.get(id) !== undefined);

  child.kill('SIGTERM');
  await until('the child to exit', () => exited !== undefined);
  assert.deepEqual(exited, { code: null, signal: 'SIGTERM' });
  assert.ok(admin.calls.some((c) => c.method === 'DELETE' && c.path === `/api/v1/instances/${id}` && c.status === 204));
  assert.equal(admin.registry.size, 0);
});

test('registration requests never carry a request lane', async () => {
  const admin = await startAdmin();
  const seen: (string | undefined)[] = [];
  admin.server.prependListener('request', (req: http.IncomingMessage) => seen.push(req.headers['x-gray-lane'] as string | undefined));
  const propagation = installLanePropagation();
  cleanup.push(() => propagation.uninstall());
  const reg = track(
    runWithLane('beta', () =>
      register({ admin: admin.url, token: TOKEN, service: 'orders', version: 'beta', url: 'http://10.0.0.7:8080', heartbeatMs: 20 }),
    ),
  );
  const id = await reg.ready;
  await until('a heartbeat', () => heartbeatsOf(admin.calls, id) >= 1);
  await reg.deregister();
  assert.ok(seen.length >= 3);
  assert.deepEqual(seen.filter((l) => l !== undefined), []);
});
