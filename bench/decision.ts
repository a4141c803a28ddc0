/**
 * Micro-benchmark of the routing decision: matchRoute + mark + dispatch per request, in process,
 * against a route with 20 rules (a 100k-id users list, semver ranges, path regexes, header patterns,
 * cookies, query parameters, a sticky percent) plus a split. Target (issue 2): <= 2 µs per decision.
 *
 * Two request mixes: `mixed` (users, app versions, keywords, cookies, query, anonymous: a bit of
 * everything) and `worst` (matches no rule before the last, so every request walks all 20 rules and
 * hashes for the percent). Each is timed `runs` times over `decisions` requests; the median is
 * reported. Compile time of the 100k-user spec is reported once.
 *
 *   node dist/bench/decision.js [decisions=200000] [runs=5]
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Spec } from '../src/spec/types.js';
import { compile, dispatch } from '../src/routing/index.js';
import type { HealthView, MarkContext, RequestView, Snapshot } from '../src/routing/index.js';
import { ObjectHeaders } from '../src/routing/request-values.js';

export interface DecisionBenchOptions {
  /** Decisions per timed run (default 200,000). */
  decisions?: number;
  /** Timed runs per mix; the median is reported (default 5). */
  runs?: number;
}

export interface MixResult {
  /** Median nanoseconds per decision. */
  nsPerDecision: number;
  /** Fastest run: the figure least disturbed by other work on a shared machine. */
  bestNs: number;
  /** Every run, ns per decision. */
  runsNs: number[];
  /** Share of decisions per lane, for a sanity check of what was measured. */
  lanes: Record<string, number>;
}

export interface DecisionBenchResult {
  compileMs: number;
  decisions: number;
  runs: number;
  mixed: MixResult;
  worst: MixResult;
  /** Markdown summary for docs/benchmarks.md. */
  summary: string;
}

const TARGET_NS = 2000;

/** The issue's full rule set, as the loader would hand it over. */
export function decisionSpec(): Spec {
  const vips = Array.from({ length: 100_000 }, (_, i) => `vip-${i + 1}`);
  const h = (name: string) => ({ kind: 'header' as const, name });
  return {
    listen: '127.0.0.1:8080',
    laneHeader: 'x-gray-lane',
    laneAliases: ['x-mse-tag'],
    exposeLane: false,
    timeouts: { connectMs: 1000, headersMs: 5000, idleMs: 30_000, tunnelIdleMs: 3_600_000 },
    mirror: { maxConcurrent: 16, maxBodyBytes: 1 << 20 },
    accessLog: false,
    drainMs: 5000,
    services: {
      shop: {
        fallback: 'stable',
        failClosed: [],
        passiveHealth: { consecutiveFailures: 3, ejectMs: 10_000 },
        versions: {
          stable: { endpoints: ['http://127.0.0.1:19101', 'http://127.0.0.1:19103'] },
          canary: { endpoints: ['http://127.0.0.1:19102'] },
          beta: { endpoints: ['http://127.0.0.1:19102'] },
          alpha: { endpoints: ['http://127.0.0.1:19102'] },
        },
      },
    },
    routes: [
      {
        name: 'admin',
        match: { host: 'admin.example.com' },
        service: 'shop',
        lane: 'alpha',
        trustLane: false,
        identity: [],
        visitorCookie: null,
        salt: 'admin',
        rules: [],
        canary: [],
        stickySplit: false,
      },
      {
        name: 'shop',
        match: { pathPrefix: '/' },
        service: 'shop',
        trustLane: false,
        identity: [h('x-user-id'), { kind: 'cookie', name: 'uid' }, { kind: 'query', name: 'uid' }],
        visitorCookie: null,
        salt: 'bench-2026-11',
        rules: [
          { name: 'vip-users', lane: 'alpha', users: vips },
          { name: 'staff', lane: 'alpha', users: ['1001', '1002', '1003'] },
          { name: 'new-app', lane: 'beta', appVersion: { from: h('x-app-version'), range: '>=3.0.0' } },
          { name: 'old-app-beta', lane: 'beta', appVersion: { from: h('x-app-version'), range: '1.x || >=2.9.0 <3' } },
          { name: 'keyword', lane: 'beta', path: { contains: '/new-checkout' } },
          { name: 'api-v2', lane: 'beta', path: { regex: '^/api/v2/' } },
          { name: 'beta-prefix', lane: 'beta', path: { prefix: '/beta/' } },
          { name: 'debug-lane', lane: 'beta', header: { name: 'x-debug-lane', pattern: '^(beta|alpha)$' } },
          { name: 'region', lane: 'beta', header: { name: 'x-region', in: ['cd', 'sz'] } },
          { name: 'tenant', lane: 'beta', header: { name: 'x-tenant', present: true } },
          { name: 'ab-cookie', lane: 'beta', cookie: { name: 'ab', in: ['b', 'c'] } },
          { name: 'beta-cookie', lane: 'beta', cookie: { name: 'beta', equals: '1' } },
          { name: 'preview', lane: 'beta', query: { name: 'preview', equals: '1' } },
          { name: 'lane-query', lane: 'beta', query: { name: 'lane', pattern: '^b' } },
          { name: 'mobile-beta', lane: 'beta', header: { name: 'x-platform', equals: 'ios' }, path: { prefix: '/m/' } },
          { name: 'partner', lane: 'beta', header: { name: 'x-partner', equals: 'acme' }, query: { name: 'ref', equals: 'acme' } },
          { name: 'internal-ua', lane: 'alpha', header: { name: 'user-agent', pattern: 'InternalBot/' } },
          { name: 'canary-header', lane: 'canary', header: { name: 'x-canary', equals: 'always' } },
          { name: 'canary-cookie', lane: 'canary', cookie: { name: 'canary', equals: 'always' } },
          { name: 'ten-percent', lane: 'canary', percent: 10 },
        ],
        canary: [],
        split: { stable: 3, canary: 1 },
        stickySplit: false,
        mirror: { lane: 'beta', percent: 5 },
      },
    ],
  };
}

