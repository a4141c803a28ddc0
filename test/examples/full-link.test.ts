/**
 * `npm run example:full-link` as a user runs it: examples/full-link/run.mjs starts `graylane serve`
 * on the example's config (its mesh listener speaks h2c), HTTP services a and b and gRPC service c,
 * and prints the path each request took. The gray users must reach a-gray and c-gray (over the
 * gRPC hop) and stable b, the stable user stable everywhere, and once c-gray is stopped the gray
 * user's gRPC call must fall back to c-stable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const ROOT = new URL('../../../', import.meta.url).pathname;

test('npm run example:full-link: gray stays gray across the HTTP hops and the gRPC hop, with fallback', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/full-link/run.mjs'], { cwd: ROOT, timeout: 60_000 });
  const paths = stdout.split('\n').filter((l) => / user /.test(l));
  assert.deepEqual(paths, [
    'gray user 1001: a-gray -> b-stable -gRPC-> c-gray',
    'stable user 42: a-stable -> b-stable -gRPC-> c-stable',
    'gray user 1002: a-gray -> b-stable -gRPC-> c-gray',
    // c-gray stopped: the gray user's gRPC call falls back to c-stable
    'gray user 1001: a-gray -> b-stable -gRPC-> c-stable',
    'stable user 42: a-stable -> b-stable -gRPC-> c-stable',
  ], stdout);
});
