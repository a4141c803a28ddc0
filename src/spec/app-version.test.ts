import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import semver from 'semver';
import { describeProblem, MAX_VERSION_CHARS, PARSED, parseVersion, RangeProblem, VersionBuffer, VersionRange, type PrereleaseMode } from './app-version.js';

/** The version as the range compares it, or `no: <why>`. */
function read(text: string, mode: PrereleaseMode = 'include'): string {
  const b = new VersionBuffer();
  const code = b.parse(text);
  return code === PARSED ? b.normalized(mode) : `no: ${describeProblem(code, b)}`;
}

function satisfies(text: string, m: { range?: string; min?: string; max?: string; prerelease?: PrereleaseMode }): boolean {
  const b = new VersionBuffer();
  return b.parse(text) === PARSED && VersionRange.compile(m).test(b);
}

test('real-world version strings: what each parses to', () => {
  const table: [string, string][] = [
    // iOS: CFBundleShortVersionString has two or three segments
    ['2.4', '2.4.0'],
    ['2.4.1', '2.4.1'],
    ['17', '17.0.0'],
    // Android versionName, often with the build number as a fourth segment
    ['2.4.0.1234', '2.4.0.1234'],
    ['2.4.0-beta01', '2.4.0'],
    ['1.02', '1.2.0'],
    // desktop (Windows file versions, Electron, Chrome-like)
    ['10.0.19045.3693', '10.0.19045.3693'],
    ['120.0.6099.109', '120.0.6099.109'],
    ['2.4.0+20261205', '2.4.0'],
    // a leading v
    ['v2.4.0', '2.4.0'],
    ['V3', '3.0.0'],
    // betas and release candidates
    ['2.4.0-beta.1', '2.4.0'],
    ['2.4.0-rc.2+build.77', '2.4.0'],
    ['3.0.0-SNAPSHOT', '3.0.0'],
    // big numbers stay exact: 15 digits per segment
    ['999999999999999.1', '999999999999999.1.0'],
    ['1.2.3.4.5.6.7.8', '1.2.3.4.5.6.7.8'],
  ];
  for (const [text, expected] of table) assert.equal(read(text), expected, text);
  assert.equal(read('2.4.0-beta.1', 'exclude'), '2.4.0-beta.1');
});

test('garbage is no version, and says why', () => {
  const table: [string, RegExp][] = [
    ['', /^no: empty$/],
    ['latest', /^no: expected a number at character 1$/],
    ['v', /^no: expected a number at character 2$/],
    ['vv2', /^no: expected a number at character 2$/],
    ['2.x', /^no: expected a number at character 3$/],
    ['2..4', /^no: expected a number at character 3$/],
    ['2.4.', /^no: expected a number at character 5$/],
    ['.2', /^no: expected a number at character 1$/],
    [' 2.4', /^no: expected a number at character 1$/],
    ['2.4 ', /^no: unexpected " " at character 4/],
    ['2.4.0 (1234)', /^no: unexpected " " at character 6/],
    ['2_4_0', /^no: unexpected "_" at character 2/],
    ['-2.4', /^no: expected a number at character 1$/],
    ['2.4.0-', /^no: malformed -tag or \+build at character 6/],
    ['2.4.0-beta..1', /^no: malformed -tag/],
    ['2.4.0-beta_1', /^no: malformed -tag/],
    ['2.4.0+', /^no: malformed -tag/],
    ['2.4.0-beta+', /^no: malformed -tag/],
    ['2.4.0-<script>', /^no: malformed -tag/],
    ['1.2.3.4.5.6.7.8.9', /^no: more than 8 numeric segments$/],
    ['1234567890123456.0', /^no: a segment longer than 15 digits at character 1$/],
    ['0000000000000001', /^no: a segment longer than 15 digits/],
    ['9'.repeat(400), /^no: longer than 64 characters$/],
    [`1.${'0.'.repeat(40)}1`, /^no: longer than 64 characters$/],
    ['２.４', /^no: expected a number at character 1$/], // full-width digits are not digits
    ['2.4\u0000', /^no: unexpected "\\u0000"/],
  ];
  for (const [text, expected] of table) assert.match(read(text), expected, JSON.stringify(text));
});

test('the length bound: 64 characters parse, 65 do not', () => {
  const at64 = `1.${'0'.repeat(MAX_VERSION_CHARS - 4)}.1`.slice(0, MAX_VERSION_CHARS);
  assert.equal(at64.length, 64);
  assert.match(read(at64), /segment longer than 15/, 'parsed up to its segment rule, not cut by length');
  const ok64 = `1.2.3-${'a'.repeat(MAX_VERSION_CHARS - 6)}`;
  assert.equal(read(ok64), '1.2.3');
  assert.match(read(`${ok64}a`), /longer than 64/);
});

