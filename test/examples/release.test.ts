/**
 * `npm run example:release` as a user runs it: examples/release/run.mjs starts `graylane serve` on
 * the example's config (ports from the OS), six instances of frontend, cart and payment (stable and
 * gray, the lanes SDK), and walks the release `checkout-demo` with the real CLI: 20%, promote to
 * 50%, promote past the last step, undo. It must exit 0, and at every step each user must walk one
 * whole chain: gray exactly when the user's release bucket (the release's salt) is below the step's
 * share, every user on the gray versions once promoted, every user back on stable after undo.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { bucketOf, threshold } from '../../src/routing/hash.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const GRAY = 'frontend-gray -> cart-gray -> payment-gray';
const STABLE = 'frontend-stable -> cart-stable -> payment-stable';

/** The user lines printed under the section whose title starts with `title`. */
function section(stdout: string, title: string): Map<string, string> {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith(title));
  assert.ok(at >= 0, `no section "${title}" in:\n${stdout}`);
  const paths = new Map<string, string>();
  for (const line of lines.slice(at + 1)) {
    const m = /^ {2}(\w+) +lane \w+ +(.+)$/.exec(line);
    if (m === null) break;
    paths.set(m[1]!, m[2]!);
  }
  return paths;
}

const expected = (percent: number) => new Map(USERS.map((u) => [u, bucketOf('checkout-demo', u) < threshold(percent) ? GRAY : STABLE]));

test('npm run example:release: 20% -> 50% -> promoted -> undone, each user on the chain the release says, exit 0', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['examples/release/run.mjs'], { cwd: ROOT, timeout: 90_000 });
  assert.deepEqual(section(stdout, 'step 1: setWeight 20'), expected(20));
  assert.deepEqual(section(stdout, 'step 3: setWeight 50'), expected(50));
  // The example's users are chosen so that each step shows someone on each side.
  assert.ok([...expected(20).values()].includes(GRAY) && [...expected(50).values()].includes(STABLE));
  assert.deepEqual(section(stdout, 'promoted:'), new Map(USERS.map((u) => [u, GRAY])));
  assert.deepEqual(section(stdout, 'undone:'), new Map(USERS.map((u) => [u, STABLE])));
  assert.match(stdout, /\$ graylane release get checkout-demo\n {2}Release: +checkout-demo\n/);
  assert.match(stdout, /Share: +20% of users at route shop in lane gray/);
  assert.match(stdout, /\$ graylane release promote checkout-demo\n {2}checkout-demo: Healthy \(Completed\)/);
  assert.match(stdout, /\$ graylane release undo checkout-demo\n {2}checkout-demo: Degraded \(Undone\)/);
  assert.match(stdout, /\nrelease example: done\n$/);
});
