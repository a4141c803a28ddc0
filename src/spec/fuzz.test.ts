import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, parseSpec } from './index.js';

/**
 * Whatever the text, parseSpec returns a frozen Spec or throws a ConfigError whose issues all point
 * into the text. Never another exception, never a hang (every regex from the config is compiled and
 * screened, never run).
 */
/** 300 runs per property in `npm test`; set GRAYLANE_FUZZ_RUNS for a longer local hunt. */
const numRuns = Number(process.env.GRAYLANE_FUZZ_RUNS ?? 300);

function assertWellBehaved(text: string): void {
  let spec;
  try {
    spec = parseSpec(text, 'fuzz.yaml');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    assert.ok(err.issues.length > 0);
    const lines = text.split(/\r\n|\r|\n/).length;
    for (const issue of err.issues) {
      assert.ok(issue.line >= 1 && issue.line <= lines + 1, `line ${issue.line} of ${lines}: ${err.message}`);
      assert.ok(issue.column >= 1, err.message);
      assert.ok(issue.message.length > 0);
      assert.ok(!issue.message.includes('\n'), issue.message);
    }
    return;
  }
  assert.ok(Object.isFrozen(spec));
}

const VALID = `listen: 127.0.0.1:8080
laneAliases: [x-mse-tag]
timeouts: { connect: 5s, headers: 30s, idle: 60s }
mirror: { maxConcurrent: 64, maxBodyBytes: 1mb }
services:
  whoami:
    fallback: stable
    failClosed: [alpha]
    passiveHealth: { consecutiveFailures: 5, eject: 10s }
    versions:
      stable: { endpoints: [http://127.0.0.1:9001, http://127.0.0.1:9002] }
      beta: [http://127.0.0.1:9101]
      alpha: &a [http://127.0.0.1:9201]
routes:
  - name: checkout
    match: { host: prod.example.com, pathPrefix: / }
    service: whoami
    identity: [header:x-user-id, cookie:uid]
    visitorCookie: { name: gl_vid, maxAge: 30d }
    rules:
      - { name: vip, lane: alpha, users: ["1001", 1002] }
      - { lane: beta, appVersion: { header: x-app-version, range: ">=2.3.0" } }
      - { lane: beta, appVersion: { header: user-agent, pattern: "MyApp/([0-9.]+)", min: 2.3, max: 2.9.9.9, prerelease: exclude } }
      - { lane: beta, path: { regex: "^/new-(checkout|cart)" } }
      - { lane: beta, header: { name: x-canary, pattern: "^(on|yes)$" } }
      - { lane: beta, percent: 10, headers: { set: { x-mse-tag: gray } } }
    canary:
      - { lane: beta, byHeader: x-canary, byHeaderValue: yes, weight: 10 }
    split: { stable: 3, beta: 1 }
    mirror: { lane: beta, percent: 5 }
`;

test('the fuzz seed config is valid', () => {
  assert.equal(parseSpec(VALID, 'fuzz.yaml').routes.length, 1);
});

test('random text never throws anything but ConfigError', { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (text) => assertWellBehaved(text)),
    { numRuns },
  );
});

/** Pieces that matter to YAML and to our validation, to splice into the valid config. */
const TOKENS = [
  ':', ': ', '- ', '{', '}', '[', ']', ',', '#', '&x ', '*x', '*a', '<<: *a', '!!set ', '!foo ', '\t', '\n', '\n  ', '"', "'",
  '|', '>', '~', '---\n', '-1', '1e400', '.nan', '.inf', '0x1F', '99999', '(a+)+', '(?=x)', '\\1', '[', 'null', 'true',
  'stable', 'gamma', 'beta', '__proto__', 'constructor', 'http://', '*.', '%', '\u0000', '\ufeff', 'é',
];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 8 })) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('swapLines' as const), at: fc.nat(), other: fc.nat() }),
  fc.record({ kind: fc.constant('dupLine' as const), at: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function apply(text: string, m: Mutation): string {
  const at = m.at % (text.length + 1);
  switch (m.kind) {
    case 'insert':
      return text.slice(0, at) + m.text + text.slice(at);
    case 'delete':
      return text.slice(0, at) + text.slice(at + m.length);
    case 'swapLines': {
      const lines = text.split('\n');
      const i = m.at % lines.length;
      const j = m.other % lines.length;
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join('\n');
    }
    case 'dupLine': {
      const lines = text.split('\n');
      const i = m.at % lines.length;
      lines.splice(i, 0, lines[i]!);
      return lines.join('\n');
    }
  }
}

test('a mutated valid config never throws anything but ConfigError', { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
      assertWellBehaved(mutations.reduce(apply, VALID));
    }),
    { numRuns },
  );
});

