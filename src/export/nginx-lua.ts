/**
 * The Lua tier of `graylane export nginx --lua` (docs/integrations.md, "The Lua tier"): the same
 * decisions and outcomes as the plain auth_request output, at a fraction of nginx's CPU, for an
 * nginx with lua-nginx-module (Debian: libnginx-mod-http-lua). Pure: text in, text out.
 *
 * - Decisions: a route whose decisions depend on the identity alone (src/decide/cache.ts) keeps
 *   graylane's answers in a `lua_shared_dict`, keyed as the proxy_cache key is (route, identity
 *   value; never anonymous, never with baggage), for the TTL graylane's answer gives and never longer
 *   than DECISION_TTL_SECONDS. A hit costs a dictionary lookup, no subrequest. A miss asks graylane
 *   with ngx.location.capture of the route's internal `/_graylane/<i>` location (the same check
 *   request as auth_request sends) and stores the answer only when graylane said it may
 *   (`X-Accel-Expires`, given only after it confirmed the route and identity nginx keys by).
 * - Outcomes: `log_by_lua` counts each finished request per (route, service, version, lane, status,
 *   latency cell) in a table of its worker (no lock, no I/O); each worker posts its counts to
 *   graylane's `POST /report` once a second as aggregated outcomes (`"n"`: the count, `"time"`:
 *   their mean), so analysis sees every request at the cost of a report a second per worker. The latency cell is the
 *   pair (fine bucket, Prometheus bucket) of src/traffic/latency.ts, so the mean of a cell falls in
 *   the buckets each of its requests did and graylane's histograms come out as if each had been
 *   reported alone.
 *
 * All Lua is written inline (init_by_lua_block and friends): the exported file needs nothing else
 * installed beside the module.
 */
import { MAX_REPORT_ITEMS } from '../decide/report-http.js';
import { GROWTH, LATENCY_BUCKETS, LATENCY_BUCKETS_SECONDS, MIN_MS } from '../traffic/latency.js';

/** One route as the Lua tier decides and counts it. */
export interface LuaRoute {
  index: number;
  name: string;
  service: string;
  /** The service's fallback lane (and version): served when graylane does not answer. */
  fallback: string;
  /** The nginx variable (no `$`) holding the identity, for routes whose decisions are cached; else null. */
  identityVar: string | null;
  /** The nginx variable (no `$`) holding the version that served (`gl_version_<service index>`). */
  versionVar: string;
}

export interface LuaPlan {
  routes: LuaRoute[];
  /** Every lane name the config knows; any other lane is counted as `_other`, as the recorder does. */
  lanes: string[];
  /** graylane's lane header (lower case), read from its answer. */
  laneHeader: string;
  /** The answer header naming the version. */
  versionHeader: string;
  /** The longest a decision is kept, whatever an answer says. */
  ttlSeconds: number;
  /** Changes whenever the exported routes do, so a reload never serves another route's decisions. */
  generation: string;
  /** decide.report.http to post outcomes to; null when outcomes are not aggregated here. */
  report: { host: string; port: number; tokenFile: string | undefined } | null;
}

/** The shared dict's name (nginx-wide: one exported file per nginx). */
export const DECISIONS_DICT = 'graylane_decisions';

/** How often each worker posts the outcomes it counted, seconds. */
export const REPORT_EVERY_SECONDS = 1;

/** Outcomes per POST: well under MAX_REPORT_ITEMS and, at ~150 bytes each, under the 1 MiB body limit. */
const ITEMS_PER_REPORT = Math.min(5000, MAX_REPORT_ITEMS);

/**
 * A Lua string literal for any text: `\`, `"` and every byte outside printable ASCII as a decimal
 * escape (Lua 5.1 `\ddd`), so nothing in a name can end the string or the nginx block around it.
 */
export function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    if (byte === 0x5c || byte === 0x22 || byte < 0x20 || byte > 0x7e) out += `\\${String(byte).padStart(3, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return `${out}"`;
}

