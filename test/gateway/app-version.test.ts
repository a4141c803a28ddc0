/**
 * App versions as apps send them (issue 23), through a real `graylane serve` child process and real
 * upstreams on 127.0.0.1: raw request bytes in, which upstream answered and what it received out,
 * one test per row of the issue's table; and the same requests explained by the admin API.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startUpstream, type Upstream } from './helpers.js';
import { raw, type RawResponse } from '../security/helpers.js';
import { spawnServe, type ServeChild } from '../rollout/helpers.js';

let stable: Upstream, beta: Upstream, alpha: Upstream;
let serve: ServeChild;
let port: number;
let dir: string;

before(async () => {
  [stable, beta, alpha] = await Promise.all([startUpstream('stable'), startUpstream('beta'), startUpstream('alpha')]);
  dir = await mkdtemp(join(tmpdir(), 'graylane-appver-'));
  const file = join(dir, 'graylane.yaml');
  await writeFile(
    file,
    [
      'listen: 127.0.0.1:0',
      'admin: { listen: 127.0.0.1:0 }',
      `state: { path: ${JSON.stringify(join(dir, 'state.db'))} }`,
      'services:',
      '  app:',
      '    versions:',
      `      stable: [${stable.url}]`,
      `      beta: [${beta.url}]`,
      `      alpha: [${alpha.url}]`,
      'routes:',
      '  - name: api',
      '    match: { pathPrefix: / }',
      '    service: app',
      '    rules:',
      '      # iOS app 2.3 or newer: the platform from one header, the version out of the User-Agent',
      '      - name: ios-new',
      '        lane: alpha',
      '        header: { name: x-platform, equals: ios }',
      '        appVersion: { header: user-agent, pattern: "MyApp/([0-9.]+)", range: ">=2.3" }',
      '      - { name: new-app, lane: beta, appVersion: { header: x-app-version, range: ">=2.3.0" } }',
      '      - { name: releases, lane: alpha, appVersion: { header: x-release, range: ">=2.3.0", prerelease: exclude } }',
      '      - { name: builds, lane: alpha, appVersion: { query: build, min: 2.4.0.1200, max: 2.4.0.1300 } }',
      '',
    ].join('\n'),
  );
  serve = await spawnServe(['-c', file], dir);
  port = Number(new URL(serve.gatewayUrl).port);
});

after(async () => {
  serve?.child.kill('SIGTERM');
  await serve?.exited;
  await Promise.all([stable, beta, alpha].map((u) => u?.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** One GET with these header lines, as raw bytes; the answer parsed from the socket. */
async function send(target: string, ...headerLines: string[]): Promise<RawResponse> {
  const r = await raw(port, `GET ${target} HTTP/1.1\r\nHost: app.example.com\r\n${headerLines.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`);
  assert.equal(r.responses.length, 1, r.text.slice(0, 300));
  return r.responses[0]!;
}

/** The version of the upstream that answered, checked against what that upstream itself received. */
async function versionFor(...headerLines: string[]): Promise<string> {
  return versionAt('/x', ...headerLines);
}

async function versionAt(target: string, ...headerLines: string[]): Promise<string> {
  const res = await send(target, ...headerLines);
  assert.equal(res.status, 200, res.body);
  const echo = JSON.parse(res.body) as { version: string; headers: Record<string, string> };
  // The lane the upstream was told is the version that answered (or none for stable traffic).
  if (echo.version !== 'stable') assert.equal(echo.headers['x-gray-lane'], echo.version);
  return echo.version;
}

test('row 1: 2.4.0 and v2.4.0 match >=2.3.0 (as before)', async () => {
  assert.equal(await versionFor('X-App-Version: 2.4.0'), 'beta');
  assert.equal(await versionFor('X-App-Version: v2.4.0'), 'beta');
  assert.equal(await versionFor('X-App-Version: 2.2.9'), 'stable');
});

test('row 2: 2.4 (two segments, as iOS sends it) is 2.4.0 and matches >=2.3.0', async () => {
  assert.equal(await versionFor('X-App-Version: 2.4'), 'beta');
  assert.equal(await versionFor('X-App-Version: 2.3'), 'beta', '2.3 = 2.3.0');
  assert.equal(await versionFor('X-App-Version: 2.2'), 'stable');
});

