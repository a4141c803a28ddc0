/**
 * `graylane import` as a user runs it: a child process over real files. Output to stdout and to a
 * file both pass `graylane validate`; a directory (multi-document YAML inside) and several files give
 * the union; `--check` prints what would be produced and writes nothing; malformed input names file,
 * document and key path, exits 1 and writes nothing. The output of every golden input passes
 * `graylane validate`, and a Kruise RegularExpression header match routes as it says through a
 * `graylane serve` child running the imported file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { parse } from 'yaml';
import { runCli, spawnServe, startUpstream, type ServeChild } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';

const fixtures = new URL('../../../test/fixtures/import/', import.meta.url).pathname;

test('stdout output is a config graylane validate accepts; -o writes the same text', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const input = join(fixtures, 'ingress-nginx/canary-by-header.yaml');
  const r = await runCli(['import', input]);
  assert.equal(r.code, 0, r.stderr);
  const doc = parse(r.stdout) as { services: Record<string, unknown>; routes: unknown[] };
  assert.ok(Object.keys(doc.services).length > 0 && doc.routes.length > 0, r.stdout);
  const out = dir.file('out.yaml');
  writeFileSync(out, r.stdout);
  const v = await runCli(['validate', out]);
  assert.equal(v.code, 0, v.stderr);

  const o = dir.file('o.yaml');
  const w = await runCli(['import', input, '-o', o]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(w.stdout, '', 'nothing on stdout with -o');
  assert.equal(readFileSync(o, 'utf8'), r.stdout);
});

test('a directory of files (one with several documents) and several file arguments give the union', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const inputs = dir.file('k8s');
  mkdirSync(inputs);
  // Two YAML files: the Kruise example (an Ingress and a Rollout, two documents) and a Traefik file.
  writeFileSync(join(inputs, 'kruise.yaml'), readFileSync(join(fixtures, 'kruise/canary-nginx.yaml'), 'utf8'));
  writeFileSync(join(inputs, 'traefik.yaml'), readFileSync(join(fixtures, 'traefik/wrr.yaml'), 'utf8'));
  writeFileSync(join(inputs, 'README.txt'), 'not a config: a directory contributes only .yaml, .yml, .toml and .json');
  const fromDir = await runCli(['import', inputs]);
  assert.equal(fromDir.code, 0, fromDir.stderr);
  const spec = parse(fromDir.stdout) as { services: Record<string, unknown>; routes: { service: string }[]; rollouts?: { name: string }[] };
  assert.deepEqual(Object.keys(spec.services).sort(), ['app', 'echoserver'], 'the Traefik and the Kruise Ingress services');
  assert.deepEqual(spec.routes.map((r) => r.service).sort(), ['app', 'echoserver']);
  assert.deepEqual(spec.rollouts?.map((r) => r.name), ['rollouts-demo']);

  const fromFiles = await runCli(['import', join(inputs, 'kruise.yaml'), join(inputs, 'traefik.yaml')]);
  assert.equal(fromFiles.code, 0, fromFiles.stderr);
  const strip = (s: string) => s.split('\n').filter((l) => !l.startsWith('#')).join('\n');
  assert.equal(strip(fromFiles.stdout), strip(fromDir.stdout), 'the same config from the directory and from the two files');
  const out = dir.file('union.yaml');
  writeFileSync(out, fromDir.stdout);
  const v = await runCli(['validate', out]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /\(\d+ services, \d+ routes, 1 rollout;/);
});

test('--check prints the services, routes and rollouts it would write, and the warnings; writes nothing', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const out = dir.file('never.yaml');
  const r = await runCli(['import', '--check', join(fixtures, 'kruise/canary-nginx.yaml'), join(fixtures, 'traefik/wrr.yaml'), '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(out), false, '--check wrote the output file');
  assert.match(r.stdout, /^services \(\d+\):\n {2}echoserver {2}\(fallback stable\)\n {4}stable: http:\/\/echoserver\.demo\.svc\.cluster\.local:80\n {4}canary: /);
  assert.match(r.stdout, /\n {2}echoserver: host echo\.example\.com, path \/apis\/echo -> echoserver\n/);
  assert.match(r.stdout, /\n {4}split: appv1 3, appv2 1\n/, 'the Traefik 3:1 WRR');
  assert.match(r.stdout, /\nrollouts \(1\):\n {2}rollouts-demo: canary of echoserver, stable -> canary\n {4}1\. setHeaderRoute user-agent = pc\n {4}2\. pause \(until promoted\)\n {4}3\. setWeight 20\n/);
  // Then the warnings, on stdout after the rollouts (and not repeated on stderr).
  const warnings = r.stdout.slice(r.stdout.indexOf('\nrollouts ('));
  assert.match(warnings, /\nwarnings \((\d+)\):\n(  .+\n)+$/);
  assert.match(warnings, /\n {2}.*canary-nginx\.yaml:\d+ \(document \d\): .*replicas are not imported/);
  const count = Number(/\nwarnings \((\d+)\)/.exec(r.stdout)![1]);
  assert.equal(r.stdout.trimEnd().split('\n').slice(-count).every((l) => l.startsWith('  ')), true);
  assert.doesNotMatch(r.stderr, /warning:/);
  assert.match(r.stderr, new RegExp(`check: would write \\d+ lines to ${out.replace(/[/.]/g, '\\$&')}; ${count} warning\\(s\\); nothing written`));
});

test('malformed input: file, document and key path on stderr, exit 1, nothing written', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const main = readFileSync(join(fixtures, 'ingress-nginx/canary-by-header.yaml'), 'utf8');
  const cases: { name: string; text: string; message: RegExp }[] = [
    { name: 'bad-yaml.yaml', text: 'apiVersion: v1\nkind: [unclosed\n', message: /bad-yaml\.yaml:\d+ \(document 1\)/ },
    {
      name: 'lonely-canary.yaml',
      text: `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web-canary
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "10"
spec:
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: { service: { name: web-v2, port: { number: 80 } } }
`,
      message: /lonely-canary\.yaml:\d+ \(document 1\): .*main Ingress/i,
    },
    {
      name: 'weight-abc.yaml',
      text: main.replace(/nginx\.ingress\.kubernetes\.io\/canary-by-header: .*/, 'nginx.ingress.kubernetes.io/canary-weight: "abc"'),
      message: /weight-abc\.yaml:\d+ \(document \d\): metadata\.annotations\["nginx\.ingress\.kubernetes\.io\/canary-weight"\]: .*"abc"/,
    },
    {
      name: 'host-with-port.yaml',
      text: main.replace(/host: (\S+)/, 'host: $1:8080'),
      message: /host-with-port\.yaml:\d+ \(document 1\): spec\.rules\[0\]\.host: must be a host name without port/,
    },
    {
      name: 'unknown-service.yaml',
      text: 'http:\n  routers:\n    r: { rule: "Host(`a.example.com`)", service: nowhere }\n  services:\n    there: { loadBalancer: { servers: [ { url: "http://10.0.0.1" } ] } }\n',
      message: /unknown-service\.yaml:3 \(document 1\): http\.routers\.r\.service: .*nowhere/,
    },
  ];
  for (const c of cases) {
    const file = dir.file(c.name);
    writeFileSync(file, c.text);
    const out = dir.file(`${c.name}.out`);
    const r = await runCli(['import', file, '-o', out]);
    assert.equal(r.code, 1, `${c.name}: ${r.stderr}`);
    assert.match(r.stderr, c.message, c.name);
    assert.equal(existsSync(out), false, `${c.name}: nothing written`);
    assert.equal(r.stdout, '', `${c.name}: nothing on stdout`);
  }
});

