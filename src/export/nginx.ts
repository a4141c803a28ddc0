/**
 * `graylane export nginx`: the nginx side of decide mode for a graylane spec (docs/integrations.md),
 * written as one file for nginx's `http {}` context (Debian: /etc/nginx/conf.d/graylane.conf).
 * Pure: a Spec in, the text and its warnings out; nothing is read or written here.
 *
 * What it writes:
 * - an `upstream` per version with static endpoints, and one for the decision listener;
 * - a `server` per host the routes name (exact, wildcard, and the default server for routes
 *   without a host), with one `location` per route that graylane's first-match order lets match
 *   there (nginx picks the longest prefix; a route an earlier one shadows is left out, so both agree
 *   on which route a path belongs to);
 * - in each location, `auth_request` to the decision listener, the answer's lane, version, baggage
 *   and visitor cookie copied with `auth_request_set`, and a `map` from the version graylane
 *   decided to the upstream, the service's fallback version by default;
 * - `error_page 500` to a named location that serves the fallback version: nginx turns an
 *   auth_request that fails (listener down, 5xx, timeout) into a 500, which then falls back;
 * - outcome reporting (decide.report.syslog): a JSON `log_format` sent with
 *   `access_log syslog:...,tag=graylane` (src/decide/report.ts reads it); with
 *   decide.report.sampleOneIn N > 1, one in N outcomes below 500 (split_clients on the connection
 *   and request serial numbers, independent of status and time) carrying `"w":"N"`, and every 5xx;
 * - the decision cache on routes whose decisions depend on the identity alone
 *   (src/decide/cache.ts): `proxy_cache` on the auth location, keyed by (route, identity), bypassed
 *   for anonymous requests and requests with baggage; graylane's answer says whether and how long.
 *
 * With `lua` (`--lua`, nginx-lua.ts), for an nginx with lua-nginx-module: the decision cache is a
 * `lua_shared_dict` read in the access phase (a hit costs no subrequest; a miss asks graylane with
 * ngx.location.capture of the same internal location), and outcomes are counted in nginx and posted
 * to decide.report.http once a second, aggregated, instead of one syslog line per request.
 *
 * What nginx cannot express is an ExportError naming the config key; what it leaves out (mirrors,
 * rule header changes) is a warning.
 */
import { createHash } from 'node:crypto';
import type { RouteSpec, Spec, ValueSource } from '../spec/types.js';
import { parseListen } from '../spec/units.js';
import { DECISION_TTL_SECONDS, routeCaching } from '../decide/cache.js';
import { VERSION_HEADER } from '../decide/server.js';
import { REPORT_TAG } from '../decide/report.js';
import { luaCount, luaDecide, luaHttpLines, type LuaPlan } from './nginx-lua.js';

export interface NginxExportOptions {
  /** nginx's `listen` for the servers written (default `80`); options after the address (`80 backlog=4096`) go on the default server only. */
  listen?: string;
  /** proxy_cache_path of the decision cache (default /var/cache/nginx/graylane). */
  cacheDir?: string;
  /** The config file, named in the header comment. */
  source?: string;
  /** Write the Lua tier (nginx-lua.ts): needs lua-nginx-module (Debian: libnginx-mod-http-lua). */
  lua?: boolean;
  /** With `lua`: a file holding GRAYLANE_REPORT_TOKEN, read by nginx's master when it loads the config. */
  reportTokenFile?: string;
}

/** One thing nginx cannot express, with the config key it comes from. */
export interface ExportIssue {
  key: string;
  message: string;
}

export class ExportError extends Error {
  constructor(readonly issues: readonly ExportIssue[]) {
    super(issues.map((i) => `${i.key}: ${i.message}`).join('\n'));
    this.name = 'ExportError';
  }
}

export interface ExportResult {
  text: string;
  /** What the output leaves out, each with its key. */
  warnings: ExportIssue[];
}

/** A route as the exporter places it: its index in spec.routes, its nginx location. */
interface PlacedRoute {
  index: number;
  route: RouteSpec;
  /** `= /exact` or `/prefix`. */
  location: string;
  /** For shadowing: an exact path, or the prefix. */
  exact: string | undefined;
  prefix: string;
}