/** Config-shaped documents with values of every type in every place: exercises the normalizers on wrong types. */
const KEYS = [
  'listen', 'services', 'routes', 'versions', 'endpoints', 'fallback', 'failClosed', 'match', 'host', 'pathPrefix', 'path',
  'service', 'lane', 'rules', 'users', 'percent', 'split', 'mirror', 'canary', 'weight', 'byHeader', 'header', 'name',
  'equals', 'pattern', 'regex', 'appVersion', 'range', 'identity', 'visitorCookie', 'maxAge', 'timeouts', 'connect',
  'stable', 'beta', 'headers', 'set', 'remove', 'salt', 'passiveHealth', 'eject', 'in', 'present', 'query', 'cookie',
  'min', 'max', 'prerelease',
];
const { value: configLike } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 12 })),
    fc.constantFrom('5s', '1mb', 'http://127.0.0.1:1', '(a+)+', '>=1.0.0', 'header:x-u', 'stable', 'beta', '127.0.0.1:0', '2.4.0.1', 'exclude'),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 5 }),
  ),
}));

test('config-shaped documents of random types never throw anything but ConfigError', { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...KEYS), configLike, { maxKeys: 6 }), (doc) => {
      assertWellBehaved(stringify(doc));
    }),
    { numRuns },
  );
});

