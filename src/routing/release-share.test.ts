import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from './compile.js';
import { explain } from './explain.js';
import { bucketOf, threshold } from './hash.js';
import { allUp, ctx, req, route, spec } from '../../test/support/routing.js';
import type { Status } from './types.js';

const theSpec = () =>
  spec({
    routes: [
      route({
        name: 'shop',
        salt: 'route-salt',
        rules: [
          { name: 'staff', lane: 'alpha', users: ['staff-1'] },
          { name: 'ten', lane: 'beta', percent: 10 },
        ],
        split: { stable: 1, alpha: 1 },
      }),
    ],
  });

const withShare = (percent: number): Status => ({ routes: { shop: { releases: [{ name: 'rel', lane: 'gray', salt: 'rel-salt', percent }] } } });
const laneOf = (status: Status, user: string) => compile(theSpec(), status).routes[0]!.mark(req({ 'x-user-id': user }), ctx()).lane;
const USERS = Array.from({ length: 2000 }, (_, i) => `u${i}`);

test("a release's share comes after the route's rules, uses the release's own salt, and comes before the split", () => {
  const status = withShare(30);
  for (const u of USERS) {
    const lane = laneOf(status, u);
    const byRule = bucketOf('route-salt', u) < threshold(10);
    const byRelease = bucketOf('rel-salt', u) < threshold(30);
    if (byRule) assert.equal(lane, 'beta', `${u}: the route's percent rule decides first`);
    else if (byRelease) assert.equal(lane, 'gray', `${u}: then the release's share, by its own salt`);
    else assert.ok(lane === 'stable' || lane === 'alpha', `${u}: then the split (${lane})`);
  }
  assert.equal(laneOf(status, 'staff-1'), 'alpha', 'a users rule decides before the release');
});

test('the share is sticky and monotonic: everyone in at 5% is still in at 50%; nothing changes without a running release', () => {
  const at = (p: number) => new Set(USERS.filter((u) => laneOf(withShare(p), u) === 'gray'));
  const five = at(5);
  const fifty = at(50);
  for (const u of five) assert.ok(fifty.has(u), `${u} left the lane when the share grew`);
  // the release population is by its own salt: about 5% / 50% of those the rule leaves
  const left = USERS.filter((u) => bucketOf('route-salt', u) >= threshold(10));
  assert.equal(five.size, left.filter((u) => bucketOf('rel-salt', u) < threshold(5)).length);
  assert.equal(fifty.size, left.filter((u) => bucketOf('rel-salt', u) < threshold(50)).length);
  assert.equal(at(0).size, 0);
  assert.deepEqual(at(5), five, 'the same users on every compile (every gateway)');
});

test('explain shows the release step with its bucket and threshold', () => {
  const user = USERS.find((u) => bucketOf('route-salt', u) >= threshold(10) && bucketOf('rel-salt', u) < threshold(30))!;
  const ex = explain(compile(theSpec(), withShare(30)), req({ 'x-user-id': user }), allUp, ctx());
  assert.equal(ex.lane, 'gray');
  assert.equal(ex.by, 'release rel');
  assert.match(ex.reason, /^release rel: 30% of users \(bucket < 3000, salt "rel-salt"\) -> lane gray$/);
  const step = ex.checks!.find((c) => c.step === 'release rel')!;
  assert.equal(step.matched, true);
  assert.deepEqual([step.checks[0]!.bucket, step.checks[0]!.threshold], [bucketOf('rel-salt', user), 3000]);
  assert.deepEqual(ex.checks!.map((c) => c.step), ['staff', 'ten', 'release rel']);
});
