/**
 * `npm run example:grpc` as a user runs it: examples/grpc/run.mjs starts the greeter's two versions
 * (grpc-js), `graylane serve` on the example's config, and the client, which calls as a gray user and
 * as a stable user through graylane over TLS and HTTP/2 (a CA made by run.mjs with openssl, trusted
 * by the client). It must exit 0 and print each call with the version that answered: user 1001 to
 * gray, user 2002 to stable, unary and server streaming.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const ROOT = new URL('../../../', import.meta.url).pathname;

test('npm run example:grpc: the gray user is answered by gray, the stable user by stable, exit 0', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/grpc/run.mjs'], { cwd: ROOT, timeout: 60_000 });
  assert.match(stdout, /client\.mjs 127\.0\.0\.1:18281 \S+ca\.crt .*over TLS \+ HTTP\/2/, 'the client is given the CA');
  const calls = stdout.split('\n').filter((l) => l.startsWith('user '));
  assert.equal(calls.length, 8, stdout);
  for (const line of calls) {
    const expected = line.startsWith('user 1001') ? 'gray' : 'stable';
    assert.match(line, new RegExp(`answered by ${expected}, lane ${expected === 'gray' ? 'gray' : 'stable'}\\)$`), line);
  }
});

test('the example listens with TLS and HTTP/2 (ALPN), not h2c', () => {
  const config = parse(readFileSync(`${ROOT}examples/grpc/graylane.yaml`, 'utf8')) as { listen: Array<{ tls?: unknown; http2?: boolean; h2c?: boolean }> };
  assert.equal(config.listen.length, 1);
  assert.ok(config.listen[0]!.tls, 'tls');
  assert.equal(config.listen[0]!.http2, true);
  assert.equal(config.listen[0]!.h2c, undefined);
});
