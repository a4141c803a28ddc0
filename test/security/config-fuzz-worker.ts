/**
 * The config fuzz, run in a child process by config-fuzz.test.ts so that a hang is caught by a
 * watchdog instead of hanging the test runner. Before each case it prints `CASE <json>` (the input),
 * after each `OK`; the parent kills it when a case takes too long and reports that input.
 *
 *   node dist/test/security/config-fuzz-worker.js <property> [numRuns]
 *
 * Properties (fast-check, bounded runs):
 * - `documents`: mutated, random, deeply nested and huge-number YAML through the loader AND the rule
 *   compiler: parseSpec throws nothing but ConfigError; a Spec it returns always compiles; marking
 *   requests against the Snapshot never throws.
 * - `regexes`: generated patterns (among them the catastrophic shapes) in every regex slot: either
 *   the loader rejects them (bad-regex / unsafe-regex) or marking adversarial inputs against them
 *   finishes (a pattern that backtracks exponentially hangs here, and the watchdog reports it).
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { compile } from '../../src/routing/index.js';
import type { Snapshot } from '../../src/routing/types.js';
import { ConfigError, parseSpec } from '../../src/spec/index.js';
import { ObjectHeaders } from '../../src/routing/request-values.js';

const property = process.argv[2] ?? 'documents';
const numRuns = Number(process.argv[3] ?? 200);

function announce(input: unknown): void {
  process.stdout.write(`CASE ${JSON.stringify(input).slice(0, 4000)}\n`);
}

function done(): void {
  process.stdout.write('OK\n');
}

/** Requests every route of the snapshot is asked to mark: ordinary, empty, hostile-looking. */
function markAll(snapshot: Snapshot, inputs: string[]): void {
  const ctx = { random: () => 0.42, newVisitorId: () => 'fuzz-visitor' };
  for (const value of inputs) {
    const path = `/${value}`;
    const headers: Record<string, string> = { 'x-user-id': value, 'x-p': value, 'x-canary': value, 'x-app-version': value, 'user-agent': `App/${value}`, cookie: `uid=${value}; c=${value}` };
    for (const host of ['', 'a.example.com', 'x.b.com']) {
      const route = snapshot.matchRoute(host, path);
      if (route === undefined) continue;
      const mark = route.mark({ host, path, query: `u=${encodeURIComponent(value)}&p=${encodeURIComponent(value)}`, headers: new ObjectHeaders(headers) }, ctx);
      if (typeof mark.lane !== 'string') throw new Error(`mark gave no lane for ${JSON.stringify(value)}`);
    }
  }
}

/** Loader + compiler + mark: only ConfigError may come out of the loader, nothing out of the rest. */
function wellBehaved(text: string, inputs: string[]): 'rejected' | 'accepted' {
  let spec;
  try {
    spec = parseSpec(text, 'fuzz.yaml');
  } catch (err) {
    if (err instanceof ConfigError && err.issues.length > 0) return 'rejected';
    throw err;
  }
  markAll(compile(spec), inputs);
  return 'accepted';
}

const SERVICES = `services:
  web:
    versions:
      stable: [http://127.0.0.1:9001]
      beta: [http://127.0.0.1:9002]
      alpha: [http://127.0.0.1:9003]
`;

const VALID = `listen: 127.0.0.1:0
limits: { maxUrlBytes: 8kb, maxHeaderBytes: 16kb, maxHeaders: 100, headersTimeout: 10s }
timeouts: { connect: 1s, headers: 5s, idle: 30s }
${SERVICES}routes:
  - name: r1
    match: { host: a.example.com, pathPrefix: / }
    service: web
    identity: [header:x-user-id, cookie:uid, query:u]
    visitorCookie: { name: vid, maxAge: 1d }
    rules:
      - { lane: alpha, users: ["1", 2, "003"] }
      - { lane: beta, appVersion: { header: x-app-version, range: ">=2.0.0 <3" } }
      - { lane: beta, appVersion: { header: user-agent, pattern: "App/([0-9.]+)", min: 2.4.0.1200, max: 3, prerelease: exclude } }
      - { lane: alpha, appVersion: { cookie: c, range: "^1.2 || >=4.0.0-rc.1", prerelease: exclude } }
      - { lane: beta, path: { regex: "^/new-(a|b)" } }
      - { lane: beta, header: { name: x-p, pattern: "^(on|yes)$" } }
      - { lane: beta, cookie: { name: c, in: [x, y] } }
      - { lane: beta, percent: 12.5 }
    canary: [{ lane: beta, byHeader: x-canary, byHeaderPattern: "^b", weight: 5 }]
    split: { stable: 3, beta: 1 }
    mirror: { lane: beta, percent: 5 }
  - match: { host: "*.b.com", path: /x }
    service: web
    lane: beta
`;

