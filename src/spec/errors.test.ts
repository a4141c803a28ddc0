import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, formatIssues, parseSpec, type ConfigIssue, type IssueCode } from './index.js';

/** Two services: web (stable, beta) and api (stable, alpha); one route to web. */
const BASE = [
  'services:', //                                1
  '  web:', //                                   2
  '    versions:', //                            3
  '      stable: [http://127.0.0.1:9001]', //    4
  '      beta: [http://127.0.0.1:9101]', //      5
  '  api:', //                                   6
  '    versions:', //                            7
  '      stable: [http://127.0.0.1:9201]', //    8
  '      alpha: [http://127.0.0.1:9301]', //     9
  'routes:', //                                 10
  '  - match: { host: prod.example.com }', //   11
  '    service: web', //                        12
];

/** BASE plus lines added to its route, from line 13 on. */
function route(...lines: string[]): string {
  return [...BASE, ...lines].join('\n');
}

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseSpec(text, 'gl.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.message, formatIssues(err.issues));
    return err.issues;
  }
  assert.fail('expected the config to be rejected');
}

/**
 * One expected issue: on `line`, at the first occurrence of `token` (so the column is where that
 * token starts), with this key path, code and a message matching `message`.
 */
type Expected = [line: number, token: string | number, path: string, code: IssueCode, message: RegExp];

