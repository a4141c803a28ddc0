/**
 * The dashboard's files on the admin listener: content types, cache headers and ETags, HEAD, no
 * way out of the build directory however the path is spelled, a clear answer without a build, and
 * the real build (dist/web, made by `npm run build`) served with everything index.html refers to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { dashboardRoutes } from '../../src/admin/dashboard.js';
import { startAdmin, type AdminServer } from '../../src/admin/server.js';
import { adminUrlOf, config, startTestApp, startUpstream } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw request: the path goes on the wire exactly as written (no URL normalisation). */
function get(server: AdminServer, path: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.address.port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function withBuild(t: import('node:test').TestContext) {
  const dir = await tempDir();
  const web = join(dir.path, 'web');
  await mkdir(join(web, 'assets'), { recursive: true });
  await writeFile(join(web, 'index.html'), '<!doctype html><title>graylane</title><script type="module" src="./assets/app-Ab12.js"></script>');
  await writeFile(join(web, 'assets', 'app-Ab12.js'), 'console.log("app")');
  await writeFile(join(web, 'assets', 'app-Cd34.css'), 'body{}');
  await writeFile(join(web, 'favicon.svg'), '<svg/>');
  // Beside the build, where no request may reach.
  await writeFile(join(dir.path, 'secret.txt'), 'TOP-SECRET');
  const server = await startAdmin({ host: '127.0.0.1', port: 0, token: undefined, routes: dashboardRoutes(web) });
  t.after(async () => {
    await server.close();
    await dir.remove();
  });
  return server;
}

test('files are served with their content type, cache policy and ETag', async (t) => {
  const server = await withBuild(t);
  const index = await get(server, '/');
  assert.equal(index.status, 200);
  assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(index.headers['cache-control'], 'no-cache');
  assert.match(String(index.headers['content-security-policy']), /default-src 'self'/);
  assert.equal(index.headers['x-frame-options'], 'DENY');
  assert.equal(index.headers['x-content-type-options'], 'nosniff');
  assert.match(index.body, /<title>graylane<\/title>/);
  assert.equal((await get(server, '/index.html')).body, index.body);

  const js = await get(server, '/assets/app-Ab12.js');
  assert.equal(js.status, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(js.body, 'console.log("app")');
  assert.equal((await get(server, '/assets/app-Cd34.css')).headers['content-type'], 'text/css; charset=utf-8');
  assert.equal((await get(server, '/favicon.svg')).headers['content-type'], 'image/svg+xml');

  // Revalidation: the same ETag gets 304 without a body; HEAD gets the headers only.
  const etag = String(index.headers.etag);
  const again = await get(server, '/', { 'if-none-match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.body, '');
  const head = await get(server, '/assets/app-Ab12.js', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String('console.log("app")'.length));
  assert.equal(head.body, '');
});

test('no path leads outside the build, however it is spelled', async (t) => {
  const server = await withBuild(t);
  const attempts = [
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/%2e%2e/secret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/..%5csecret.txt',
    '/assets//app-Ab12.js/../../../secret.txt',
    '/secret.txt',
    '/web/index.html',
    '/assets/',
    '/assets',
    '/assets/app-Ab12.js%00.html',
  ];
  for (const path of attempts) {
    const r = await get(server, path);
    assert.equal(r.status, 404, path);
    assert.doesNotMatch(r.body, /TOP-SECRET/, path);
    assert.match(String(r.headers['content-type']), /^application\/json/, path);
  }
  // Writes are not a thing for files.
  assert.equal((await get(server, '/assets/app-Ab12.js', {}, 'POST')).status, 405);
});

test('without a build, / says how to make one', async (t) => {
  const dir = await tempDir();
  const server = await startAdmin({ host: '127.0.0.1', port: 0, token: undefined, routes: dashboardRoutes(join(dir.path, 'missing')) });
  t.after(async () => {
    await server.close();
    await dir.remove();
  });
  const r = await get(server, '/');
  assert.equal(r.status, 503);
  assert.match(r.body, /not built .*npm run build/);
});

test('the real build is served by graylane, with every file index.html refers to', async (t) => {
  const dir = await tempDir();
  const up = await startUpstream('stable');
  const file = dir.file('graylane.yaml');
  await writeFile(file, config({ stable: up.url, beta: up.url, state: dir.file('state.db'), rest: '' }));
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await up.close();
    await dir.remove();
  });
  const admin = { address: app.admin.address } as AdminServer;
  const index = await get(admin, '/');
  assert.equal(index.status, 200, `GET ${adminUrlOf(app)}/: ${index.body}`);
  const refs = [...index.body.matchAll(/(?:src|href)="\.\/([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(refs.some((r) => r.endsWith('.js')) && refs.some((r) => r.endsWith('.css')), refs.join(', '));
  for (const ref of refs) {
    const r = await get(admin, `/${ref}`);
    assert.equal(r.status, 200, ref);
    const type = String(r.headers['content-type']);
    if (ref.endsWith('.js')) assert.equal(type, 'text/javascript; charset=utf-8');
    if (ref.endsWith('.css')) assert.equal(type, 'text/css; charset=utf-8');
    if (ref.startsWith('assets/')) assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
  }
});