const ZONE = 'graylane_decisions';

/**
 * Writes the nginx config. Throws ExportError listing everything nginx cannot express.
 *
 * @example
 * const { text, warnings } = exportNginx(loadSpecFile('graylane.yaml'), { listen: '80' });
 */
export function exportNginx(spec: Spec, opts: NginxExportOptions = {}): ExportResult {
  const issues: ExportIssue[] = [];
  const warnings: ExportIssue[] = [];
  const decideAt = decideAddress(spec, issues);
  const lua = opts.lua === true;
  const luaReport = lua ? luaReportTarget(spec, issues, warnings) : null;
  // Outcomes over syslog, one line per request: the plain output, or the Lua tier without decide.report.http.
  const reportAt = luaReport === null ? reportAddress(spec, warnings) : null;
  if (!lua && opts.reportTokenFile !== undefined) issues.push({ key: '--report-token-file', message: 'is read by the Lua tier only: add --lua' });
  const sampleOneIn = spec.decide?.report?.sampleOneIn ?? 1;
  const reportIf = sampleOneIn > 1 ? ' if=$gl_report' : '';
  const services = Object.keys(spec.services);
  const serviceIndex = new Map(services.map((s, i) => [s, i]));
  const upstreams = serviceUpstreams(spec, issues, warnings);
  const placed = placeRoutes(spec, issues, warnings);
  const cached = new Map<number, CacheKey>();
  const notCached = new Map<number, string>();
  for (const p of placed) {
    if (cached.has(p.index) || notCached.has(p.index)) continue;
    const key = cacheKeyOf(p, warnings);
    if (typeof key === 'string') notCached.set(p.index, key);
    else cached.set(p.index, key);
  }
  if (issues.length > 0) throw new ExportError(issues);

  const out: string[] = [];
  const w = (line = '') => out.push(line);
  w(`# Written by \`graylane export nginx\`${opts.source ? ` from ${opts.source}` : ''}: the nginx side of graylane's decide mode`);
  w('# (docs/integrations.md). Include it in the http {} block. Do not edit: change the graylane config and export again.');
  w(`# graylane answers at decide.listen ${decideAt}; nginx dispatches by the version it answers.`);
  if (lua) {
    w("# The Lua tier (--lua): needs nginx's Lua module loaded in the main context. Debian: apt-get install");
    w('# libnginx-mod-http-lua (its nginx.conf loads /etc/nginx/modules-enabled/*.conf); elsewhere, before events {}:');
    w('#   load_module modules/ndk_http_module.so; load_module modules/ngx_http_lua_module.so;');
    w('# It uses init_by_lua_block and init_worker_by_lua_block: nginx takes one of each per http {}.');
  }
  for (const warning of warnings) w(`# left out: ${warning.key}: ${warning.message}`);
  w();
  w('upstream graylane_decide {');
  w(`    server ${decideAt};`);
  w('    keepalive 32;');
  w('}');
  for (const [svc, versions] of upstreams) {
    for (const [version, servers] of versions) {
      w(`upstream ${upstreamName(svc, version)} {`);
      for (const s of servers) w(`    server ${s};`);
      w('    keepalive 16;');
      w('}');
    }
  }
  w();
  w('# The version graylane decided -> its upstream. No answer (listener down: see error_page below) or a');
  w("# version without static endpoints here -> the service's fallback version.");
  for (const [svc, versions] of upstreams) {
    const i = serviceIndex.get(svc)!;
    const fallback = spec.services[svc]!.fallback;
    w(`map $graylane_version $gl_upstream_${i} {    # service ${svc}`);
    for (const version of versions.keys()) w(`    ${quoteValue(version)} ${upstreamName(svc, version)};`);
    w(`    default ${upstreamName(svc, fallback)};`);
    w('}');
    w(`map $graylane_version $gl_version_${i} {`);
    for (const version of versions.keys()) w(`    ${quoteValue(version)} ${quoteValue(version)};`);
    w(`    default ${quoteValue(fallback)};`);
    w('}');
  }
  w('# Upgrades (WebSocket) pass to the chosen version; other requests keep the upstream connection alive.');
  w('map $http_upgrade $gl_connection {');
  w('    "" "";');
  w('    default upgrade;');
  w('}');
  w('# No answer (no route, or the fallback): the client\'s baggage goes on as it came.');
  w('map $graylane_baggage $gl_baggage_out {');
  w('    "" $http_baggage;');
  w('    default $graylane_baggage;');
  w('}');
  if (reportAt !== null) {
    w();
    w(`# Outcomes for graylane's rollout analysis (decide.report.syslog ${reportAt}); src/decide/report.ts reads them.`);
    if (sampleOneIn > 1) writeSampling(w, sampleOneIn);
    const weight = sampleOneIn > 1 ? ',"w":"$gl_weight"' : '';
    for (const [svc] of upstreams) {
      const i = serviceIndex.get(svc)!;
      w(`log_format graylane_outcome_${i} escape=json '{"route":"$gl_route","service":"${svc}","version":"$gl_version_${i}","lane":"$graylane_lane","status":"$status","time":"$request_time"${weight}}';`);
    }
  }
  if (cached.size > 0) {
    w();
    w('# Decisions of routes that depend on the identity alone, for as long as graylane says (X-Accel-Expires).');
    if (!lua) w(`proxy_cache_path ${quoteValue(opts.cacheDir ?? '/var/cache/nginx/graylane')} levels=1:2 keys_zone=${ZONE}:10m max_size=64m inactive=60s use_temp_path=off;`);
    for (const [index, key] of cached) {
      w(`# routes[${index}]: the identity is the first non-empty of ${key.sources.join(', ')}`);
      key.maps.forEach((m) => w(m));
      if (lua) continue; // the Lua tier tests the identity itself
      w(`map $gl_identity_${index} $gl_anonymous_${index} {`);
      w('    "" 1;');
      w('    default "";');
      w('}');
    }
  }

  if (lua) {
    w();
    const outcomes = luaReport === null ? 'over syslog (decide.report.http is not set)' : `counted here, posted to decide.report.http ${luaReport.host}:${luaReport.port} once a second`;
    w(`# The Lua tier: decisions cached in a lua_shared_dict, ${DECISION_TTL_SECONDS} s at most; outcomes ${outcomes}.`);
    const plan: LuaPlan = {
      routes: [...new Map(placed.map((p) => [p.index, p])).values()].map((p) => ({
        index: p.index,
        name: p.route.name,
        service: p.route.service,
        fallback: spec.services[p.route.service]!.fallback,
        identityVar: cached.has(p.index) ? `gl_identity_${p.index}` : null,
        versionVar: `gl_version_${serviceIndex.get(p.route.service)!}`,
      })),
      lanes: knownLanes(spec),
      laneHeader: spec.laneHeader.toLowerCase(),
      versionHeader: VERSION_HEADER,
      ttlSeconds: DECISION_TTL_SECONDS,
      generation: generationOf(spec),
      report: luaReport === null ? null : { ...luaReport, tokenFile: opts.reportTokenFile },
    };
    luaHttpLines(plan).forEach((line) => w(line));
  }

  const [listenAt, ...options] = (opts.listen ?? '80').trim().split(/\s+/);
  const listenOptions = options.length > 0 ? ` ${options.join(' ')}` : '';
  for (const server of servers(placed)) {
    w();
    w('server {');
    // nginx takes listen options (backlog=, reuseport...) once per address: on the default server.
    w(`    listen ${server.names === null ? `${listenAt} default_server${listenOptions}` : listenAt};`);
    w(`    server_name ${server.names === null ? '""' : server.names};`);
    for (const p of server.routes) {
      const svc = p.route.service;
      const i = serviceIndex.get(svc)!;
      const fallback = spec.services[svc]!.fallback;
      const key = cached.get(p.index);
      w();
      w(`    location ${p.location} {    # routes[${p.index}] ${p.route.name} -> service ${svc}`);
      if (reportAt !== null) w(`        set $gl_route ${quoteValue(p.route.name)};`);
      if (lua) {
        // Declared here, set by the Lua tier in the access phase ($gl_key: the identity it sends graylane).
        w('        set $gl_key "";');
        for (const v of ['graylane_lane', 'graylane_version', 'graylane_baggage', 'graylane_cookie']) w(`        set $${v} "";`);
        w(`        ${luaDecide(p.index)}`);
      } else {
        if (key !== undefined) w(`        set $gl_key_${p.index} $gl_identity_${p.index};    # read here: the auth subrequest has no query string`);
        w(`        auth_request /_graylane/${p.index};`);
        w(`        auth_request_set $graylane_lane $upstream_http_${varName(spec.laneHeader)};`);
        w(`        auth_request_set $graylane_version $upstream_http_${varName(VERSION_HEADER)};`);
        w('        auth_request_set $graylane_baggage $upstream_http_baggage;');
        w('        auth_request_set $graylane_cookie $upstream_http_set_cookie;');
      }
      w(`        error_page 500 = @gl_fallback_${p.index};    # the decision failed: serve the fallback version`);
      for (const h of laneHeaders(spec)) w(`        proxy_set_header ${h} $graylane_lane;    # empty: not sent, so a client's own is dropped`);
      w('        proxy_set_header baggage $gl_baggage_out;');
      w('        add_header Set-Cookie $graylane_cookie;    # empty: not added');
      if (spec.exposeLane) w(`        add_header ${spec.laneHeader} $graylane_lane;`);
      proxyCommon(w, spec);
      if (reportAt !== null) w(`        access_log syslog:server=${reportAt},tag=${REPORT_TAG},nohostname graylane_outcome_${i}${reportIf};`);
      if (luaReport !== null) w(`        ${luaCount(p.index)}`);
      w(`        proxy_pass http://$gl_upstream_${i};`);
      w('    }');
      w(`    location @gl_fallback_${p.index} {${lua ? '    # the Lua tier failed (a bug): as when auth_request fails' : ''}`);
      if (reportAt !== null) w(`        set $gl_route ${quoteValue(p.route.name)};`);
      w(`        set $graylane_lane ${quoteValue(fallback)};`);
      for (const h of laneHeaders(spec)) w(`        proxy_set_header ${h} $graylane_lane;`);
      w('        proxy_set_header baggage $http_baggage;');
      proxyCommon(w, spec);
      if (reportAt !== null) w(`        access_log syslog:server=${reportAt},tag=${REPORT_TAG},nohostname graylane_outcome_${i}${reportIf};`);
      if (luaReport !== null) w(`        ${luaCount(p.index)}`);
      w(`        proxy_pass http://${upstreamName(svc, fallback)};`);
      w('    }');
      w(`    location = /_graylane/${p.index} {`);
      w('        internal;');
      w('        proxy_pass http://graylane_decide;');
      w('        proxy_method GET;    # graylane does not read the method; GET lets POSTs share cached decisions');
      w('        proxy_pass_request_body off;');
      w('        proxy_set_header Content-Length "";');
      w('        proxy_set_header X-Original-URI $request_uri;');
      w('        proxy_set_header Host $host;');
      w('        proxy_http_version 1.1;');
      w('        proxy_set_header Connection "";');
      w('        proxy_connect_timeout 1s;');
      w('        proxy_send_timeout 1s;');
      w('        proxy_read_timeout 1s;');
      if (lua) {
        // proxy_* hides X-Accel-Expires by default; the Lua tier reads it to know whether it may store the answer.
        w('        proxy_pass_header X-Accel-Expires;');
        w(`        proxy_set_header X-Graylane-Route ${key !== undefined ? quoteValue(p.route.name) : '""'};${key !== undefined ? '' : `    # not cached: ${notCached.get(p.index)}`}`);
        w('        proxy_set_header X-Graylane-Identity $gl_key;');
      } else if (key !== undefined) {
        w(`        proxy_set_header X-Graylane-Route ${quoteValue(p.route.name)};`);
        w(`        proxy_set_header X-Graylane-Identity $gl_key_${p.index};`);
        w(`        proxy_cache ${ZONE};`);
        w(`        proxy_cache_key "${p.index} $gl_key_${p.index}";`);
        w(`        proxy_cache_bypass $gl_anonymous_${p.index} $http_baggage;`);
        w(`        proxy_no_cache $gl_anonymous_${p.index} $http_baggage;`);
      } else {
        w(`        # not cached: ${notCached.get(p.index)}`);
        w('        proxy_set_header X-Graylane-Route "";');
        w('        proxy_set_header X-Graylane-Identity "";');
      }
      w('    }');
    }
    if (!server.routes.some((p) => p.exact === undefined && p.prefix === '/')) {
      w();
      w('    location / {    # no graylane route: 404, as the gateway answers');
      w('        return 404;');
      w('    }');
    }
    w('}');
  }
  return { text: `${out.join('\n')}\n`, warnings };
}

/** Proxy settings shared by a route's location and its fallback. */
function proxyCommon(w: (line: string) => void, spec: Spec): void {
  w('        proxy_set_header Host $host;');
  w('        proxy_http_version 1.1;');
  w('        proxy_set_header Upgrade $http_upgrade;');
  w('        proxy_set_header Connection $gl_connection;');
  w(`        proxy_connect_timeout ${Math.max(1, Math.ceil(spec.timeouts.connectMs))}ms;`);
  w(`        proxy_read_timeout ${Math.max(1, Math.ceil(Math.max(spec.timeouts.headersMs, spec.timeouts.idleMs)))}ms;`);
  w(`        proxy_send_timeout ${Math.max(1, Math.ceil(spec.timeouts.idleMs))}ms;`);
}

function laneHeaders(spec: Spec): string[] {
  return [...new Set([spec.laneHeader, ...spec.laneAliases].map((h) => h.toLowerCase()))];
}

/**
 * decide.report.http as the Lua tier's timer connects to it (an IP address: a cosocket resolves
 * names only with a `resolver`), or null (with a warning) when not set: then outcomes go over syslog.
 */
function luaReportTarget(spec: Spec, issues: ExportIssue[], warnings: ExportIssue[]): { host: string; port: number } | null {
  const http = spec.decide?.report?.http;
  if (http === undefined) {
    warnings.push({ key: 'decide.report.http', message: 'not set: the Lua tier cannot post aggregated outcomes, so each is sent over syslog (decide.report.syslog) when that is set' });
    return null;
  }
  const at = connectable(http, 'decide.report.http', issues);
  const parsed = parseListen(at.replace(/^\[(.*)\]/, '$1'));
  if (parsed === undefined) return null;
  if (!/^[0-9.]+$|:/.test(parsed.host)) issues.push({ key: 'decide.report.http', message: `host ${parsed.host}: the Lua tier connects to an IP address (nginx resolves names only with a resolver): write 127.0.0.1 or the address` });
  return { host: parsed.host, port: parsed.port };
}

/** Every lane name the config has (versions, rules, canaries, splits, pinned lanes): the Lua tier counts others as `_other`. */
function knownLanes(spec: Spec): string[] {
  const lanes = new Set<string>();
  for (const service of Object.values(spec.services)) for (const v of Object.keys(service.versions)) lanes.add(v);
  for (const r of spec.routes) {
    if (r.lane !== undefined) lanes.add(r.lane);
    for (const rule of r.rules) lanes.add(rule.lane);
    for (const c of r.canary) lanes.add(c.lane);
    for (const l of Object.keys(r.split ?? {})) lanes.add(l);
  }
  return [...lanes];
}

/** A short hash of what decisions depend on: a re-exported config never reads the last one's cached decisions. */
function generationOf(spec: Spec): string {
  return createHash('sha256').update(JSON.stringify([spec.routes, spec.services])).digest('hex').slice(0, 8);
}

/** decide.listen as an address nginx can connect to. */
function decideAddress(spec: Spec, issues: ExportIssue[]): string {
  const decide = spec.decide;
  if (decide === undefined) {
    issues.push({ key: 'decide', message: 'missing: export nginx writes the auth_request wiring to the decision listener; add decide: { listen: 127.0.0.1:8082, proxy: nginx }' });
    return '';
  }
  if (decide.proxy !== 'nginx') issues.push({ key: 'decide.proxy', message: `is ${decide.proxy}; the exported config sends nginx's check request (X-Original-URI), so set proxy: nginx` });
  return connectable(decide.listen, 'decide.listen', issues);
}

/**
 * One in `n` outcomes below 500 is reported, with weight n; every 5xx is reported with weight 1, so
 * error counts stay exact and a rare error is seen at once. The split hashes the connection and
 * request serial numbers (unique per request, unrelated to status or time), so the sample is an
 * unbiased one; split_clients takes percentages with two decimals (n = 3: 33.33%, 0.01% short).
 */
function writeSampling(w: (line?: string) => void, n: number): void {
  w(`# decide.report.sampleOneIn ${n}: one in ${n} outcomes below 500 is reported, counted ${n} times; every 5xx is reported, counted once.`);
  w('split_clients "$connection:$connection_requests" $gl_sampled {');
  w(`    ${(100 / n).toFixed(2)}% 1;`);
  w('    * "";');
  w('}');
  w('map $status $gl_report {');
  w('    ~^5 1;');
  w('    default $gl_sampled;');
  w('}');
  w('map $status $gl_weight {');
  w('    ~^5 1;');
  w(`    default ${n};`);
  w('}');
}

function reportAddress(spec: Spec, warnings: ExportIssue[]): string | null {
  const syslog = spec.decide?.report?.syslog;
  if (syslog === undefined) {
    warnings.push({ key: 'decide.report', message: 'not set: nginx reports no outcomes, so builtin rollout analysis sees no traffic; set decide.report.syslog' });
    return null;
  }
  const issues: ExportIssue[] = [];
  const at = connectable(syslog, 'decide.report.syslog', issues);
  if (issues.length > 0) {
    warnings.push(...issues);
    return null;
  }
  return at;
}

/** A listen address as one to connect to: a wildcard host becomes loopback; port 0 cannot be reached. */
function connectable(listen: string, key: string, issues: ExportIssue[]): string {
  const parsed = parseListen(listen);
  if (parsed === undefined) {
    issues.push({ key, message: `"${listen}" is not host:port` });
    return '';
  }
  if (parsed.port === 0) issues.push({ key, message: 'port 0 picks a free port at start: nginx needs the port, so set one' });
  const host = parsed.host === '0.0.0.0' || parsed.host === '' ? '127.0.0.1' : parsed.host === '::' ? '::1' : parsed.host;
  return host.includes(':') ? `[${host}]:${parsed.port}` : `${host}:${parsed.port}`;
}

/** service -> version -> `host:port` servers, for versions with static endpoints. */
function serviceUpstreams(spec: Spec, issues: ExportIssue[], warnings: ExportIssue[]): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  for (const [svc, service] of Object.entries(spec.services)) {
    const versions = new Map<string, string[]>();
    for (const [version, v] of Object.entries(service.versions)) {
      const servers: string[] = [];
      v.endpoints.forEach((url, i) => {
        const key = `services.${svc}.versions.${version}.endpoints[${i}]`;
        let u: URL;
        try {
          u = new URL(url);
        } catch {
          issues.push({ key, message: `${JSON.stringify(url)} is not a URL` });
          return;
        }
        if (u.protocol !== 'http:') issues.push({ key, message: `${u.protocol.slice(0, -1)} endpoints are not written yet: the exported upstreams speak http` });
        if (u.pathname !== '/' && u.pathname !== '') issues.push({ key, message: `a path (${u.pathname}) on an endpoint: nginx cannot prefix a path per upstream server` });
        servers.push(u.port === '' ? `${u.hostname}:80` : `${u.hostname}:${u.port}`);
      });
      if (servers.length > 0) versions.set(version, servers);
      else warnings.push({ key: `services.${svc}.versions.${version}`, message: 'no static endpoints (registered ones are not known at export): its lane goes to the fallback version' });
    }
    if (!versions.has(service.fallback)) {
      issues.push({ key: `services.${svc}.fallback`, message: `the fallback version ${service.fallback} has no static endpoints: nginx would have nothing to fall back to` });
    }
    out.set(svc, versions);
  }
  return out;
}