const TOKENS = [
  ':', ': ', '- ', '{', '}', '[', ']', ',', '#', '&x ', '*x', '<<: *x', '!!binary ', '\t', '\n', '\n  ', '"', "'", '|', '>',
  '1e400', '-1e400', '1e-400', '.inf', '-.inf', '.nan', '9007199254740993', '0x7fffffff', '-0', '99999999999999999999gb',
  '99999999999999999999d', '(a|a)*', '(\\w|\\d)+', '(a+)+', '[[[[[[[[', ']]]]', '{{{{', '__proto__', 'constructor', 'toString',
  '\u0000', '\ufeff', '\u2028', 'stable', 'beta', 'gamma', '*.', '%', '..', 'http://[::1]:0', 'ftp://x',
];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 8 })) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant('dupLine' as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function apply(text: string, m: Mutation): string {
  const at = m.at % (text.length + 1);
  if (m.kind === 'insert') return text.slice(0, at) + m.text + text.slice(at);
  if (m.kind === 'delete') return text.slice(0, at) + text.slice(at + m.length);
  const lines = text.split('\n');
  const i = m.at % lines.length;
  lines.splice(i, 0, lines[i]!);
  return lines.join('\n');
}

/** Deep nesting of every YAML kind, at a place the schema looks at and one it does not. */
const deep = fc.record({ depth: fc.integer({ min: 50, max: 20_000 }), kind: fc.constantFrom('flowSeq', 'flowMap', 'block', 'blockSeq'), where: fc.constantFrom('users', 'top') }).map(({ depth, kind, where }) => {
  let value: string;
  if (kind === 'flowSeq') value = `${'['.repeat(depth)}1${']'.repeat(depth)}`;
  else if (kind === 'flowMap') value = `${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`;
  else {
    // Block nesting is indentation: keep it within what a file could plausibly hold.
    const d = Math.min(depth, 2000);
    value = `\n${Array.from({ length: d }, (_, i) => `${' '.repeat(i + 8)}${kind === 'block' ? 'a:' : '-'}`).join('\n')} 1`;
  }
  return where === 'users' ? `${SERVICES}routes:\n  - service: web\n    rules: [{ lane: beta, users: ${value} }]\n` : `deep: ${value}\n${SERVICES}routes: []\n`;
});

const HUGE = ['1e400', '-1e400', '1e308', '-0', '0.0000000001', '9007199254740993', '12345678901234567890123', '.inf', '.nan', '-1', '0', '1.5', '2147483648', '"1e3"'];
const hugeNumbers = fc.record({ field: fc.constantFrom('percent', 'weight', 'split', 'maxConcurrent', 'maxHeaders', 'consecutiveFailures', 'weightTotal', 'mirrorPercent', 'duration'), value: fc.constantFrom(...HUGE) }).map(({ field, value }) => {
  const rules = field === 'percent' ? `rules: [{ lane: beta, percent: ${value} }]` : 'rules: []';
  const canary = field === 'weight' || field === 'weightTotal' ? `canary: [{ lane: beta, ${field}: ${value} }]` : 'canary: []';
  const split = field === 'split' ? `split: { stable: ${value}, beta: 1 }` : '';
  const mirror = field === 'mirrorPercent' ? `mirror: { lane: beta, percent: ${value} }` : '';
  const top = field === 'maxConcurrent' ? `mirror: { maxConcurrent: ${value} }\n` : field === 'maxHeaders' ? `limits: { maxHeaders: ${value} }\n` : field === 'duration' ? `timeouts: { connect: ${value} }\n` : '';
  const health = field === 'consecutiveFailures' ? `    passiveHealth: { consecutiveFailures: ${value} }\n` : '';
  return `${top}${SERVICES}${health}routes:\n  - service: web\n    identity: [header:x-user-id]\n    ${rules}\n    ${canary}\n    ${split ? `${split}\n    ` : ''}${mirror}\n`;
});

const { value: configLike } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 12 }), fc.constantFrom(...HUGE.map(Number))),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom('services', 'routes', 'versions', 'rules', 'lane', 'pattern', 'regex', 'percent', 'split', 'users', 'header', 'name', 'limits', 'maxHeaders'), tie('value'), { maxKeys: 4 }),
  ),
}));