/** The http {} lines of the tier: the shared dict, the code, and the reporting timer. */
export function luaHttpLines(plan: LuaPlan): string[] {
  const routes = plan.routes.map((r) => {
    const identity = r.identityVar === null ? 'nil' : luaString(r.identityVar);
    const prefix = luaString(`${plan.generation} ${r.index} `);
    const head = luaString(`${r.name}\t${r.service}\t`);
    return `    [${r.index}] = { fallback = ${luaString(r.fallback)}, identity = ${identity}, prefix = ${prefix}, head = ${head}, version = ${luaString(r.versionVar)}, check = "/_graylane/${r.index}" },`;
  });
  const lanes = ['""', ...plan.lanes.map(luaString)].map((l) => `[${l}] = true`).join(', ');
  const promMs = LATENCY_BUCKETS_SECONDS.map((s) => String(s * 1000)).join(', ');
  const report = plan.report;
  const lines = [
    `lua_shared_dict ${DECISIONS_DICT} 16m;    # cached decisions: (route, identity) -> lane, version, baggage`,
    'init_by_lua_block {',
    '  -- graylane\'s Lua tier: decisions cached in nginx, outcomes counted in nginx (docs/integrations.md).',
    '  graylane = (function()',
    `    local decisions = ngx.shared.${DECISIONS_DICT}`,
    '    local var, capture, exit = ngx.var, ngx.location.capture, ngx.exit',
    '    local find, sub, byte, match, format, lower = string.find, string.sub, string.byte, string.match, string.format, string.lower',
    '    local ceil, floor, log, min, max = math.ceil, math.floor, math.log, math.min, math.max',
    `    local TTL = ${plan.ttlSeconds}    -- seconds a decision is kept at most, whatever an answer says`,
    `    local LANE_HEADER, VERSION_HEADER = ${luaString(plan.laneHeader)}, ${luaString(plan.versionHeader)}`,
    '    local ROUTES = {',
    ...routes,
    '    }',
    `    local LANES = { ${lanes} }`,
    '',
    '    local function apply(lane, version, baggage, cookie)',
    '      var.graylane_lane = lane',
    '      if version ~= "" then var.graylane_version = version end',
    '      if baggage ~= "" then var.graylane_baggage = baggage end',
    '      if cookie ~= "" then var.graylane_cookie = cookie end',
    '    end',
    '',
    '    -- A stored decision is "lane\\nversion\\nbaggage"; anything else is not one.',
    '    local function stored(v)',
    '      if type(v) ~= "string" then return nil end',
    '      local a = find(v, "\\n", 1, true)',
    '      if a == nil then return nil end',
    '      local b = find(v, "\\n", a + 1, true)',
    '      if b == nil or find(v, "\\n", b + 1, true) then return nil end',
    '      return sub(v, 1, a - 1), sub(v, a + 1, b - 1), sub(v, b + 1)',
    '    end',
    '',
    '    -- The answer\'s headers by lower-case name; false for a repeated one (not a decision).',
    '    local function headers(res)',
    '      local out = {}',
    '      for k, v in pairs(res.header) do',
    '        local name = lower(k)',
    '        if out[name] ~= nil or type(v) ~= "string" then out[name] = false else out[name] = v end',
    '      end',
    '      return out',
    '    end',
    '',
    '    local M = {}',
    '',
    '    -- Access phase: the lane, version, baggage and visitor cookie of this request, from the',
    '    -- cache or from graylane; the fallback lane when graylane does not answer (as error_page',
    '    -- does for auth_request); 401 and 403 are the answer, as auth_request returns them.',
    '    function M.decide(i)',
    '      local route = ROUTES[i]',
    '      local identity, key = "", nil',
    '      if route.identity ~= nil then',
    '        identity = var[route.identity] or ""',
    '        if identity ~= "" and var.http_baggage == nil then',
    '          key = route.prefix .. identity',
    '          local hit = decisions:get(key)',
    '          if hit ~= nil then',
    '            local lane, version, baggage = stored(hit)',
    '            if lane ~= nil then return apply(lane, version, baggage, "") end',
    '            decisions:delete(key)',
    '          end',
    '        end',
    '      end',
    '      local res = capture(route.check, { vars = { gl_key = identity } })',
    '      local status = res.status',
    '      if status == 401 or status == 403 then return exit(status) end',
    '      if status < 200 or status > 299 or res.truncated then return apply(route.fallback, "", "", "") end',
    '      local h = headers(res)',
    '      local lane, version, baggage, cookie = h[LANE_HEADER], h[VERSION_HEADER], h["baggage"], h["set-cookie"]',
    '      if lane == false or version == false or baggage == false or cookie == false then return apply(route.fallback, "", "", "") end',
    '      lane, version, baggage, cookie = lane or "", version or "", baggage or "", cookie or ""',
    '      apply(lane, version, baggage, cookie)',
    '      -- Stored only when graylane said so (it confirmed this route and identity), never with a cookie.',
    '      local ttl = h["x-accel-expires"]',
    '      ttl = type(ttl) == "string" and match(ttl, "^%d+$") and tonumber(ttl) or nil',
    '      if key ~= nil and ttl ~= nil and ttl > 0 and cookie == "" and lane ~= "" then',
    '        decisions:set(key, lane .. "\\n" .. version .. "\\n" .. baggage, min(ttl, TTL))',
    '      end',
    '    end',
    '',
    `    local MIN_MS, LOG_GROWTH, FINE = ${MIN_MS}, log(${GROWTH}), ${LATENCY_BUCKETS}`,
    `    local PROM = { ${promMs} }    -- ms`,
    '',
    '    -- src/traffic/latency.ts: the fine bucket and the Prometheus bucket of a duration.',
    '    local function cell(ms)',
    '      local f = 0',
    '      if ms > MIN_MS then f = min(ceil(log(ms / MIN_MS) / LOG_GROWTH), FINE - 1) end',
    '      local p = 0',
    '      while p < #PROM and ms > PROM[p + 1] do p = p + 1 end',
    '      return f, p',
    '    end',
    '',
    '    -- This worker\'s counts since its last report: key -> { requests, sum of their ms }.',
    '    local counts = {}',
    '',
    '    -- Log phase: one more request of (route, service, version, lane, status, latency cell).',
    '    function M.count(i)',
    '      local route = ROUTES[i]',
    '      local lane = var.graylane_lane or ""',
    '      if LANES[lane] == nil then lane = "_other" end',
    '      local ms = (tonumber(var.request_time) or 0) * 1000',
    '      local f, p = cell(ms)',
    '      local key = route.head .. (var[route.version] or "") .. "\\t" .. lane .. "\\t" .. var.status .. "\\t" .. f .. ":" .. p',
    '      local c = counts[key]',
    '      if c == nil then counts[key] = { 1, ms } else c[1] = c[1] + 1; c[2] = c[2] + ms end',
    '    end',
  ];
  if (report !== null) lines.push(...reportLines(report));
  lines.push('    return M', '  end)()', '}');
  if (report !== null) {
    lines.push(
      'init_worker_by_lua_block {',
      '  -- Each worker reports what it counted.',
      `  local ok, err = ngx.timer.every(${REPORT_EVERY_SECONDS}, graylane.report)`,
      '  if not ok then ngx.log(ngx.ERR, "graylane: no outcome report timer: ", err) end',
      '}',
    );
  }
  return lines;
}

