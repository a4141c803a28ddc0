/**
 * `graylane export nginx` on a config using every routing feature the exporter writes (exact,
 * wildcard and host-less routes, an exact path, a shadowed route, two services, lane aliases,
 * exposeLane, header/cookie/query identities, cached and uncached routes), checked by Debian's
 * `nginx -t` unedited, wrapped as ../shared/bench wraps its configs (own -p prefix, never the
 * system config). And the CLI's errors: the key named, nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { runCli } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { LUA_MODULES } from './nginx-helpers.js';

const CONFIG = `laneHeader: x-gray-lane
laneAliases: [x-env-lane]
exposeLane: true
decide: { listen: 0.0.0.0:8082, proxy: nginx, report: { syslog: 127.0.0.1:5140 } }
services:
  web:
    versions:
      stable: [http://127.0.0.1:9001, http://127.0.0.1:9002]
      beta: [http://127.0.0.1:9101]
      alpha: []
  api:
    fallback: v1
    versions:
      v1: [http://localhost:9301]
      v2: [http://localhost:9302]
routes:
  - name: login
    match: { host: shop.example.com, path: /login }
    service: web
    lane: beta
  - name: "shop's{main}"
    match: { host: Shop.Example.com, pathPrefix: / }
    service: web
    identity: [header:x-user-id, cookie:uid, query:uid]
    rules:
      - { lane: alpha, users: ["1"] }
      - { lane: beta, percent: 12.5 }
    mirror: { lane: alpha, percent: 1 }
  - name: shadowed
    match: { host: shop.example.com, pathPrefix: /later }
    service: web
  - name: api
    match: { host: "*.example.com", pathPrefix: /api/ }
    service: api
    identity: [header:x-user-id]
    stickySplit: true
    split: { v1: 9, v2: 1 }
  - name: anywhere
    match: { pathPrefix: /static/ }
    service: web
    rules: [{ lane: beta, header: { name: x-canary, equals: always } }]
`;

test('nginx -t accepts the export of a config using every feature the exporter writes', async () => {
  const dir = await tempDir();
  try {
    writeFileSync(dir.file('graylane.yaml'), CONFIG);
    const out = dir.file('graylane.conf');
    const r = await runCli(['export', 'nginx', '-c', dir.file('graylane.yaml'), '--listen', '127.0.0.1:18080', '--cache-dir', dir.file('cache'), '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*: routes\[1\]\.mirror: nginx does not mirror by lane/);
    assert.match(r.stderr, /warning: .*: services\.web\.versions\.alpha: no static endpoints/);
    const text = readFileSync(out, 'utf8');
    assert.match(text, /server 127\.0\.0\.1:8082;/, 'decide.listen on 0.0.0.0 is reached on loopback');
    assert.match(text, /proxy_set_header x-env-lane \$graylane_lane;/);
    assert.match(text, /set \$gl_route "shop's{main}";/);
    assert.doesNotMatch(text, /routes\[2\] shadowed/, 'a route an earlier one shadows has no location');
    assert.match(text, /# not cached: the route pins lane beta/);
    assert.match(text, /# not cached: rule rules\[0\] reads the header x-canary/);
    assert.match(text, /proxy_cache_key "3 \$gl_key_3";/, 'a sticky split is cached');
    const main = dir.file('nginx.conf');
    writeFileSync(
      main,
      `pid ${dir.path}/nginx.pid;\nerror_log ${dir.path}/error.log warn;\nevents { worker_connections 64; }\n` +
        `http {\n  client_body_temp_path ${dir.path}/b; proxy_temp_path ${dir.path}/p; fastcgi_temp_path ${dir.path}/f; uwsgi_temp_path ${dir.path}/u; scgi_temp_path ${dir.path}/s;\n  include ${out};\n}\n`,
    );
    const check = spawnSync('nginx', ['-t', '-p', `${dir.path}/`, '-c', main, '-e', dir.file('error.log')], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(check.status, 0, `${check.stderr}\n${text}`);
    assert.match(check.stderr, /test is successful/);
  } finally {
    await dir.remove();
  }
});

test('nginx -t accepts the --lua export of the same config, with Debian\'s Lua module loaded and the token file read at load', async () => {
  const dir = await tempDir();
  try {
    writeFileSync(dir.file('graylane.yaml'), CONFIG.replace('report: { syslog: 127.0.0.1:5140 }', 'report: { http: 127.0.0.1:8083 }'));
    writeFileSync(dir.file('token'), 'a-report-token\n');
    const out = dir.file('graylane.conf');
    const r = await runCli(['export', 'nginx', '-c', dir.file('graylane.yaml'), '--lua', '--report-token-file', dir.file('token'), '--listen', '127.0.0.1:18080', '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(out, 'utf8');
    assert.match(text, /access_by_lua_block \{ graylane\.decide\(3\) \}/);
    const main = dir.file('nginx.conf');
    const conf = (include: string) =>
      `${LUA_MODULES.join('\n')}\npid ${dir.path}/nginx.pid;\nerror_log ${dir.path}/error.log warn;\nevents { worker_connections 64; }\n` +
      `http {\n  client_body_temp_path ${dir.path}/b; proxy_temp_path ${dir.path}/p; fastcgi_temp_path ${dir.path}/f; uwsgi_temp_path ${dir.path}/u; scgi_temp_path ${dir.path}/s;\n  include ${include};\n}\n`;
    writeFileSync(main, conf(out));
    const nginxT = () => spawnSync('nginx', ['-t', '-p', `${dir.path}/`, '-c', main, '-e', dir.file('error.log')], { encoding: 'utf8', timeout: 15_000 });
    const check = nginxT();
    assert.equal(check.status, 0, `${check.stderr}\n${text}`);
    assert.match(check.stderr, /test is successful/);
    // The token file is read when nginx starts (init_by_lua; nginx -t does not run it): a missing
    // one stops nginx before it listens, saying which.
    writeFileSync(out, text.replace(dir.file('token'), dir.file('no-such-token')));
    const start = spawnSync('nginx', ['-p', `${dir.path}/`, '-c', main, '-e', dir.file('error.log'), '-g', 'daemon off;'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(start.status, 1, start.stderr);
    assert.match(start.stderr, /graylane: cannot read the report token file: .*no-such-token: No such file or directory/);
    // A directory opens (io.open) but does not read: said as such, not as an empty token.
    mkdirSync(dir.file('token-dir'));
    writeFileSync(out, text.replace(dir.file('token'), dir.file('token-dir')));
    const fromDir = spawnSync('nginx', ['-p', `${dir.path}/`, '-c', main, '-e', dir.file('error.log'), '-g', 'daemon off;'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(fromDir.status, 1, fromDir.stderr);
    assert.match(fromDir.stderr, /graylane: cannot read the report token file .*token-dir: Is a directory/);
  } finally {
    await dir.remove();
  }
});

test('--report-token-file: a FIFO or a directory is refused by name, nothing written; a relative path is written absolute', async () => {
  const dir = await tempDir();
  try {
    writeFileSync(dir.file('graylane.yaml'), CONFIG.replace('report: { syslog: 127.0.0.1:5140 }', 'report: { http: 127.0.0.1:8083 }'));
    const fifo = dir.file('token-fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    mkdirSync(dir.file('token-dir'));
    const out = dir.file('graylane.conf');
    const exportWith = (token: string) => runCli(['export', 'nginx', '-c', dir.file('graylane.yaml'), '--lua', '--report-token-file', token, '-o', out]);
    for (const [token, kind] of [[fifo, 'a FIFO \\(named pipe\\)'], [dir.file('token-dir'), 'a directory']] as const) {
      const r = await exportWith(token);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`--report-token-file ${token}: is ${kind}, not a regular file`));
      assert.match(r.stderr, /nothing was written/);
      assert.equal(existsSync(out), false);
    }
    writeFileSync(dir.file('token'), 'a-report-token\n');
    // The CLI runs in this process's working directory.
    const r = await exportWith(relative(process.cwd(), dir.file('token')));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(out, 'utf8').includes(`local path = "${dir.file('token')}"`), 'the token path as nginx opens it: absolute');
  } finally {
    await dir.remove();
  }
});

test('what nginx cannot express: exit 1, the keys named, nothing written', async () => {
  const dir = await tempDir();
  try {
    writeFileSync(dir.file('graylane.yaml'), CONFIG.replace('[http://localhost:9302]', '[http://localhost:9302/v2]').replace('proxy: nginx', 'proxy: envoy'));
    const out = dir.file('graylane.conf');
    const r = await runCli(['export', 'nginx', '-c', dir.file('graylane.yaml'), '-o', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nginx cannot express:\n {2}decide\.proxy: is envoy[^\n]*\n {2}services\.api\.versions\.v2\.endpoints\[0\]: a path \(\/v2\) on an endpoint/);
    assert.match(r.stderr, /nothing was written/);
    assert.equal(existsSync(out), false);
  } finally {
    await dir.remove();
  }
});