/** Almost a valid config: every key present or not, every value plausible or junk of another type. */
const junk = fc.oneof(fc.integer({ min: -5, max: 200 }), fc.double(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 6 }), fc.constant([]), fc.constant({}));
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: junk });
const laneName = maybe(fc.constantFrom('stable', 'beta', 'alpha', 'gamma', 'Beta'));
const regexText = maybe(fc.constantFrom('^/a', '(a+)+', '(', '(?<=x)y', '\\1', '[a-', 'a{2,}', '(ab)*c'));
const named = fc.record({ name: maybe(fc.constantFrom('x-id', 'uid', 'Bad Name')), equals: maybe(fc.constantFrom('1', 'on')), in: maybe(fc.array(junk, { maxLength: 3 })), pattern: regexText, present: junk }, { requiredKeys: [] });
const rule = fc.record(
  {
    name: maybe(fc.constantFrom('a', 'b')),
    lane: laneName,
    users: maybe(fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxLength: 3 })),
    appVersion: maybe(
      fc.record(
        {
          header: maybe(fc.constant('x-v')),
          query: maybe(fc.constant('v')),
          range: maybe(fc.constantFrom('>=1', 'nope', '^2.x', '>=3.0.0-beta.1', '>=2.4.0.1', '*')),
          pattern: maybe(fc.constantFrom('App/([0-9.]+)', 'App/[0-9.]+', '(a+)+', '(', 'v(\\d+(\\.\\d+)*)')),
          min: maybe(fc.constantFrom('2.3', '2.4.0.1200', 'v1', '2.x', '1.0.0-rc.1', '9'.repeat(20), '')),
          max: maybe(fc.constantFrom('3', '2.9.9.9', 'x', '1.2.3.4.5.6.7.8.9')),
          prerelease: maybe(fc.constantFrom('include', 'exclude', 'maybe')),
        },
        { requiredKeys: [] },
      ),
    ),
    path: maybe(fc.record({ contains: maybe(fc.constant('/n')), prefix: maybe(fc.constant('/p')), regex: regexText }, { requiredKeys: [] })),
    header: maybe(named),
    cookie: maybe(named),
    query: maybe(named),
    percent: maybe(fc.oneof(fc.double({ min: -10, max: 110, noNaN: true }), fc.integer({ min: 0, max: 100 }))),
    headers: maybe(fc.record({ set: maybe(fc.dictionary(fc.constantFrom('x-a', 'X-B', 'bad name'), junk)), remove: maybe(fc.array(junk, { maxLength: 2 })) }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);
const route = fc.record(
  {
    name: maybe(fc.constantFrom('r1', 'r2')),
    match: maybe(fc.record({ host: maybe(fc.constantFrom('a.example.com', '*.b.com', 'h:80')), pathPrefix: maybe(fc.constantFrom('/', '/a', 'a')), path: maybe(fc.constant('/x')) }, { requiredKeys: [] })),
    service: maybe(fc.constantFrom('web', 'api', 'nope')),
    lane: laneName,
    trustLane: junk,
    identity: maybe(fc.array(fc.constantFrom('header:X-U', 'cookie:u', 'query:u', 'bad'), { maxLength: 3 })),
    visitorCookie: maybe(fc.oneof(fc.boolean(), fc.record({ name: maybe(fc.constant('v')), maxAge: maybe(fc.constantFrom('1d', '0', '900d')) }, { requiredKeys: [] }))),
    salt: junk,
    rules: maybe(fc.array(rule, { maxLength: 4 })),
    canary: maybe(fc.array(fc.record({ lane: laneName, byHeader: maybe(fc.constant('x-c')), byHeaderValue: junk, byHeaderPattern: regexText, byCookie: maybe(fc.constant('c')), weight: junk, weightTotal: junk }, { requiredKeys: [] }), { maxLength: 2 })),
    split: maybe(fc.dictionary(fc.constantFrom('stable', 'beta', 'gamma'), fc.oneof(fc.integer({ min: -1, max: 5 }), junk))),
    stickySplit: junk,
    mirror: maybe(fc.record({ lane: laneName, percent: junk }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);
const service = fc.record(
  {
    fallback: laneName,
    failClosed: maybe(fc.array(laneName, { maxLength: 2 })),
    passiveHealth: maybe(fc.record({ consecutiveFailures: junk, eject: maybe(fc.constantFrom('1s', '0', '99d')) }, { requiredKeys: [] })),
    versions: maybe(
      fc.dictionary(
        fc.constantFrom('stable', 'beta', 'alpha', 'bad name'),
        maybe(fc.oneof(fc.array(fc.constantFrom('http://127.0.0.1:1', 'ftp://x', 'http://h:99999', 'x'), { maxLength: 2 }), fc.record({ endpoints: maybe(fc.array(junk, { maxLength: 2 })) }, { requiredKeys: [] }))),
      ),
    ),
  },
  { requiredKeys: [] },
);
const nearlyValid = fc.record(
  {
    listen: maybe(fc.constantFrom('127.0.0.1:0', '[::1]:8080', 'h:99999')),
    laneHeader: maybe(fc.constantFrom('X-Lane', 'bad header')),
    timeouts: maybe(fc.record({ connect: maybe(fc.constantFrom('1s', '0', '5 sec', 100)) }, { requiredKeys: [] })),
    mirror: maybe(fc.record({ maxBodyBytes: maybe(fc.constantFrom('1mb', '1 mb', 5)) }, { requiredKeys: [] })),
    services: maybe(fc.dictionary(fc.constantFrom('web', 'api', '__proto__', 'constructor'), maybe(service), { maxKeys: 3 })),
    routes: maybe(fc.array(route, { maxLength: 3 })),
  },
  { requiredKeys: [] },
);

test('nearly valid configs never throw anything but ConfigError', { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(nearlyValid, (doc) => assertWellBehaved(stringify(doc))),
    { numRuns },
  );
});