/** `gl_<service>__<version>`: names allow letters, digits, `.`, `_`, `-`, all valid in an upstream name. */
function upstreamName(service: string, version: string): string {
  return `gl_${service}__${version}`;
}

/** nginx's `$upstream_http_`/`$http_` suffix of a header name. */
function varName(header: string): string {
  return header.toLowerCase().replace(/-/g, '_');
}

/** Each route with its location, or an issue when nginx cannot match the path graylane matches. */
function placeRoutes(spec: Spec, issues: ExportIssue[], warnings: ExportIssue[]): PlacedRoute[] {
  const out: PlacedRoute[] = [];
  spec.routes.forEach((route, index) => {
    const key = `routes[${index}]`;
    const { path, pathPrefix } = route.match;
    if (/[$\x00-\x1f\x7f]/.test(route.name)) {
      issues.push({ key: `${key}.name`, message: `${JSON.stringify(route.name)}: nginx cannot write $ or a control character in a value` });
      return;
    }
    if (route.mirror !== undefined) warnings.push({ key: `${key}.mirror`, message: 'nginx does not mirror by lane: not written' });
    route.rules.forEach((r, i) => {
      if (r.headers !== undefined) warnings.push({ key: `${key}.rules[${i}].headers`, message: 'header changes are not part of the decision: not applied' });
    });
    for (const [name, value] of [['path', path], ['pathPrefix', pathPrefix]] as const) {
      if (value === undefined) continue;
      // nginx matches locations on the decoded path; graylane keeps reserved characters encoded.
      if (/%[0-9A-Fa-f]{2}/.test(value)) issues.push({ key: `${key}.match.${name}`, message: `${JSON.stringify(value)}: nginx matches locations on the percent-decoded path, so an encoded character cannot be matched as graylane matches it` });
      if (/[\\"$\s\x00-\x1f\x7f]/.test(value)) issues.push({ key: `${key}.match.${name}`, message: `${JSON.stringify(value)}: a space, quote, backslash, $ or control character cannot be written in an nginx location` });
    }
    if (path !== undefined) {
      if (pathPrefix !== undefined && !path.startsWith(pathPrefix)) {
        warnings.push({ key: `${key}.match`, message: `path ${path} does not start with pathPrefix ${pathPrefix}: the route never matches` });
        return;
      }
      out.push({ index, route, location: `= ${quoteLocation(path)}`, exact: path, prefix: path });
      return;
    }
    const prefix = pathPrefix === undefined || pathPrefix === '' ? '/' : pathPrefix;
    if (!prefix.startsWith('/')) issues.push({ key: `${key}.match.pathPrefix`, message: `${JSON.stringify(prefix)} does not start with /: nginx locations do` });
    out.push({ index, route, location: quoteLocation(prefix), exact: undefined, prefix });
  });
  return out;
}

/** True when every path `later` matches, `earlier` matches too (graylane then never reaches `later`). */
function shadows(earlier: PlacedRoute, later: PlacedRoute): boolean {
  if (earlier.exact !== undefined) return later.exact === earlier.exact;
  return (later.exact ?? later.prefix).startsWith(earlier.prefix);
}

interface ServerBlock {
  /** server_name value; null for the default server. */
  names: string | null;
  routes: PlacedRoute[];
}

/**
 * One server per exact host, per wildcard host, and a default server (routes without a host; 404
 * for everything else). Each server holds the routes graylane would try for its hosts, in declared
 * order, less those an earlier one shadows; nginx's longest-prefix choice among them is then
 * graylane's first match.
 */
function servers(placed: PlacedRoute[]): ServerBlock[] {
  const hostOf = (p: PlacedRoute) => p.route.match.host?.toLowerCase().replace(/(?<=.)\.$/, '');
  const hosts = [...new Set(placed.map(hostOf).filter((h): h is string => h !== undefined))];
  const wildcardCovers = (pattern: string, host: string) =>
    pattern.startsWith('*.') && (host.startsWith('*.') ? host.endsWith(pattern.slice(1)) && host.length >= pattern.length : host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1);
  const blocks: ServerBlock[] = hosts.map((host) => ({
    names: host,
    routes: visible(placed.filter((p) => {
      const h = hostOf(p);
      return h === undefined || h === host || wildcardCovers(h, host);
    })),
  }));
  blocks.push({ names: null, routes: visible(placed.filter((p) => hostOf(p) === undefined)) });
  return blocks;
}

/** The routes no earlier one shadows, in order. */
function visible(routes: PlacedRoute[]): PlacedRoute[] {
  const out: PlacedRoute[] = [];
  for (const r of routes) if (!out.some((e) => shadows(e, r))) out.push(r);
  return out;
}

interface CacheKey {
  /** The sources, as nginx variables, for the comment. */
  sources: string[];
  /** `map` blocks that set $gl_identity_<index> to the first non-empty source. */
  maps: string[];
}

/**
 * How nginx reads a cacheable route's identity; otherwise why its decisions are not cached (for a
 * comment in the output): src/decide/cache.ts's reason, a pinned lane, or a source without an nginx variable.
 */
function cacheKeyOf(p: PlacedRoute, warnings: ExportIssue[]): CacheKey | string {
  const caching = routeCaching(p.route, undefined);
  if (!caching.cacheable) return caching.reason;
  // One answer for every request: a check costs what a cache lookup would.
  if (p.route.lane !== undefined) return `the route pins lane ${p.route.lane}: there is nothing to key by`;
  const vars: string[] = [];
  for (const [i, s] of p.route.identity.entries()) {
    const v = nginxVariable(s);
    if (v === null) {
      warnings.push({ key: `routes[${p.index}].identity[${i}]`, message: `nginx has no variable for ${s.kind} ${s.name}: decisions of this route are not cached` });
      return `nginx has no variable for the identity ${s.kind}:${s.name}`;
    }
    vars.push(v);
  }
  // $gl_identity_<i> = first non-empty of vars, as a chain of maps (nginx has no coalesce).
  const maps: string[] = [];
  const name = (k: number) => (k === 0 ? `$gl_identity_${p.index}` : `$gl_identity_${p.index}_${k}`);
  for (let k = 0; k < vars.length - 1; k++) {
    const next = k + 1 === vars.length - 1 ? vars[k + 1]! : name(k + 1);
    maps.push(`map ${vars[k]} ${name(k)} {`, `    "" ${next};`, `    default ${vars[k]};`, '}');
  }
  if (vars.length === 1) maps.push(`map ${vars[0]} ${name(0)} {`, `    default ${vars[0]};`, '}');
  return { sources: vars, maps };
}

/** `$http_x_user_id`, `$cookie_uid`, `$arg_uid`; null when the name has characters an nginx variable cannot. */
function nginxVariable(s: ValueSource): string | null {
  if (s.kind === 'header') return /^[A-Za-z0-9-]+$/.test(s.name) ? `$http_${varName(s.name)}` : null;
  if (!/^[A-Za-z0-9_]+$/.test(s.name)) return null;
  return s.kind === 'cookie' ? `$cookie_${s.name}` : `$arg_${s.name}`;
}

/** A value in double quotes, `\` and `"` escaped. nginx has no escape for `$`: route names are checked first, other names cannot hold one. */
function quoteValue(value: string): string {
  if (/[$\x00-\x1f\x7f]/.test(value)) throw new ExportError([{ key: 'name', message: `${JSON.stringify(value)}: nginx cannot write $ or a control character in a value` }]);
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function quoteLocation(path: string): string {
  return /^[A-Za-z0-9/._~!*+,:@=-]+$/.test(path) ? path : `"${path.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
