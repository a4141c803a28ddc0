/**
 * `npm run example:grpc` as a user runs it: examples/grpc/run.mjs starts the greeter's two versions
 * (grpc-js), `graylane serve` on the example's config, and the client, which calls as a gray user and
 * as a stable user through graylane over h2c. It must exit 0 and print each call with the version
 * that answered: user 1001 to gray, user 2002 to stable, unary and server streaming.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const ROOT = new URL('../../../', import.meta.url).pathname;

test('npm run example:grpc: the gray user is answered by gray, the stable user by stable, exit 0', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/grpc/run.mjs'], { cwd: ROOT, timeout: 60_000 });
  const calls = stdout.split('\n').filter((l) => l.startsWith('user '));
  assert.equal(calls.length, 8, stdout);
  for (const line of calls) {
    const expected = line.startsWith('user 1001') ? 'gray' : 'stable';
    assert.match(line, new RegExp(`answered by ${expected}, lane ${expected === 'gray' ? 'gray' : 'stable'}\\)$`), line);
  }
});
