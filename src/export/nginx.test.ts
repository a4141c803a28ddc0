import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../spec/index.js';
import { ExportError, exportNginx } from './nginx.js';

const HEAD = ['decide: { listen: 127.0.0.1:8082, proxy: nginx, report: { syslog: 127.0.0.1:5140 } }', 'services:', '  web: { versions: { stable: [http://127.0.0.1:9001], beta: [http://127.0.0.1:9101] } }'];

function exported(lines: string[], head = HEAD) {
  return exportNginx(parseSpec([...head, ...lines].join('\n'), 'gl.yaml'), { listen: '127.0.0.1:8080', cacheDir: '/tmp/c' });
}

function issues(lines: string[], head = HEAD): string[] {
  try {
    exported(lines, head);
  } catch (err) {
    assert.ok(err instanceof ExportError);
    return err.issues.map((i) => `${i.key}: ${i.message}`);
  }
  return assert.fail('expected an ExportError');
}

/** The location lines of the server named `name` ('""' for the default server). */
function locations(text: string, name: string): string[] {
  const start = text.indexOf(`server_name ${name};`);
  assert.ok(start >= 0, `no server ${name}`);
  const end = text.indexOf('\n}', start);
  return [...text.slice(start, end).matchAll(/^ {4}location (?!@|= \/_graylane)(.*?) \{/gm)].map((m) => m[1]!);
}

test('locations follow graylane\'s first match: a shadowed route is left out; routes without a host join every server', () => {
  const { text } = exported([
    'routes:',
    '  - { name: api-v2, match: { host: shop.example.com, pathPrefix: /api/v2 }, service: web }',
    '  - { name: api, match: { host: shop.example.com, pathPrefix: /api }, service: web }',
    '  - { name: api-v3, match: { host: shop.example.com, pathPrefix: /api/v3 }, service: web }',
    '  - { name: exact, match: { host: shop.example.com, path: /login }, service: web }',
    '  - { name: any, match: { pathPrefix: /static/ }, service: web }',
    '  - { name: wild, match: { host: "*.example.com", pathPrefix: / }, service: web }',
  ]);
  // api-v3 is behind api (graylane tries api first and it matches every /api/v3 path).
  assert.deepEqual(locations(text, 'shop.example.com'), ['/api/v2', '/api', '= /login', '/static/', '/']);
  assert.deepEqual(locations(text, '*.example.com'), ['/static/', '/']);
  assert.deepEqual(locations(text, '""'), ['/static/', '/'], 'the default server: routes without a host, and 404 for the rest');
  assert.match(text, /location \/ \{ {4}# no graylane route: 404/);
  // Listen options once per address (nginx refuses them twice): on the default server.
  const withOptions = exportNginx(parseSpec([...HEAD, 'routes:', '  - { name: r, match: { host: a.example.com }, service: web }'].join('\n'), 'gl.yaml'), { listen: '127.0.0.1:8080 backlog=4096' }).text;
  assert.deepEqual([...withOptions.matchAll(/^ {4}listen (.*);$/gm)].map((m) => m[1]), ['127.0.0.1:8080', '127.0.0.1:8080 default_server backlog=4096']);
});

test('what nginx cannot express is an error naming the key; nothing is half written', () => {
  const routes = ['routes:', '  - { name: r, service: web }'];
  assert.deepEqual(issues(routes, HEAD.slice(1)), ['decide: missing: export nginx writes the auth_request wiring to the decision listener; add decide: { listen: 127.0.0.1:8082, proxy: nginx }']);
  assert.match(issues(routes, ['decide: { listen: 127.0.0.1:0, proxy: traefik }', ...HEAD.slice(1)]).join('\n'), /decide.proxy: is traefik[^]*decide.listen: port 0/);
  const svc = (versions: string) => [HEAD[0]!, 'services:', `  web: { versions: { ${versions} } }`];
  assert.match(issues(routes, svc('stable: [http://127.0.0.1:9001/base]')).join('\n'), /services.web.versions.stable.endpoints\[0\]: a path \(\/base\) on an endpoint/);
  assert.match(issues(routes, svc('stable: [https://127.0.0.1:9001]')).join('\n'), /endpoints\[0\]: https endpoints are not written yet/);
  assert.match(issues(routes, svc('stable: [], beta: [http://127.0.0.1:1]')).join('\n'), /services.web.fallback: the fallback version stable has no static endpoints/);
  assert.match(issues(['routes:', '  - { name: r, match: { pathPrefix: "/a%2Fb" }, service: web }']).join('\n'), /routes\[0\].match.pathPrefix: "\/a%2Fb": nginx matches locations on the percent-decoded path/);
  assert.match(issues(['routes:', '  - { name: "r$x", service: web }']).join('\n'), /routes\[0\].name: "r\$x": nginx cannot write \$/);
});

test('what the output leaves out is a warning, also written in it', () => {
  const { text, warnings } = exported(['routes:', '  - { name: r, service: web, mirror: { lane: beta, percent: 5 }, rules: [{ lane: beta, users: ["1"], headers: { set: { x-a: "1" } } }] }'], [
    'decide: { listen: 127.0.0.1:8082, proxy: nginx }',
    ...HEAD.slice(1),
  ]);
  assert.deepEqual(warnings.map((w) => w.key), ['decide.report', 'routes[0].mirror', 'routes[0].rules[0].headers']);
  assert.match(text, /# left out: decide.report: not set: nginx reports no outcomes/);
  assert.doesNotMatch(text, /access_log syslog/);
});

test('the decision cache is written only for routes whose decisions depend on the identity alone', () => {
  const { text } = exported([
    'routes:',
    '  - { name: users, match: { pathPrefix: /u }, service: web, identity: [header:x-user-id, cookie:uid, query:uid], rules: [{ lane: beta, percent: 10 }] }',
    '  - { name: keyword, match: { pathPrefix: /k }, service: web, identity: [header:x-user-id], rules: [{ lane: beta, path: { contains: new } }] }',
    '  - { name: dash, match: { pathPrefix: /d }, service: web, identity: [cookie:my-id], rules: [{ lane: beta, percent: 10 }] }',
  ]);
  assert.match(text, /map \$http_x_user_id \$gl_identity_0 \{\n {4}"" \$gl_identity_0_1;\n {4}default \$http_x_user_id;\n\}/);
  assert.match(text, /map \$cookie_uid \$gl_identity_0_1 \{\n {4}"" \$arg_uid;/);
  assert.match(text, /proxy_cache_key "0 \$gl_key_0";/);
  assert.match(text, /proxy_cache_bypass \$gl_anonymous_0 \$http_baggage;/);
  assert.match(text, /# not cached: rule rules\[0\] reads the path/);
  assert.doesNotMatch(text, /gl_key_1|gl_key_2/);
  assert.match(text, /# left out: routes\[2\].identity\[0\]: nginx has no variable for cookie my-id/);
});

test('decide.report.sampleOneIn: one in N below 500 with weight N, every 5xx with weight 1; N = 1 writes no sampling', () => {
  const routes = ['routes:', '  - { name: shop, service: web }'];
  const sampled = exported(routes, [HEAD[0]!.replace('report: { syslog: 127.0.0.1:5140 }', 'report: { syslog: 127.0.0.1:5140, sampleOneIn: 3 }'), ...HEAD.slice(1)]).text;
  assert.match(sampled, /split_clients "\$connection:\$connection_requests" \$gl_sampled \{\n {4}33\.33% 1;\n {4}\* "";\n\}/);
  assert.match(sampled, /map \$status \$gl_report \{\n {4}~\^5 1;\n {4}default \$gl_sampled;\n\}/);
  assert.match(sampled, /map \$status \$gl_weight \{\n {4}~\^5 1;\n {4}default 3;\n\}/);
  assert.match(sampled, /"time":"\$request_time","w":"\$gl_weight"\}';/);
  // Both the decided location and the fallback report, sampled.
  assert.equal([...sampled.matchAll(/access_log syslog:server=127\.0\.0\.1:5140,tag=graylane,nohostname graylane_outcome_0 if=\$gl_report;/g)].length, 2);
  const every = exported(routes).text;
  assert.doesNotMatch(every, /split_clients|gl_weight|if=\$gl_report|"w":/);
});

test('--lua: decisions in a lua_shared_dict and outcomes counted in nginx, no proxy_cache, no syslog line per request; names quoted for Lua', () => {
  const head = ['decide: { listen: 127.0.0.1:8082, proxy: nginx, report: { syslog: 127.0.0.1:5140, http: 127.0.0.1:8083 } }', ...HEAD.slice(1)];
  const spec = parseSpec([...head, 'routes:', '  - { name: "sh\\"op\'s", match: { pathPrefix: /s }, service: web, identity: [header:x-user-id], rules: [{ lane: beta, percent: 10 }] }', '  - { name: kw, match: { pathPrefix: /k }, service: web, rules: [{ lane: beta, path: { contains: new } }] }'].join('\n'), 'gl.yaml');
  const { text } = exportNginx(spec, { listen: '127.0.0.1:8080', lua: true, reportTokenFile: '/etc/graylane/report-token' });
  assert.match(text, /lua_shared_dict graylane_decisions 16m;/);
  assert.match(text, /access_by_lua_block \{ graylane\.decide\(0\) \}/);
  assert.match(text, /log_by_lua_block \{ graylane\.count\(1\) \}/);
  assert.match(text, /local REPORT_HOST, REPORT_PORT = "127\.0\.0\.1", 8083/);
  assert.match(text, /local path = "\/etc\/graylane\/report-token"/);
  assert.match(text, /\[0\] = \{ fallback = "stable", identity = "gl_identity_0", prefix = "[0-9a-f]{8} 0 ", head = "sh\\034op's\\009web\\009"/, 'a quote in a name cannot end the Lua string');
  assert.match(text, /\[1\] = \{ fallback = "stable", identity = nil,/, 'a route reading the path is never cached');
  assert.match(text, /proxy_pass_header X-Accel-Expires;/);
  assert.doesNotMatch(text, /^\s*(proxy_cache|auth_request|access_log syslog)|\$gl_anonymous_/m);
  // Without decide.report.http the Lua tier still decides, and outcomes go over syslog, with a warning.
  const syslogOnly = exportNginx(parseSpec([...HEAD, 'routes:', '  - { name: shop, service: web }'].join('\n'), 'gl.yaml'), { lua: true });
  assert.match(syslogOnly.text, /access_log syslog:server=127\.0\.0\.1:5140/);
  assert.doesNotMatch(syslogOnly.text, /^\s*(log_by_lua|init_worker_by_lua)/m);
  assert.deepEqual(syslogOnly.warnings.map((w) => w.key), ['decide.report.http']);
});

test('--lua: what the tier cannot use is an error naming it', () => {
  const routes = ['routes:', '  - { name: r, service: web }'];
  const named = (report: string) => [`decide: { listen: 127.0.0.1:8082, proxy: nginx, report: { http: "${report}" } }`, ...HEAD.slice(1)];
  const problems = (head: string[], opts: Parameters<typeof exportNginx>[1]) => {
    try {
      exportNginx(parseSpec([...head, ...routes].join('\n'), 'gl.yaml'), opts);
    } catch (err) {
      assert.ok(err instanceof ExportError);
      return err.message;
    }
    return assert.fail('expected an ExportError');
  };
  assert.match(problems(named('localhost:8083'), { lua: true }), /decide.report.http: host localhost: the Lua tier connects to an IP address/);
  assert.match(problems(HEAD, { reportTokenFile: '/t' }), /--report-token-file: is read by the Lua tier only: add --lua/);
});