test('ranges on normalised versions: the issue table and its neighbours', () => {
  const ge = { range: '>=2.3.0' };
  for (const v of ['2.4.0', 'v2.4.0', '2.4', '2.4.0.1234', '2.4.0-beta.1', '2.3', '2.3.0.0']) assert.ok(satisfies(v, ge), v);
  for (const v of ['2.2', '2.2.9.9999', '2.2.0', 'garbage']) assert.ok(!satisfies(v, ge), v);
  // semver's range syntax keeps working
  const cases: [string, string, boolean][] = [
    ['>=2.3.0 <3', '2.9.9.9', true],
    ['>=2.3.0 <3', '3', false],
    ['>=2.3.0 <3', '3.0.0-beta.1', false],
    ['^2.3', '2.3', true],
    ['^2.3', '2.2.99', false],
    ['^2.3', '3.0', false],
    ['~2.3', '2.3.9.1', true],
    ['~2.3', '2.4', false],
    ['1.x || >=2.5', '1.7', true],
    ['1.x || >=2.5', '2.4.9', false],
    ['1.x || >=2.5', '2.5', true],
    ['2.4', '2.4.7.1', true],
    ['2.4', '2.5', false],
    ['1.2.3 - 2.3', '2.3.9', true],
    ['1.2.3 - 2.3', '2.4', false],
    ['>2.4.0', '2.4.0.1', true],
    ['>2.4.0', '2.4', false],
    ['<=2.4.0', '2.4.0.1', false],
    ['=2.4.0', '2.4', true],
    ['2.4.0', 'v2.4.0.0', true],
    ['*', '0.0.1', true],
    ['>=2.3.0-0', '2.3.0-beta', true],
  ];
  for (const [range, v, expected] of cases) assert.equal(satisfies(v, { range }), expected, `${v} in ${range}`);
});

test('min / max are inclusive, any number of segments, and AND with a range', () => {
  assert.ok(satisfies('2.3', { min: '2.3' }));
  assert.ok(satisfies('2.3.0.1', { min: '2.3' }));
  assert.ok(!satisfies('2.2.9', { min: '2.3' }));
  assert.ok(satisfies('2.9', { max: '2.9' }));
  assert.ok(!satisfies('2.9.0.1', { max: '2.9' }));
  assert.ok(satisfies('2.4.0.1300', { min: '2.4.0.1200', max: '2.4.0.1300' }));
  assert.ok(!satisfies('2.4.0.1301', { min: '2.4.0.1200', max: '2.4.0.1300' }));
  assert.ok(satisfies('2.10', { min: '2.9' }), '2.10 is after 2.9: segments are numbers');
  assert.ok(!satisfies('1.7', { range: '1.x || >=2.5', min: '1.8' }));
  assert.ok(satisfies('2.6', { range: '1.x || >=2.5', min: '1.8' }));
  assert.equal(VersionRange.compile({ range: '^2', min: '2.1', max: '2.8' }).text, '^2 and >=2.1 and <=2.8');
});

test("prerelease: include ignores the tag; exclude is semver's rule", () => {
  // include (the default): a 2.4.0 beta is a 2.4.0 build
  assert.ok(satisfies('2.4.0-beta.1', { range: '>=2.4.0' }));
  assert.ok(satisfies('2.4.0-beta.1', { range: '>=2.3.0' }));
  assert.ok(!satisfies('2.4.0-beta.1', { range: '<2.4.0' }));
  // exclude: semver's precedence and npm's rule
  const ex = (v: string, range: string) => satisfies(v, { range, prerelease: 'exclude' });
  assert.ok(!ex('2.4.0-beta.1', '>=2.3.0'), 'a tagged version needs a tagged bound on its numbers');
  assert.ok(ex('3.0.0-beta.2', '>=3.0.0-beta.0'));
  assert.ok(!ex('3.0.0-alpha.9', '>=3.0.0-beta.0'), 'alpha < beta');
  assert.ok(ex('3.0.0-beta.10', '>3.0.0-beta.9'), 'numeric identifiers compare as numbers');
  assert.ok(!ex('3.1.0-beta.2', '>=3.0.0-beta.0'));
  assert.ok(ex('3.0.0', '>=3.0.0-beta.0'), 'a release is above its prereleases');
  assert.ok(ex('2.4.0.1', '>2.4.0'));
  assert.ok(satisfies('3.0.0-rc.1', { min: '3.0.0-beta', prerelease: 'exclude' }));
  assert.ok(!satisfies('3.0.0-alpha', { min: '3.0.0-beta', prerelease: 'exclude' }));
});