/** Headers a browser-ish client sends, so header lookups see a realistically sized object. */
function baseHeaders(i: number): Record<string, string> {
  return {
    host: 'shop.example.com',
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36',
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'accept-language': 'en-US,en;q=0.9',
    'accept-encoding': 'gzip, deflate, br',
    connection: 'keep-alive',
    cookie: `_ga=GA1.2.${1000 + i}.1700000000; session=s${i}abcdef0123456789; theme=dark; consent=yes`,
  };
}

/**
 * Headers built the way node's parser builds them (one assignment per header onto `{}`), so objects
 * with the same header names share a hidden class as they do in the gateway. Object spread would
 * give each request its own, and time V8's megamorphic lookups instead of graylane.
 */
function view(headers: Record<string, string>, path = '/products/42', query = ''): RequestView {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) h[k] = v;
  return { host: 'shop.example.com', path, query, headers: new ObjectHeaders(h) };
}

/** A bit of everything, as a front door would see it. */
function mixedRequests(n: number): RequestView[] {
  const out: RequestView[] = [];
  for (let i = 0; i < n; i++) {
    const h = baseHeaders(i);
    switch (i % 10) {
      case 0:
        out.push(view({ ...h, 'x-user-id': `vip-${1 + ((i * 7919) % 100_000)}` }));
        break;
      case 1:
        out.push(view({ ...h, 'x-user-id': `user-${i}`, 'x-app-version': ['3.1.0', '2.9.4', '2.4.1', '1.2.0'][i % 4]! }));
        break;
      case 2:
        out.push(view({ ...h, 'x-user-id': `user-${i}` }, '/shop/new-checkout/pay'));
        break;
      case 3:
        out.push(view({ ...h, 'x-user-id': `user-${i}` }, '/api/v2/items', 'page=2&preview=1'));
        break;
      case 4:
        out.push(view({ ...h, cookie: `${h.cookie}; uid=u${i}; beta=1` }));
        break;
      case 5:
        out.push(view({ ...h }, '/search', `q=shoes&uid=q${i}&sort=price`));
        break;
      default:
        // Signed-in users no rule picks out: they walk every rule to the percent, then the split.
        out.push(view({ ...h, 'x-user-id': `user-${i}`, 'x-app-version': '2.4.1' }, '/products/42', 'ref=home'));
    }
  }
  return out;
}