test('row 3: 2.4.0.1234 (Android versionName with a build number) matches, and min/max compare the fourth segment', async () => {
  assert.equal(await versionFor('X-App-Version: 2.4.0.1234'), 'beta');
  assert.equal(await versionFor('X-App-Version: 2.2.9.9999'), 'stable');
  assert.equal(await versionAt('/x?build=2.4.0.1234'), 'alpha');
  assert.equal(await versionAt('/x?build=2.4.0.1300'), 'alpha', 'max is inclusive');
  assert.equal(await versionAt('/x?build=2.4.0.1301'), 'stable');
  assert.equal(await versionAt('/x?build=2.4.0.1199'), 'stable');
});

test('row 4: 2.4.0-beta.1 is a 2.4 build by default; prerelease: exclude keeps semver rule', async () => {
  assert.equal(await versionFor('X-App-Version: 2.4.0-beta.1'), 'beta');
  assert.equal(await versionFor('X-Release: 2.4.0-beta.1'), 'stable', 'exclude: a tagged version needs a tagged bound');
  assert.equal(await versionFor('X-Release: 2.4.0'), 'alpha');
});

test('row 5: MyApp/2.4.0 (iPhone; iOS 17.2) in User-Agent, together with a platform header', async () => {
  const ua = 'User-Agent: MyApp/2.4.0 (iPhone; iOS 17.2; Scale/3.00)';
  assert.equal(await versionFor(ua, 'X-Platform: ios'), 'alpha');
  assert.equal(await versionFor(ua, 'X-Platform: android'), 'stable', 'both conditions must hold');
  assert.equal(await versionFor('User-Agent: MyApp/2.2.0 (iPhone; iOS 17.2)', 'X-Platform: ios'), 'stable');
  assert.equal(await versionFor('User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)', 'X-Platform: ios'), 'stable');
});

test('no version, no match: garbage, huge and duplicated values go to stable', async () => {
  for (const value of ['latest', '2.x', '2.4.0 (1234)', '', `2.${'9'.repeat(5000)}`, `${'2.'.repeat(2000)}4`]) {
    assert.equal(await versionFor(`X-App-Version: ${value}`), 'stable', value.slice(0, 40));
  }
  // Two headers arrive joined ("2.4.0, 2.4.0"): that is not one version.
  assert.equal(await versionFor('X-App-Version: 2.4.0', 'X-App-Version: 2.4.0'), 'stable');
  // Percent-encoded in a query value, decoded as any query value is.
  assert.equal(await versionAt('/x?build=2%2E4%2E0%2E1250'), 'alpha');
});

test('two requests on one keep-alive connection are decided each by its own version', async () => {
  const req = (v: string, close = false) =>
    `GET /x HTTP/1.1\r\nHost: app.example.com\r\nX-App-Version: ${v}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  const r = await raw(port, req('2.4') + req('2.2', true));
  assert.deepEqual(
    r.responses.map((x) => (JSON.parse(x.body) as { version: string }).version),
    ['beta', 'stable'],
  );
});

test('the admin API explains a version rule: value read, version parsed or why none, comparison', async () => {
  const explain = async (headers: Record<string, string>) => {
    const res = await request(`${serve.adminUrl}/api/v1/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'http://app.example.com/x', headers }),
    });
    assert.equal(res.statusCode, 200);
    return (await res.body.json()) as { lane: string; checks: { step: string; matched: boolean; checks: Record<string, unknown>[] }[] };
  };
  const yes = await explain({ 'x-app-version': '2.4' });
  assert.equal(yes.lane, 'beta');
  const newApp = yes.checks.find((c) => c.step === 'new-app')!;
  assert.deepEqual(newApp.checks, [{ condition: 'app version (header x-app-version) >=2.3.0', holds: true, value: '2.4', version: '2.4.0', detail: 'read "2.4": version 2.4.0 satisfies >=2.3.0' }]);

  const no = await explain({ 'x-app-version': '2.4.0 (1234)' });
  assert.equal(no.lane, 'stable');
  assert.deepEqual(no.checks.find((c) => c.step === 'new-app')!.checks[0], {
    condition: 'app version (header x-app-version) >=2.3.0',
    holds: false,
    value: '2.4.0 (1234)',
    problem: 'not a version: unexpected " " at character 6 (a version is numbers separated by dots, then -tag or +build)',
    detail: 'read "2.4.0 (1234)": not a version: unexpected " " at character 6 (a version is numbers separated by dots, then -tag or +build)',
  });
});