/** The reporting half of the code: take the counts, post them, put them back if graylane did not take them. */
function reportLines(report: NonNullable<LuaPlan['report']>): string[] {
  const host = report.host.includes(':') ? `[${report.host}]` : report.host;
  const token = report.tokenFile === undefined
    ? ['    local AUTH = ""    -- no token: graylane answers loopback peers only']
    : [
        '    -- Read once, by the master (as root), when the config is loaded: the token is not in this file.',
        '    local AUTH',
        '    do',
        `      local path = ${luaString(report.tokenFile)}`,
        '      local file, err = io.open(path, "r")',
        '      if file == nil then error("graylane: cannot read the report token file: " .. tostring(err)) end',
        '      local text, rerr = file:read("*a")    -- nil for a directory (io.open opens one)',
        '      file:close()',
        '      if text == nil then error("graylane: cannot read the report token file " .. path .. ": " .. tostring(rerr)) end',
        '      local token = match(text, "^%s*(.-)%s*$")',
        '      if token == "" or find(token, "[%c ]") then error("graylane: the report token file " .. path .. " is empty or holds a control character or space") end',
        '      AUTH = "Authorization: Bearer " .. token .. "\\r\\n"',
        '    end',
      ];
  return [
    '',
    `    local REPORT_HOST, REPORT_PORT = ${luaString(report.host)}, ${report.port}`,
    ...token,
    '',
    '    -- A JSON string of a name (route names may hold quotes and any printable character).',
    '    local function json(s)',
    '      return \'"\' .. s:gsub(\'[%c"\\\\]\', function(c) return format("\\\\u%04x", byte(c)) end) .. \'"\'',
    '    end',
    '',
    '    -- The bounds of a latency cell (ms): the mean of a cell is kept inside them, in whole µs.',
    '    local function bounds_us(f, p)',
    `      local lo = f == 0 and 0 or MIN_MS * ${GROWTH} ^ (f - 1)`,
    `      local hi = MIN_MS * ${GROWTH} ^ f`,
    '      if f == FINE - 1 then hi = math.huge end',
    '      if p > 0 then lo = max(lo, PROM[p]) end',
    '      if p < #PROM then hi = min(hi, PROM[p + 1]) end',
    '      return (lo == 0 and 0 or floor(lo * 1000) + 1), (hi == math.huge and hi or floor(hi * 1000))',
    '    end',
    '',
    '    -- Takes this worker\'s counts (a swap: nothing runs between the two lines) as outcome lines.',
    '    local function take()',
    '      local taken = counts',
    '      counts = {}',
    '      local items, keys = {}, {}',
    '      for k, c in pairs(taken) do',
    '        local route, service, version, lane, status, f, p = match(k, "^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(%d+)\\t(%d+):(%d+)$")',
    '        if route ~= nil then',
    '          local lo, hi = bounds_us(tonumber(f), tonumber(p))',
    '          local us = min(max(floor(c[2] / c[1] * 1000 + 0.5), lo), hi)',
    '          items[#items + 1] = format(\'{"route":%s,"service":%s,"version":%s,"lane":%s,"status":%s,"time":"%d.%06d","n":%d}\',',
    '            json(route), json(service), json(version), json(lane), status, floor(us / 1000000), us % 1000000, c[1])',
    '          keys[#keys + 1] = k',
    '        end',
    '      end',
    '      return items, keys, taken',
    '    end',
    '',
    '    -- Counts a report did not deliver go back, to be sent with the next one.',
    '    local function put_back(keys, first, last, taken)',
    '      for j = first, last do',
    '        local k = keys[j]',
    '        local t, c = taken[k], counts[k]',
    '        if c == nil then counts[k] = t else c[1] = c[1] + t[1]; c[2] = c[2] + t[2] end',
    '      end',
    '    end',
    '',
    '    -- POST /report with one batch (NDJSON); the answer\'s status, or nil and why.',
    '    local function post(body)',
    '      local sock = ngx.socket.tcp()',
    '      sock:settimeouts(1000, 2000, 2000)',
    '      local ok, err = sock:connect(REPORT_HOST, REPORT_PORT)',
    '      if not ok then return nil, "connect: " .. tostring(err) end',
    `      ok, err = sock:send("POST /report HTTP/1.1\\r\\nHost: " .. ${luaString(`${host}:${report.port}`)} .. "\\r\\n" .. AUTH ..`,
    '        "Content-Type: application/x-ndjson\\r\\nContent-Length: " .. #body .. "\\r\\nConnection: close\\r\\n\\r\\n" .. body)',
    '      if not ok then sock:close(); return nil, "send: " .. tostring(err) end',
    '      local line',
    '      line, err = sock:receive("*l")',
    '      sock:close()',
    '      if line == nil then return nil, "no answer: " .. tostring(err) end',
    '      local status = tonumber(match(line, "^HTTP/1%.%d (%d%d%d)"))',
    '      if status == nil then return nil, "not an HTTP answer" end',
    '      return status',
    '    end',
    '',
    '    -- The timer, in every worker: what it counted since the last run, in batches. Unreached',
    '    -- (graylane down, a 5xx): put back for the next run. Refused (401, 403, 4xx): dropped, logged.',
    '    -- On exit (a reload, a stop: premature) the last counts are sent once.',
    '    function M.report(premature)',
    '      local items, keys, taken = take()',
    `      for first = 1, #items, ${ITEMS_PER_REPORT} do`,
    `        local last = min(first + ${ITEMS_PER_REPORT - 1}, #items)`,
    '        local status, err = post(table.concat(items, "\\n", first, last))',
    '        if status == nil or status >= 500 then',
    '          put_back(keys, first, last, taken)',
    '          ngx.log(ngx.WARN, "graylane: outcome report not delivered (", err or status, "): ", last - first + 1, " counts kept for the next report")',
    '        elseif status >= 300 then',
    '          ngx.log(ngx.ERR, "graylane: outcome report refused with ", status, ": ", last - first + 1, " counts dropped (is the report token right?)")',
    '        end',
    '      end',
    '    end',
  ];
}

/** The access-phase line of route `index`'s location. */
export function luaDecide(index: number): string {
  return `access_by_lua_block { graylane.decide(${index}) }`;
}

/** The log-phase line of route `index`'s location (and its fallback). */
export function luaCount(index: number): string {
  return `log_by_lua_block { graylane.count(${index}) }`;
}