/** Asserts every issue, in order: exact `file:line:col: path` prefix, code, and message. */
function expectIssues(text: string, expected: Expected[]): void {
  const lines = text.split('\n');
  const issues = issuesOf(text);
  const want = expected.map(([line, token, path, code]) => {
    const column = typeof token === 'number' ? token : lines[line - 1]!.indexOf(token) + 1;
    assert.ok(column > 0, `token ${token} not on line ${line}`);
    return `gl.yaml:${line}:${column}: ${path} [${code}]`;
  });
  const got = issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path} [${i.code}]`);
  assert.deepStrictEqual(got, want, formatIssues(issues));
  issues.forEach((issue, i) => assert.match(issue.message, expected[i]![4]));
  // The formatted line starts with exactly that prefix (no path part for the document as a whole).
  issues.forEach((issue, i) => {
    const prefix = want[i]!.split(' [')[0]!.replace(/: $/, '');
    assert.ok(formatIssues([issue]).startsWith(`${prefix}: `), `${formatIssues([issue])} starts with ${prefix}`);
  });
}

test('the base config of these tests is valid', () => {
  assert.equal(parseSpec(route(), 'gl.yaml').routes.length, 1);
});

test('YAML syntax errors: line and column, no key path', () => {
  // At the end of the line, where the quote should have been.
  expectIssues('services: {}\nroutes: []\nlisten: "127.0.0.1:8080', [[3, 24, '', 'yaml-syntax', /closing "quote/]]);
  expectIssues('services:\n\tweb: 1\nroutes: []', [[2, '\t', '', 'yaml-syntax', /[Tt]abs/]]);
  expectIssues('services: {}\nroutes: []\n---\nroutes: []', [[3, '---', '', 'yaml-syntax', /one YAML document/]]);
  expectIssues('services: {}\nroutes: []\nlisten: !!timestamp 2001-12-14', [
    [3, '!!timestamp', '', 'yaml-syntax', /tag .*timestamp is not supported/],
    [3, '2001', 'listen', 'bad-listen', /host:port/],
  ]);
  expectIssues('services: {}\nroutes: [*r]', [[2, '*r', 'routes[0]', 'yaml-syntax', /unknown alias \*r/]]);
  assert.equal(formatIssues(issuesOf('services: {}\nroutes: [\n')), 'gl.yaml:3:1: Flow sequence in block collection must be sufficiently indented and end with a ]');
});

test('a key indented wrongly: the issue points at that key and names it, not at the start of its line', () => {
  // One space short of its sibling `stable` (what an editor without YAML support leaves behind).
  const lines = [...BASE.slice(0, 4), '     beta: [http://127.0.0.1:9101]', ...BASE.slice(5)];
  assert.equal(
    formatIssues(issuesOf(lines.join('\n'))),
    'gl.yaml:5:6: All mapping items must start at the same column: key "beta" does not line up with the keys above it',
  );
  // A route key back at the list's column, out of its item.
  expectIssues(route('  lane: beta'), [[13, 'lane', '', 'yaml-syntax', /^All mapping items must start at the same column: key "lane" does not line up/]]);
  // A line with no `key:` is named by its text.
  expectIssues(route('  "lane": beta'), [[13, '"', '', 'yaml-syntax', /: the line "\"lane\": beta" does not line up/]]);
});

test('duplicate keys name the first occurrence', () => {
  expectIssues(route('    service: api'), [[13, 'service', 'routes[0].service', 'duplicate-key', /duplicate key "service" \(first defined on line 12\)/]]);
});

test('unknown keys suggest the closest known key', () => {
  expectIssues(route('    stikySplit: true'), [[13, 'stikySplit', 'routes[0].stikySplit', 'unknown-key', /did you mean stickySplit\?/]]);
  expectIssues(route('    rules: [{ lane: beta, pathx: { contains: /a } }]'), [
    [13, 'pathx', 'routes[0].rules[0].pathx', 'unknown-key', /unknown key "pathx" \(did you mean path\?\)/],
  ]);
  // `routes` is then missing too, but that is the same typo: reported once.
  expectIssues(route().replace('routes:', 'route:'), [[10, 'route', 'route', 'unknown-key', /unknown key "route" \(did you mean routes\?\)/]]);
  // A typo of a required key is one problem, not also "missing lane".
  expectIssues(route('    rules: [{ lnae: beta }]'), [[13, 'lnae', 'routes[0].rules[0].lnae', 'unknown-key', /did you mean lane\?/]]);
  // No close key: the known ones are listed.
  expectIssues(route().replace('{ host: prod.example.com }', '{ color: blue }'), [
    [11, 'color', 'routes[0].match.color', 'unknown-key', /unknown key "color"; known keys: host, pathPrefix, path$/],
  ]);
});

test('an unknown key that spans lines (a YAML flow mapping as a key) is named on one line', () => {
  // Found by the config fuzz test (a deletion turned a rule's mapping into a key of its list item).
  // yaml names a long flow mapping over several lines.
  const key = ['      - ? {', '          header: user-agent,', '          pattern: "MyApp/([0-9.]+)",', '          min: 2.3,', '          max: 2.9.9.9,', '          prerelease: exclude', '        }'];
  const issues = issuesOf(route('    rules:', ...key, '        : 1'));
  const unknown = issues.find((i) => i.code === 'unknown-key');
  assert.ok(unknown !== undefined, JSON.stringify(issues));
  assert.match(unknown.message, /^unknown key "\{\\n/);
  for (const i of issues) assert.ok(!i.message.includes('\n'), i.message);
});

test('wrong types say what was expected and what was found', () => {
  expectIssues(route('    trustLane: yes'), [[13, 'yes', 'routes[0].trustLane', 'wrong-type', /must be true or false, got "yes"/]]);
  expectIssues(route('    rules: { lane: beta }'), [[13, 'rules', 'routes[0].rules', 'wrong-type', /must be a list, got a mapping/]]);
  expectIssues(route('    split: { stable: 3, beta: lots }'), [[13, 'lots', 'routes[0].split.beta', 'wrong-type', /whole number from 0 to 1000000.*got "lots"/]]);
  expectIssues(route('    identity: [user:x-user-id]'), [[13, 'user:', 'routes[0].identity[0]', 'invalid-value', /header:NAME, cookie:NAME or query:NAME/]]);
});

test('a plain value where a condition mapping goes gets one issue, its type, not also "set exactly one of"', () => {
  // What a newcomer writes for "requests with an x-canary header", and for "the path /x".
  expectIssues(route('    rules:', '      - { lane: beta, header: x-canary }'), [
    [14, 'x-canary', 'routes[0].rules[0].header', 'wrong-type', /must be a mapping, got "x-canary"/],
  ]);
  expectIssues(route('    rules:', '      - { lane: beta, path: /x }', '      - { lane: beta, appVersion: ">=2" }'), [
    [14, '/x', 'routes[0].rules[0].path', 'wrong-type', /must be a mapping, got "\/x"/],
    [15, '">=2"', 'routes[0].rules[1].appVersion', 'wrong-type', /must be a mapping, got ">=2"/],
  ]);
});

test('missing required keys point at the mapping that lacks them', () => {
  expectIssues(route('  - match: { host: other.example.com }'), [
    [13, 'match', 'routes[1].service', 'missing-key', /missing required key "service"/],
  ]);
  expectIssues(route('    rules: [{ users: [u1] }]'), [[13, '{ users', 'routes[0].rules[0].lane', 'missing-key', /"lane"/]]);
  expectIssues('routes: []', [[1, 'routes', 'services', 'missing-key', /"services"/]]);
});

test('a route naming an unknown service', () => {
  expectIssues(route().replace('service: web', 'service: wbe'), [
    [12, 'wbe', 'routes[0].service', 'unknown-service', /unknown service "wbe" \(did you mean web\?\); services are: web, api/],
  ]);
});

test('a fallback that is not a version of its service', () => {
  const text = route().replace('  web:\n', '  web:\n    fallback: stabel\n');
  expectIssues(text, [[3, 'stabel', 'services.web.fallback', 'unknown-version', /"stabel" is not a version of service web \(did you mean stable\?\)/]]);
  // No fallback given and no `stable` version: point at the service.
  const noStable = route().replace('      stable: [http://127.0.0.1:9001]', '      main: [http://127.0.0.1:9001]');
  expectIssues(noStable, [[2, 'web', 'services.web.fallback', 'unknown-version', /no version "stable" \(the default fallback\)/]]);
});

test('lanes must be a version of some service, not necessarily of the route\'s own', () => {
  // alpha is a version of api only: accepted on a route to web (full-link gray).
  assert.ok(parseSpec(route('    rules: [{ lane: alpha }]', '    split: { stable: 1, alpha: 1 }', '    mirror: { lane: alpha }'), 'gl.yaml'));
  expectIssues(route('    split: { stable: 3, gamma: 1 }'), [
    [13, 'gamma', 'routes[0].split.gamma', 'unknown-lane', /lane "gamma" is not a version of any service.*versions are: alpha, beta, stable/],
  ]);
  expectIssues(route('    rules: [{ lane: betta }]'), [[13, 'betta', 'routes[0].rules[0].lane', 'unknown-lane', /did you mean beta\?/]]);
  expectIssues(route('    mirror: { lane: shadow }'), [[13, 'shadow', 'routes[0].mirror.lane', 'unknown-lane', /not a version of any service/]]);
  expectIssues(route('    lane: prod'), [[13, 'prod', 'routes[0].lane', 'unknown-lane', /not a version/]]);
  expectIssues(route('    canary: [{ lane: canary, weight: 5 }]'), [[13, 'canary,', 'routes[0].canary[0].lane', 'unknown-lane', /not a version/]]);
  expectIssues(route().replace('  web:\n', '  web:\n    failClosed: [alfa]\n'), [
    [3, 'alfa', 'services.web.failClosed[0]', 'unknown-lane', /did you mean alpha\?/],
  ]);
});

test('bad and catastrophic regular expressions', () => {
  expectIssues(route('    rules: [{ lane: beta, path: { regex: "(a" } }]'), [
    [13, '"(a"', 'routes[0].rules[0].path.regex', 'bad-regex', /not a valid regular expression: Unterminated group/],
  ]);
  expectIssues(route('    rules: [{ lane: beta, header: { name: x-id, pattern: "^(a+)+$" } }]'), [
    [13, '"^(a+)+$"', 'routes[0].rules[0].header.pattern', 'unsafe-regex', /nested quantifier \(a\+\)\+.*catastrophic backtracking/],
  ]);
  expectIssues(route('    canary: [{ lane: beta, byHeader: x-ring, byHeaderPattern: "(?=a)b" }]'), [
    [13, '"(?=a)b"', 'routes[0].canary[0].byHeaderPattern', 'unsafe-regex', /lookaround \(\?= is not supported/],
  ]);
});

test('a bad semver range', () => {
  expectIssues(route('    rules: [{ lane: beta, appVersion: { header: x-app-version, range: "version two" } }]'), [
    [13, '"version two"', 'routes[0].rules[0].appVersion.range', 'bad-semver', /not a valid semver range: "version two"/],
  ]);
});

test('app version conditions: bounds, tags, pattern and prerelease are checked where they are written', () => {
  const rule = (body: string) => route(`    rules: [{ lane: beta, appVersion: { ${body} } }]`);
  expectIssues(rule('header: x-app-version, min: 2.x'), [
    [13, '2.x', 'routes[0].rules[0].appVersion.min', 'bad-version', /"2\.x" is not a version: expected a number at character 3/],
  ]);
  expectIssues(rule('header: x-app-version, range: ">=3.0.0-beta.2"'), [
    [13, '">=3.0.0-beta.2"', 'routes[0].rules[0].appVersion.range', 'bad-semver', /names a prerelease tag .*prerelease: exclude/],
  ]);
  expectIssues(rule('header: x-app-version, range: ">=2.4.0.1234"'), [
    [13, '">=2.4.0.1234"', 'routes[0].rules[0].appVersion.range', 'bad-semver', /use min \/ max/],
  ]);
  expectIssues(rule('header: user-agent, pattern: "MyApp/[0-9.]+", range: ">=2"'), [
    [13, '"MyApp/[0-9.]+"', 'routes[0].rules[0].appVersion.pattern', 'invalid-value', /needs a capture group around the version/],
  ]);
  expectIssues(rule('header: user-agent, pattern: "MyApp/(([0-9]+[.])+)", range: ">=2"'), [
    [13, '"MyApp', 'routes[0].rules[0].appVersion.pattern', 'unsafe-regex', /nested quantifier/],
  ]);
  expectIssues(rule('header: x-app-version'), [[13, 'appVersion', 'routes[0].rules[0].appVersion', 'invalid-value', /set range, min or max/]]);
  expectIssues(rule('header: x-app-version, range: ">=2", prerelease: maybe'), [
    [13, 'maybe', 'routes[0].rules[0].appVersion.prerelease', 'invalid-value', /must be include or exclude/],
  ]);
  expectIssues(rule('header: x-app-version, min: 2.10, max: 2.9'), [
    [13, '2.9', 'routes[0].rules[0].appVersion.max', 'invalid-value', /can never match: max 2\.9 is below min 2\.10/],
  ]);
  assert.doesNotThrow(() => parseSpec(rule('header: x-app-version, min: 2.4, max: 2.4.0'), 'gl.yaml'), 'equal bounds: one version');
  assert.doesNotThrow(() => parseSpec(rule('header: x-app-version, min: 3.0.0-beta, max: 3.0.0, prerelease: exclude'), 'gl.yaml'));
  // Unquoted numbers are versions as written: 2.10 is not 2.1.
  const spec = parseSpec(rule('header: x-app-version, min: 2.10, max: 3, prerelease: exclude'), 'gl.yaml');
  assert.deepEqual(spec.routes[0]!.rules[0]!.appVersion, { from: { kind: 'header', name: 'x-app-version' }, min: '2.10', max: '3', prerelease: 'exclude' });
});

test('negative weights and an all-zero split', () => {
  expectIssues(route('    split: { stable: -1, beta: 1 }'), [[13, '-1', 'routes[0].split.stable', 'out-of-range', /must be a whole number from 0 to 1000000.*got -1/]]);
  expectIssues(route('    split: { stable: 0, beta: 0 }'), [[13, 'split', 'routes[0].split', 'zero-split', /all weights are 0/]]);
  expectIssues(route('    split: {}'), [[13, 'split', 'routes[0].split', 'invalid-value', /at least one lane a weight/]]);
  expectIssues(route('    canary: [{ lane: beta, weight: 200 }]'), [[13, '200', 'routes[0].canary[0].weight', 'out-of-range', /at most weightTotal \(100\), got 200/]]);
});

test('percent outside 0..100 or finer than a bucket', () => {
  expectIssues(route('    rules: [{ lane: beta, percent: 101 }]'), [[13, '101', 'routes[0].rules[0].percent', 'out-of-range', /must be <= 100, got 101/]]);
  expectIssues(route('    mirror: { lane: beta, percent: -5 }'), [[13, '-5', 'routes[0].mirror.percent', 'out-of-range', /must be >= 0, got -5/]]);
  expectIssues(route('    rules: [{ lane: beta, percent: 10.125 }]'), [[13, '10.125', 'routes[0].rules[0].percent', 'invalid-value', /at most two decimals/]]);
});

test('duplicate routes: same name, same match, or same default name', () => {
  expectIssues(route('    name: shop', '  - name: shop', '    match: { pathPrefix: /x }', '    service: web'), [
    [14, 'shop', 'routes[1].name', 'duplicate-route', /route name "shop" is already used by routes\[0\]/],
  ]);
  expectIssues(route('  - match: { host: PROD.example.com, pathPrefix: / }', '    service: api'), [
    [13, 'match', 'routes[1].match', 'duplicate-route', /same match as routes\[0\] \(prod\.example\.com, pathPrefix \/\): this route would never be used/],
  ]);
  expectIssues(route('  - match: { host: prod.example.com, path: /a }', '    service: web', '  - match: { host: prod.example.com, pathPrefix: /a }', '    service: web'), [
    [15, 'match', 'routes[2]', 'duplicate-route', /default name "prod\.example\.com\/a" is already used by routes\[1\]; give one of them a name/],
  ]);
  expectIssues(route('    rules: [{ name: a, lane: beta }, { name: a, lane: alpha }]'), [
    [13, 'a, lane: alpha', 'routes[0].rules[1].name', 'duplicate-name', /already used by rules\[0\]/],
  ]);
});

test('bad endpoint URLs', () => {
  const withEndpoint = (url: string) => route().replace('http://127.0.0.1:9101', url);
  expectIssues(withEndpoint('ftp://127.0.0.1'), [[5, 'ftp', 'services.web.versions.beta[0]', 'bad-url', /absolute http:\/\/, https:\/\/, h2c:\/\/ or h2:\/\/ URL/]]);
  expectIssues(withEndpoint('127.0.0.1:9101'), [[5, '127.0.0.1:9101', 'services.web.versions.beta[0]', 'bad-url', /http:\/\//]]);
  expectIssues(withEndpoint('http://127.0.0.1:99999'), [[5, 'http://127.0.0.1:99999', 'services.web.versions.beta[0]', 'bad-url', /not a valid URL/]]);
  expectIssues(withEndpoint('http://h/x?y=1'), [[5, 'http://h', 'services.web.versions.beta[0]', 'bad-url', /no query/]]);
  expectIssues(withEndpoint('http://user:pw@h'), [[5, 'http://user', 'services.web.versions.beta[0]', 'bad-url', /credentials/]]);
  // A path prefix is fine.
  assert.ok(parseSpec(withEndpoint('https://h.internal:8443/api/v2'), 'gl.yaml'));
  // HTTP/2 endpoints: a port is required, a path prefix refused (it would break /package.Service/Method).
  assert.ok(parseSpec(withEndpoint('h2c://10.0.0.5:50051'), 'gl.yaml'));
  assert.ok(parseSpec(withEndpoint('h2://grpc.internal:8443'), 'gl.yaml'));
  expectIssues(withEndpoint('h2c://10.0.0.5'), [[5, 'h2c://10.0.0.5', 'services.web.versions.beta[0]', 'bad-url', /an h2c:\/\/ endpoint needs a port, e.g. h2c:\/\/10\.0\.0\.5:50051/]]);
  expectIssues(withEndpoint('h2://h:8443/api'), [[5, 'h2://h:8443/api', 'services.web.versions.beta[0]', 'bad-url', /an h2:\/\/ endpoint takes no path prefix/]]);
  expectIssues(withEndpoint('h3://h:443'), [[5, 'h3', 'services.web.versions.beta[0]', 'bad-url', /absolute http:\/\/, https:\/\/, h2c:\/\/ or h2:\/\/ URL/]]);
});

test('bad durations and sizes', () => {
  expectIssues(route().replace('services:', 'timeouts: { connect: 5 sec, idle: 0 }\nservices:'), [
    [1, '5 sec', 'timeouts.connect', 'bad-duration', /must be a duration like 250ms, 5s.*got "5 sec"/],
    [1, '0 }', 'timeouts.idle', 'bad-duration', /longer than 0/],
  ]);
  expectIssues(route().replace('services:', 'mirror: { maxBodyBytes: 1 megabyte }\nservices:'), [
    [1, '1 megabyte', 'mirror.maxBodyBytes', 'bad-size', /must be a size like 512, 64kb, 1mb/],
  ]);
  expectIssues(route('    visitorCookie: { maxAge: 500d }'), [[13, '500d', 'routes[0].visitorCookie.maxAge', 'bad-duration', /at most 400d/]]);
  expectIssues(route().replace('services:', 'drain: 30d\nservices:'), [[1, '30d', 'drain', 'bad-duration', /at most 24d/]]);
});

test('bad listen addresses', () => {
  expectIssues(route().replace('services:', 'listen: 8080\nservices:'), [[1, '8080', 'listen', 'bad-listen', /must be host:port.*got 8080/]]);
  expectIssues(route().replace('services:', 'listen: 127.0.0.1:99999\nservices:'), [[1, '127', 'listen', 'bad-listen', /port must be 0\.\.65535/]]);
});

test('listen: a list of addresses and listener mappings, normalized; a string gives no listeners key', () => {
  assert.equal(parseSpec(route().replace('services:', 'listen: 0.0.0.0:8080\nservices:'), 'gl.yaml').listeners, undefined);
  const spec = parseSpec(
    route().replace(
      'services:',
      [
        'listen:',
        '  - 0.0.0.0:8080',
        '  - { address: 0.0.0.0:8081, h2c: true }',
        '  - address: 0.0.0.0:8443',
        '    tls: { certificates: [{ cert: a.crt, key: a.key }, { cert: b.crt, key: b.key }], ciphers: ECDHE-ECDSA-AES128-GCM-SHA256 }',
        '    http2: true',
        '  - { address: 0.0.0.0:8000, redirect: https }',
        '  - { address: 0.0.0.0:8001, redirect: "https:8443" }',
        'mesh: { listen: { address: 127.0.0.1:9081, h2c: true } }',
        'services:',
      ].join('\n'),
    ),
    'gl.yaml',
  );
  assert.equal(spec.listen, '0.0.0.0:8080');
  assert.deepStrictEqual(spec.listeners, [
    { address: '0.0.0.0:8080', http2: false, h2c: false },
    { address: '0.0.0.0:8081', http2: false, h2c: true },
    {
      address: '0.0.0.0:8443',
      http2: true,
      h2c: false,
      tls: { certificates: [{ cert: 'a.crt', key: 'a.key' }, { cert: 'b.crt', key: 'b.key' }], minVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
    },
    { address: '0.0.0.0:8000', http2: false, h2c: false, redirectHttpsPort: 443 },
    { address: '0.0.0.0:8001', http2: false, h2c: false, redirectHttpsPort: 8443 },
  ]);
  assert.deepStrictEqual(spec.mesh, { listen: '127.0.0.1:9081', listener: { address: '127.0.0.1:9081', http2: false, h2c: true } });
  assert.deepStrictEqual(parseSpec(route().replace('services:', 'mesh: { listen: 127.0.0.1:9081 }\nservices:'), 'gl.yaml').mesh, { listen: '127.0.0.1:9081' });
});

test('listen: combinations that cannot serve are refused, each saying what to write instead', () => {
  const at = (lines: string[]): string => route().replace('services:', [...lines, 'services:'].join('\n'));
  expectIssues(at(['listen:', '  - { address: 0.0.0.0:8443, h2c: true, tls: { certificates: [{ cert: a, key: b }] } }']), [
    [2, 'true', 'listen[0].h2c', 'invalid-value', /h2c is clear-text HTTP\/2; on a TLS listener write `http2: true`/],
  ]);
  expectIssues(at(['listen:', '  - { address: 0.0.0.0:8080, http2: true }']), [
    [2, 'true', 'listen[0].http2', 'invalid-value', /http2 is HTTP\/2 over TLS .* needs `tls`; for clear-text HTTP\/2 with prior knowledge write `h2c: true`/],
  ]);
  expectIssues(at(['listen:', '  - { address: 0.0.0.0:8443, redirect: https, tls: { certificates: [{ cert: a, key: b }] } }']), [
    [2, 'https', 'listen[0].redirect', 'invalid-value', /redirect is for a plain HTTP\/1.1 listener/],
  ]);
  expectIssues(at(['listen:', '  - 0.0.0.0:8080', '  - { address: 0.0.0.0:8080, h2c: true }']), [
    [3, '{', 'listen[1]', 'invalid-value', /address 0.0.0.0:8080 is also listen\[0\]/],
  ]);
  // Port 0 is a free port for each.
  assert.equal(parseSpec(at(['listen: [127.0.0.1:0, { address: 127.0.0.1:0, h2c: true }]']), 'gl.yaml').listeners?.length, 2);
  expectIssues(at(['listen:', '  - { address: 0.0.0.0:8443, tls: { certificates: [] } }']), [
    [2, 'certificates', 'listen[0].tls.certificates', 'invalid-value', /at least 1 item/],
  ]);
  expectIssues(at(['listen:', '  - { address: 0.0.0.0:8443, tls: { certificates: [{ cert: a }], minVersion: TLSv1.1 } }']), [
    [2, '{ cert: a }', 'listen[0].tls.certificates[0].key', 'missing-key', /missing required key "key"/],
    [2, 'TLSv1.1', 'listen[0].tls.minVersion', 'invalid-value', /must be one of "TLSv1.2", "TLSv1.3"/],
  ]);
  expectIssues(at(['listen:', '  - { address: 0.0.0.0:80, redirect: http }']), [[2, 'http }', 'listen[0].redirect', 'invalid-value', /must be https or https:PORT/]]);
  expectIssues(at(['listen:', '  - { address: 0.0.0.0:80, redirect: "https:99999" }']), [[2, '"https', 'listen[0].redirect', 'invalid-value', /1\.\.65535/]]);
  // The typo explains the missing `address`: one issue.
  expectIssues(at(['listen:', '  - { adress: 0.0.0.0:80 }']), [[2, 'adress', 'listen[0].adress', 'unknown-key', /did you mean address\?/]]);
  expectIssues(at(['listen: []']), [[1, 'listen', 'listen', 'bad-listen', /at least 1 item/]]);
  expectIssues(at(['listen: [127.0.0.1:99999]']), [[1, '127', 'listen[0]', 'bad-listen', /port must be 0\.\.65535/]]);
  expectIssues(at(['mesh: { listen: { address: 127.0.0.1:9081, redirect: https } }']), [[1, 'https', 'mesh.listen.redirect', 'invalid-value', /mesh.listen cannot redirect/]]);
});

test('users: numbers are taken as written, other non-strings are rejected', () => {
  const spec = parseSpec(route('    rules: [{ lane: beta, users: [1001, "1002", 007, 1.50] }]'), 'gl.yaml');
  assert.deepStrictEqual(spec.routes[0]!.rules[0]!.users, ['1001', '1002', '007', '1.50']);
  expectIssues(route('    rules: [{ lane: beta, users: [u1, true, { id: 2 }] }]'), [
    [13, 'true', 'routes[0].rules[0].users[1]', 'wrong-type', /must be a string \(quote it\) or a number, got true/],
    [13, '{ id', 'routes[0].rules[0].users[2]', 'wrong-type', /got a mapping/],
  ]);
  expectIssues(route('    identity: []', '    rules: [{ lane: beta, users: [u1] }]'), [
    [14, 'users', 'routes[0].rules[0].users', 'invalid-value', /can never match: the route has no identity sources/],
  ]);
});

test('an empty versions map', () => {
  expectIssues(route().replace('    versions:\n      stable: [http://127.0.0.1:9201]\n      alpha: [http://127.0.0.1:9301]', '    versions: {}'), [
    [7, 'versions', 'services.api.versions', 'empty-versions', /at least one version/],
  ]);
});

test('conditions that must come alone or together', () => {
  expectIssues(route().replace('{ host: prod.example.com }', '{ path: /a, pathPrefix: /b }'), [
    [11, 'match', 'routes[0].match', 'invalid-value', /set path or pathPrefix, not both/],
  ]);
  expectIssues(route('    rules: [{ lane: beta, appVersion: { header: v, query: v, range: ">=1" } }]'), [
    [13, 'appVersion', 'routes[0].rules[0].appVersion', 'invalid-value', /exactly one of header, query, cookie/],
  ]);
  expectIssues(route('    rules: [{ lane: beta, cookie: { name: c } }]'), [
    [13, 'cookie', 'routes[0].rules[0].cookie', 'invalid-value', /exactly one of equals, in, pattern, present/],
  ]);
  expectIssues(route('    canary: [{ lane: beta }]'), [[13, '{ lane', 'routes[0].canary[0]', 'invalid-value', /needs byHeader, byCookie or weight/]]);
  expectIssues(route('    canary: [{ lane: beta, byHeaderValue: on, weight: 1 }]'), [
    [13, 'byHeaderValue', 'routes[0].canary[0].byHeaderValue', 'missing-key', /byHeaderValue needs byHeader/],
  ]);
  expectIssues(route('    rules: [{ lane: beta, query: { name: q, present: false } }]'), [
    [13, 'false', 'routes[0].rules[0].query.present', 'invalid-value', /must be true \(present: false is not supported\)/],
  ]);
});

test('names, hosts and header values', () => {
  expectIssues(route().replace('  api:', '  "my api":'), [[6, '"my api"', 'services["my api"]', 'bad-name', /key "my api" must be a name of letters/]]);
  expectIssues(route().replace('prod.example.com', 'prod.example.com:8080'), [[11, 'prod', 'routes[0].match.host', 'invalid-value', /without port/]]);
  expectIssues(route('    rules: [{ lane: beta, headers: { set: { x-a: "a\\nb" } } }]'), [
    [13, '"a', 'routes[0].rules[0].headers.set.x-a', 'invalid-value', /without line breaks/],
  ]);
  expectIssues(route().replace('services:', 'laneHeader: X-Lane\nlaneAliases: [x-lane]\nservices:'), [
    [2, 'x-lane', 'laneAliases[0]', 'invalid-value', /is the laneHeader itself/],
  ]);
});

test('the document must be a mapping', () => {
  expectIssues('', [[1, '', '', 'wrong-type', /must be a mapping, got nothing/]]);
  expectIssues('- a\n- b', [[1, '-', '', 'wrong-type', /must be a mapping, got a list/]]);
  // Another file at the config path (a token, a key): named for what it is, its content not quoted.
  const secret = 'Zk3q9V1mPp7xR2sT8uY4wA6bC0dE5fG1hJ2kL';
  expectIssues(secret, [[1, 'Zk3q9V1mPp7xR2sT8uY4wA6bC0dE5fG1hJ2kL', '', 'wrong-type', /must be a mapping, got text that is not YAML key: value lines$/]]);
});

test('several problems are reported at once, in file order', () => {
  const text = [
    'listen: localhost', //                                   1
    'services:', //                                          2
    '  web:', //                                             3
    '    versions:', //                                      4
    '      stable: [http://127.0.0.1:9001]', //              5
    '      beta: [htp://127.0.0.1:9101]', //                 6
    'routes:', //                                            7
    '  - match: { host: a.example.com, pathPrefx: / }', //   8
    '    service: shop', //                                  9
    '    rules:', //                                        10
    '      - { lane: beta, path: { regex: "(x+)*" } }', //  11
    '      - { lane: beta, percent: 150 }', //              12
    '    split: { stable: -3, gamma: 1 }', //              13
  ].join('\n');
  expectIssues(text, [
    [1, 'localhost', 'listen', 'bad-listen', /host:port/],
    [6, 'htp', 'services.web.versions.beta[0]', 'bad-url', /http/],
    [8, 'pathPrefx', 'routes[0].match.pathPrefx', 'unknown-key', /did you mean pathPrefix\?/],
    [9, 'shop', 'routes[0].service', 'unknown-service', /unknown service "shop"/],
    [11, '"(x+)*"', 'routes[0].rules[0].path.regex', 'unsafe-regex', /nested quantifier/],
    [12, '150', 'routes[0].rules[1].percent', 'out-of-range', /<= 100/],
    [13, '-3', 'routes[0].split.stable', 'out-of-range', /from 0 to/],
    [13, 'gamma', 'routes[0].split.gamma', 'unknown-lane', /gamma/],
  ]);
});

test('a path with a % not followed by two hex digits: it could never match a request (those are refused)', () => {
  expectIssues(route('    rules: [{ lane: beta, path: { contains: "/100%" } }]'), [
    [13, '"/100%"', 'routes[0].rules[0].path.contains', 'invalid-value', /has a % not followed by two hex digits \(%25 for a literal %\)/],
  ]);
  expectIssues([...BASE.slice(0, 10), '  - match: { pathPrefix: /a%zz }', '    service: web'].join('\n'), [
    [11, '/a%zz', 'routes[0].match.pathPrefix', 'invalid-value', /% not followed by two hex digits/],
  ]);
  // Well-formed escapes, in either case, are accepted.
  parseSpec(route('    rules: [{ lane: beta, path: { prefix: "/new%2dcheckout%2F" } }]'), 'gl.yaml');
});
test('decide: the proxy is required and named, pathPrefix is Envoy\'s alone, listen is checked', () => {
  const spec = parseSpec(route().replace('services:', 'decide: { proxy: envoy, pathPrefix: /graylane }\nservices:'), 'gl.yaml');
  assert.deepStrictEqual(spec.decide, { listen: '127.0.0.1:8082', proxy: 'envoy', noRoute: 'pass', pathPrefix: '/graylane' });
  assert.equal(parseSpec(route(), 'gl.yaml').decide, undefined);
  expectIssues(route().replace('services:', 'decide: { listen: 127.0.0.1:8082 }\nservices:'), [[1, 'decide', 'decide.proxy', 'missing-key', /missing required key "proxy"/]]);
  expectIssues(route().replace('services:', 'decide: { proxy: haproxy, noRoute: block }\nservices:'), [
    [1, 'haproxy', 'decide.proxy', 'invalid-value', /must be traefik, nginx, ingress-nginx, envoy or apisix/],
    [1, 'block', 'decide.noRoute', 'invalid-value', /must be pass or deny/],
  ]);
  expectIssues(route().replace('services:', 'decide: { proxy: nginx, pathPrefix: /graylane }\nservices:'), [
    [1, '/graylane', 'decide.pathPrefix', 'invalid-value', /Envoy's ext_authz path_prefix; proxy nginx/],
  ]);
  expectIssues(route().replace('services:', 'decide: { proxy: envoy, pathPrefix: /graylane/ }\nservices:'), [
    [1, '/graylane/', 'decide.pathPrefix', 'invalid-value', /no trailing \//],
  ]);
  expectIssues(route().replace('services:', 'decide: { proxy: traefik, listen: 127.0.0.1:99999 }\nservices:'), [
    [1, '127', 'decide.listen', 'bad-listen', /port must be 0\.\.65535/],
  ]);
});

test('decide.report: syslog, http or both; sampleOneIn 1..1000; addresses checked', () => {
  const decide = (report: string) => parseSpec(route().replace('services:', `decide: { proxy: nginx, report: ${report} }\nservices:`), 'gl.yaml').decide?.report;
  assert.deepStrictEqual(decide('{ syslog: 127.0.0.1:5140 }'), { sampleOneIn: 1, syslog: '127.0.0.1:5140' });
  assert.deepStrictEqual(decide('{ http: 127.0.0.1:8083, sampleOneIn: 10 }'), { sampleOneIn: 10, http: '127.0.0.1:8083' });
  const issues = (report: string) => route().replace('services:', `decide: { proxy: nginx, report: ${report} }\nservices:`);
  expectIssues(issues('{ sampleOneIn: 10 }'), [[1, 25, 'decide.report', 'invalid-value', /needs syslog, http or both/]]);
  expectIssues(issues('{ syslog: 127.0.0.1:5140, sampleOneIn: 0 }'), [[1, '0 }', 'decide.report.sampleOneIn', 'out-of-range', /1/]]);
  expectIssues(issues('{ syslog: 127.0.0.1:5140, sampleOneIn: 2.5 }'), [[1, '2.5', 'decide.report.sampleOneIn', 'wrong-type', /must be a whole number/]]);
  expectIssues(issues('{ http: 127.0.0.1:70000 }'), [[1, '127', 'decide.report.http', 'bad-listen', /port must be 0\.\.65535/]]);
});