const INPUTS = [
  '', '1', 'on', 'beta', '2.5.0', 'a'.repeat(40), `${'a'.repeat(40)}!`, `${'1'.repeat(40)}!`, '%00%ff', '../..',
  // versions: every shape the parser distinguishes, and its limits
  'v2.4', '2.4.0.1234', '4.0.0-rc.2+b.7', '1.2.3-', '1.2.3-a..b', `${'9'.repeat(15)}.1`, `${'9'.repeat(16)}.1`, '1.2.3.4.5.6.7.8.9',
  `1.2.3-${'x'.repeat(58)}`, `1.2.3-${'x'.repeat(59)}`, `${'1.'.repeat(500)}1`, '٣.٤',
];

function runDocuments(): void {
  const documents = fc.oneof(
    fc.array(mutation, { minLength: 1, maxLength: 8 }).map((ms) => ms.reduce(apply, VALID)),
    deep,
    hugeNumbers,
    configLike.map((doc) => stringify({ services: { web: { versions: { stable: ['http://127.0.0.1:1'] } } }, routes: [], ...(typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? doc : { x: doc }) })),
    fc.string({ maxLength: 400 }),
  );
  fc.assert(
    fc.property(documents, (text) => {
      announce(text);
      wellBehaved(text, INPUTS);
      done();
    }),
    { numRuns },
  );
}

/** A small regex grammar that produces ordinary patterns and every catastrophic shape. */
const { regex } = fc.letrec((tie) => ({
  regex: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('a', 'b', '1', '\\d', '\\w', '\\s', '.', '[a-c]', '[0-9a]', '[^x]', '-', '/'),
    fc.tuple(tie('regex'), tie('regex')).map(([x, y]) => `${x}${y}`),
    fc.tuple(tie('regex'), tie('regex')).map(([x, y]) => `(?:${x}|${y})`),
    fc.tuple(tie('regex'), fc.constantFrom('*', '+', '?', '{2,}', '{1,3}', '*?')).map(([x, q]) => `(?:${x})${q}`),
    tie('regex').map((x) => `(${x})`),
  ),
}));

/** Adversarial inputs for a pattern: long runs of each character it mentions, then a character it does not end with. */
function adversarial(pattern: string): string[] {
  const chars = new Set([...pattern.replace(/[\\[\]()?:*+{}|^$.,0-9-]/g, ''), 'a', '1', '_', ' ', '-', '/']);
  const out: string[] = [];
  for (const c of chars) out.push(`${c.repeat(48)}!`, `${c.repeat(48)}\u0000`);
  out.push(`${'a1'.repeat(24)}!`, `${'ab'.repeat(24)}!`);
  return out;
}

function runRegexes(): void {
  fc.assert(
    fc.property(regex, fc.constantFrom('header', 'path', 'canary', 'query', 'version'), fc.boolean(), (body, slot, anchored) => {
      const pattern = anchored ? `^${body}$` : body;
      announce({ pattern, slot });
      const q = JSON.stringify(pattern);
      const rule =
        slot === 'header'
          ? `rules: [{ lane: beta, header: { name: x-p, pattern: ${q} } }]`
          : slot === 'path'
            ? `rules: [{ lane: beta, path: { regex: ${q} } }]`
            : slot === 'query'
              ? `rules: [{ lane: beta, query: { name: p, pattern: ${q} } }]`
              : slot === 'version'
                ? `rules: [{ lane: beta, appVersion: { header: user-agent, pattern: ${JSON.stringify(`App/(${pattern})`)}, range: ">=1" } }]`
              : `canary: [{ lane: beta, byHeader: x-canary, byHeaderPattern: ${q} }]`;
      const text = `${SERVICES}routes:\n  - service: web\n    ${rule}\n`;
      let spec;
      try {
        spec = parseSpec(text, 'fuzz.yaml');
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        if (!err.issues.every((i) => i.code === 'unsafe-regex' || i.code === 'bad-regex')) throw new Error(`unexpected issues for ${pattern}: ${err.message}`);
        done();
        return;
      }
      markAll(compile(spec), adversarial(pattern));
      done();
    }),
    { numRuns },
  );
}

try {
  if (property === 'documents') runDocuments();
  else if (property === 'regexes') runRegexes();
  else throw new Error(`unknown property ${property}`);
  process.stdout.write('DONE\n');
} catch (err) {
  // fast-check keeps the error a case threw as `cause`; the counterexample itself was the last CASE line.
  const cause = (err as Error).cause as Error | undefined;
  const summary = String((err as Error).message).split('\n')[0];
  const reason = cause === undefined ? '' : `${cause.name}: ${cause.message} @ ${String(cause.stack).split('\n').slice(1, 4).join(' < ')}`;
  process.stdout.write(`FAILED ${summary}; ${reason.replace(/\n/g, ' ')}\n`);
  process.exitCode = 1;
}