test('the output of every golden input, written by the CLI, passes graylane validate', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const outputs: string[] = [];
  for (const source of readdirSync(fixtures).sort()) {
    for (const name of readdirSync(join(fixtures, source)).sort()) {
      if (!/\.(ya?ml|toml|json)$/.test(name) || name.includes('.expected.')) continue;
      const out = dir.file(`${source}-${name}.out.yaml`);
      const r = await runCli(['import', join(fixtures, source, name), '-o', out]);
      assert.equal(r.code, 0, `${source}/${name}: ${r.stderr}`);
      outputs.push(out);
    }
  }
  assert.ok(outputs.length >= 9, `${outputs.length} golden inputs`);
  const v = await runCli(['validate', ...outputs]);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim().split('\n').filter((l) => l.startsWith('ok: ')).length, outputs.length, v.stdout);
});

test('a Kruise RegularExpression header match, imported by the CLI and run by graylane serve, routes as it says', async (t) => {
  const dir = await tempDir();
  const upstreams = await Promise.all(['spring-cloud-a', 'spring-cloud-a-canary', 'spring-cloud-b'].map((v) => startUpstream(v)));
  let serve: ServeChild | undefined;
  // One hook, in order: the server stops before its upstreams and its state directory go.
  t.after(async () => {
    if (serve) {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
    await Promise.all(upstreams.map((u) => u.close()));
    await dir.remove();
  });
  // The Kruise full-link example with its Exact header match turned into a regular expression.
  const original = readFileSync(join(fixtures, 'kruise/full-link.yaml'), 'utf8');
  const input = original.replace(
    '          - type: Exact\n            name: User-Agent\n            value: foo',
    '          - type: RegularExpression\n            name: User-Agent\n            value: "^(foo|bar)/[0-9]+"',
  );
  assert.notEqual(input, original, 'the fixture was rewritten');
  writeFileSync(dir.file('kruise.yaml'), input);
  const out = dir.file('graylane.yaml');
  const imported = await runCli(['import', dir.file('kruise.yaml'), '-o', out, ...upstreams.flatMap((u) => ['--endpoints', `${u.version}=${u.url}`])]);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(readFileSync(out, 'utf8'), /header: \{ name: user-agent, pattern: "\^\(foo\|bar\)\/\[0-9\]\+" \}/);

  serve = await spawnServe(['-c', out, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state', dir.file('state.db'), '--no-access-log'], dir.path);
  const gatewayUrl = serve.gatewayUrl;
  const versionFor = async (userAgent: string): Promise<string> => {
    const res = await request(`${gatewayUrl}/`, { headers: { host: 'mall.example.com', 'user-agent': userAgent } });
    await res.body.dump();
    assert.equal(res.statusCode, 200, `user-agent ${userAgent}`);
    return String(res.headers['x-version']);
  };
  assert.equal(await versionFor('foo/12'), 'spring-cloud-a-canary');
  assert.equal(await versionFor('bar/7 (X11)'), 'spring-cloud-a-canary');
  assert.equal(await versionFor('foo'), 'spring-cloud-a', 'no version number: no match');
  assert.equal(await versionFor('curl/8 foo/1'), 'spring-cloud-a', 'the expression is anchored with ^');
  assert.ok(upstreams[0]!.count === 2 && upstreams[1]!.count === 2, 'each request reached the upstream it was routed to');
});