test('bad ranges and bounds: an error naming the key and saying why', () => {
  const problem = (m: Parameters<typeof VersionRange.compile>[0]): [string, string] => {
    try {
      VersionRange.compile(m);
    } catch (err) {
      assert.ok(err instanceof RangeProblem);
      return [err.key, err.message];
    }
    assert.fail('no problem');
  };
  assert.deepEqual(problem({ range: 'version two' })[0], 'range');
  assert.match(problem({ range: '>=2.4.0.1234' })[1], /not a valid semver range.*use min \/ max/);
  assert.match(problem({ range: '>=3.0.0-beta.2' })[1], /names a prerelease tag \(3\.0\.0-beta\.2\).*prerelease: exclude/);
  assert.deepEqual(problem({ min: '2.x' }), ['min', '"2.x" is not a version: expected a number at character 3']);
  assert.equal(problem({ max: '3.0.0-rc.1' })[0], 'max');
  assert.equal(problem({})[1], 'needs a range, a min or a max');
  assert.doesNotThrow(() => VersionRange.compile({ range: '>=3.0.0-beta.2', prerelease: 'exclude' }));
});

test('parseVersion: segments and tag identifiers', () => {
  assert.deepEqual(parseVersion('v2.4.0.1234-beta.1+7'), { segments: [2, 4, 0, 1234], tag: ['beta', '1'] });
  assert.throws(() => parseVersion('nope'), /"nope" is not a version/);
});

/** Random semver-shaped versions and ranges, small numbers so that bounds and versions meet. */
const n = fc.integer({ min: 0, max: 4 });
const tag = fc.constantFrom('alpha', 'beta', 'beta.1', 'beta.2', 'rc.1', '0', '1', 'x-y');
const release = fc.tuple(n, n, n).map(([a, b, c]) => `${a}.${b}.${c}`);
const tagged = fc.tuple(release, tag).map(([v, t]) => `${v}-${t}`);
const rangeText = fc.oneof(
  fc.tuple(fc.constantFrom('>=', '>', '<', '<=', '=', '^', '~', ''), fc.oneof(release, fc.tuple(n, n).map(([a, b]) => `${a}.${b}`), n.map(String))).map(([op, v]) => `${op}${v}`),
  fc.tuple(release, release).map(([a, b]) => `>=${a} <${b}`),
  fc.tuple(n, release).map(([a, b]) => `${a}.x || >=${b}`),
  fc.tuple(release, release).map(([a, b]) => `${a} - ${b}`),
);
const taggedRange = fc.tuple(fc.constantFrom('>=', '>', '<', '<=', '='), tagged).map(([op, v]) => `${op}${v}`);

test('on plain x.y.z versions both modes agree with the semver package', () => {
  fc.assert(
    fc.property(release, rangeText, (v, range) => {
      const expected = semver.satisfies(v, range);
      assert.equal(satisfies(v, { range }), expected, `${v} in ${range}`);
      assert.equal(satisfies(v, { range, prerelease: 'exclude' }), expected, `${v} in ${range} (exclude)`);
    }),
    { numRuns: 2000 },
  );
});

test('prerelease: exclude agrees with the semver package on tagged versions and tagged ranges', () => {
  fc.assert(
    fc.property(fc.oneof(release, tagged), fc.oneof(rangeText, taggedRange), (v, range) => {
      assert.equal(satisfies(v, { range, prerelease: 'exclude' }), semver.satisfies(v, range), `${v} in ${range}`);
    }),
    { numRuns: 2000 },
  );
});

test('prerelease: include compares a tagged version as its release; extra segments order after it', () => {
  fc.assert(
    fc.property(tagged, rangeText, n, (v, range, build) => {
      const plain = v.slice(0, v.indexOf('-'));
      assert.equal(satisfies(v, { range }), semver.satisfies(plain, range), `${v} in ${range}`);
      // x.y.z.b (b > 0) sits strictly between x.y.z and the next patch.
      if (build > 0) {
        assert.equal(satisfies(`${plain}.${build}`, { min: plain }), true);
        assert.equal(satisfies(`${plain}.${build}`, { max: plain }), false);
      }
    }),
    { numRuns: 1000 },
  );
});

test('any text: parse ends, bounded, and never throws; a parsed version prints back to one that parses the same', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^v?[0-9]{1,17}(\.[0-9]{1,3}){0,9}([-+][0-9A-Za-z.-]{0,8})?$/)), (text) => {
      const b = new VersionBuffer();
      const code = b.parse(text);
      if (code !== PARSED) {
        assert.ok(describeProblem(code, b).length > 0);
        return;
      }
      assert.ok(text.length <= MAX_VERSION_CHARS && b.count >= 1 && b.count <= 8);
      for (let i = 0; i < b.count; i++) assert.ok(Number.isSafeInteger(b.segments[i]));
      const again = new VersionBuffer();
      assert.equal(again.parse(b.normalized('exclude')), PARSED);
      assert.equal(again.normalized('exclude'), b.normalized('exclude'));
    }),
    { numRuns: 3000 },
  );
});