/** Nothing matches before the last rule: every request walks all 20 rules and hashes for the percent. */
function worstRequests(n: number): RequestView[] {
  return Array.from({ length: n }, (_, i) =>
    view({ ...baseHeaders(i), 'x-user-id': `user-${i}`, 'x-app-version': '2.4.1' }, '/products/42', 'ref=home&page=1'),
  );
}

function timeMix(snapshot: Snapshot, requests: RequestView[], decisions: number, runs: number): MixResult {
  const health: HealthView = { isUp: () => true };
  const ctx: MarkContext = { random: Math.random, newVisitorId: randomUUID };
  const lanes: Record<string, number> = {};
  let sink = 0;
  const once = (count: number, tally: boolean): number => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const r = requests[i % requests.length]!;
      const route = snapshot.matchRoute(r.host, r.path)!;
      const mark = route.mark(r, ctx);
      const target = dispatch(route.service, mark.lane, health);
      sink += target.version.length;
      if (tally) lanes[mark.lane] = (lanes[mark.lane] ?? 0) + 1;
    }
    return Number(process.hrtime.bigint() - t0) / count;
  };
  once(requests.length, true);
  once(Math.min(decisions, 50_000), false); // warm-up: let the JIT settle
  const runsNs = Array.from({ length: runs }, () => once(decisions, false));
  if (sink === 0) throw new Error('unreachable: keeps the loop from being optimised away');
  const total = Object.values(lanes).reduce((a, b) => a + b, 0);
  for (const k of Object.keys(lanes)) lanes[k] = Math.round((lanes[k]! / total) * 1000) / 10;
  return { nsPerDecision: median(runsNs), bestNs: Math.min(...runsNs), runsNs, lanes };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs the benchmark and returns the figures (the lead's `npm run bench` prints `summary`). */
export function runDecisionBench(opts: DecisionBenchOptions = {}): DecisionBenchResult {
  const decisions = opts.decisions ?? 200_000;
  const runs = opts.runs ?? 5;
  const spec = decisionSpec();
  const t0 = process.hrtime.bigint();
  const snapshot = compile(spec);
  const compileMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const mixed = timeMix(snapshot, mixedRequests(4096), decisions, runs);
  const worst = timeMix(snapshot, worstRequests(4096), decisions, runs);
  const fmt = (ns: number) => `${ns.toFixed(0)} ns`;
  const row = (name: string, m: MixResult) =>
    `| ${name} | ${fmt(m.nsPerDecision)} | ${fmt(m.bestNs)} | ${m.runsNs.map((x) => x.toFixed(0)).join(' / ')} | ` +
    `${m.nsPerDecision <= TARGET_NS ? 'yes' : 'NO'} | ${Object.entries(m.lanes).map(([k, v]) => `${k} ${v}%`).join(', ')} |`;
  const summary = [
    `matchRoute + mark + dispatch, route with 20 rules (100k-id users list, semver, regex, cookie, query, percent) + split;`,
    `${runs} runs x ${decisions} decisions, median. Compile of the spec: ${compileMs.toFixed(1)} ms. Target <= ${TARGET_NS} ns.`,
    '',
    '| mix | ns/decision (median) | best run | per run | median within target | lanes |',
    '|---|---:|---:|---|---|---|',
    row('mixed requests', mixed),
    row('worst case: all 20 rules walked', worst),
    '',
    `node ${process.version}`,
  ].join('\n');
  return { compileMs, decisions, runs, mixed, worst, summary };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const decisions = Number(process.argv[2] ?? 200_000);
  const runs = Number(process.argv[3] ?? 5);
  console.log(runDecisionBench({ decisions, runs }).summary);
}
