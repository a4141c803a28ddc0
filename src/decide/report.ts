/**
 * Outcomes reported by the edge proxy, so builtin rollout analysis works when graylane only
 * decides: the proxy sends one JSON line per finished request (nginx: its access log over syslog,
 * `access_log syslog:server=127.0.0.1:5140,tag=graylane graylane_outcome;`, the log_format written
 * by `graylane export nginx`), and each accepted line is counted as the gateway counts its own
 * responses (src/traffic/recorder.ts).
 *
 * Pure: a datagram in, an outcome or the reason it is refused out. Strict on purpose: anything
 * that is not exactly the exported format is refused with a reason, counted by the listener
 * (syslog.ts), never guessed at.
 */
import type { Snapshot } from '../routing/types.js';

/** Longest datagram read (nginx's syslog lines are at most 2 KiB, ours are ~200 bytes). */
export const MAX_REPORT_BYTES = 4096;

/** The syslog tag the exported config sends with; lines with any other tag are not ours. */
export const REPORT_TAG = 'graylane';

/** One finished request as the proxy reports it. */
export interface Outcome {
  route: string;
  service: string;
  /** The version that served (the proxy's upstream). */
  version: string;
  lane: string;
  /** The status sent to the client. */
  status: number;
  /** From the request's arrival to the end of the response (nginx's $request_time), ms. */
  durationMs: number;
  /**
   * How many requests this outcome stands for: 1; N when the proxy reports one in N
   * (decide.report.sampleOneIn, `w`, at most MAX_WEIGHT), so counts stay estimates of the whole;
   * or the count of an aggregated report (`n`, at most MAX_COUNT), whose time is their mean.
   */
  weight: number;
}

/** Largest weight of one sampled outcome (decide.report.sampleOneIn's maximum). */
export const MAX_WEIGHT = 1000;

/**
 * Largest count of one aggregated outcome (`n`, HTTP reports only): what nginx's Lua tier sums per
 * (route, service, version, lane, status, latency bucket) between flushes, one a second (10
 * million: a proxy at a million requests a second on one key, with ten flushes missed).
 */
export const MAX_COUNT = 10_000_000;

/** Why a report was refused; each is counted apart. */
export type ReportRejection =
  | 'too-large'
  | 'not-syslog'
  | 'wrong-tag'
  | 'not-json'
  | 'bad-field'
  | 'unknown-route'
  | 'unknown-service'
  | 'unknown-version'
  | 'over-rate'
  | 'unauthorized';

export const REPORT_REJECTIONS: readonly ReportRejection[] = Object.freeze([
  'too-large',
  'not-syslog',
  'wrong-tag',
  'not-json',
  'bad-field',
  'unknown-route',
  'unknown-service',
  'unknown-version',
  'over-rate',
  'unauthorized',
]);

export interface Refused {
  rejected: ReportRejection;
  /** Says what is wrong and where, for the log. */
  detail: string;
}

/**
 * The message of a syslog datagram with tag `graylane`, as nginx sends it (src/core/ngx_syslog.c):
 * RFC 3164 `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG` (HOSTNAME left out with `nohostname`), or
 * RFC 5424 `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG` from a relay that rewrites it.
 *
 * @example
 * syslogMessage('<190>Dec  5 11:20:00 edge1 graylane: {"route":"shop",...}') // { message: '{"route":"shop",...}' }
 */
export function syslogMessage(datagram: string): { message: string } | Refused {
  const pri = /^<([0-9]{1,3})>/.exec(datagram);
  if (pri === null || Number(pri[1]) > 191) return refuse('not-syslog', 'a syslog line starts with <PRI>, PRI 0..191');
  const rest = datagram.slice(pri[0].length);
  if (rest.startsWith('1 ')) return rfc5424(rest.slice(2));
  // RFC 3164 §4.1.2: TIMESTAMP is "Mmm dd hh:mm:ss", day padded with a space.
  if (!/^[A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] /.test(rest)) {
    return refuse('not-syslog', 'no RFC 3164 timestamp (Mmm dd hh:mm:ss) after <PRI>');
  }
  const afterTime = rest.slice(16);
  const colon = afterTime.indexOf(': ');
  if (colon < 0) return refuse('not-syslog', 'no "TAG: " after the timestamp');
  const head = afterTime.slice(0, colon);
  const space = head.lastIndexOf(' ');
  // `HOSTNAME TAG` or, with nginx's nohostname, `TAG` alone.
  if (space >= 0 && head.indexOf(' ') !== space) return refuse('not-syslog', 'more than HOSTNAME and TAG before ": "');
  const tag = space < 0 ? head : head.slice(space + 1);
  if (tag !== REPORT_TAG) return refuse('wrong-tag', `tag ${JSON.stringify(tag.slice(0, 32))}, expected ${REPORT_TAG}`);
  return { message: afterTime.slice(colon + 2) };
}

function rfc5424(rest: string): { message: string } | Refused {
  // TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG (RFC 5424 §6)
  const fields = rest.split(' ', 6);
  if (fields.length < 6) return refuse('not-syslog', 'an RFC 5424 header has TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA');
  if (fields[2] !== REPORT_TAG) return refuse('wrong-tag', `APP-NAME ${JSON.stringify(fields[2]!.slice(0, 32))}, expected ${REPORT_TAG}`);
  if (fields[5] !== '-') return refuse('not-syslog', 'structured data is not read: send "-"');
  const at = fields.slice(0, 6).join(' ').length + 1;
  let message = rest.slice(at);
  if (message.startsWith('\uFEFF')) message = message.slice(1);
  return { message };
}

/** The fields of one outcome; `w` (the weight) and `n` (an aggregated count) may be left out. */
const FIELDS = ['route', 'service', 'version', 'lane', 'status', 'time', 'w', 'n'] as const;
type Field = (typeof FIELDS)[number];

/**
 * One outcome line, `{"route":"shop","service":"web","version":"beta","lane":"beta","status":"503","time":"0.004"}`
 * (`time` in seconds, nginx's $request_time; an optional `"w":"10"` when sampled), checked against
 * the snapshot by {@link checkOutcome}.
 */
export function parseOutcome(message: string, snapshot: Snapshot): Outcome | Refused {
  let data: unknown;
  try {
    data = JSON.parse(message);
  } catch {
    return refuse('not-json', 'the message is not one JSON object');
  }
  return checkOutcome(data, snapshot, false);
}

/**
 * One outcome object, as nginx's `escape=json` line writes it (every value a string) or as an HTTP
 * report sends it (with `numbers`, status, time, w and n may also be JSON numbers). The route, service and version must
 * be ones the snapshot names, so label values stay bounded by the config as the gateway's do.
 *
 * `n` (HTTP reports only) makes the object an aggregate: n requests with this status, `time` their
 * mean (nginx's Lua tier, src/export/nginx-lua.ts, keys its counts by latency bucket so that the
 * mean falls in the buckets each of the n did). Up to 6 decimals of a second, for such means.
 */
export function checkOutcome(data: unknown, snapshot: Snapshot, numbers: boolean): Outcome | Refused {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return refuse('not-json', 'an outcome is not one JSON object');
  const obj = data as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!(FIELDS as readonly string[]).includes(key)) return refuse('bad-field', `unknown key ${JSON.stringify(key.slice(0, 32))}`);
  }
  if (obj.n !== undefined && !numbers) return refuse('bad-field', 'n (an aggregated count) is for HTTP reports, not syslog lines');
  if (obj.n !== undefined && obj.w !== undefined) return refuse('bad-field', 'w and n together: an outcome is sampled (w) or aggregated (n), not both');
  for (const key of FIELDS) {
    const v = obj[key];
    if ((key === 'w' || key === 'n') && v === undefined) continue;
    const numeric = numbers && (key === 'status' || key === 'time' || key === 'w' || key === 'n');
    if (typeof v !== 'string' && !(numeric && typeof v === 'number')) return refuse('bad-field', `${key} must be a string${numeric ? ' or a number' : ''}`);
  }
  const f = obj as Record<Field, string | number>;
  const status = String(f.status);
  const time = String(f.time);
  const weight = f.w === undefined ? '1' : String(f.w);
  const count = f.n === undefined ? undefined : String(f.n);
  const [route, service, version, lane] = [f.route, f.service, f.version, f.lane] as string[];
  if (!/^[1-5][0-9]{2}$/.test(status)) return refuse('bad-field', `status must be 100..599, got ${JSON.stringify(status.slice(0, 16))}`);
  if (!/^[0-9]{1,6}(\.[0-9]{1,6})?$/.test(time)) return refuse('bad-field', `time must be seconds like 0.004 (up to 6 decimals), got ${JSON.stringify(time.slice(0, 16))}`);
  if (!/^[1-9][0-9]{0,3}$/.test(weight) || Number(weight) > MAX_WEIGHT) return refuse('bad-field', `w must be 1..${MAX_WEIGHT}, got ${JSON.stringify(weight.slice(0, 16))}`);
  if (count !== undefined && (!/^[1-9][0-9]{0,7}$/.test(count) || Number(count) > MAX_COUNT)) return refuse('bad-field', `n must be 1..${MAX_COUNT}, got ${JSON.stringify(count.slice(0, 16))}`);
  if (lane!.length > 128) return refuse('bad-field', 'lane is longer than 128 characters');
  const svc = snapshot.services.get(service!);
  if (svc === undefined) return refuse('unknown-service', `service ${JSON.stringify(service!.slice(0, 64))} is not in the config`);
  if (!svc.byName.has(version!)) return refuse('unknown-version', `service ${service} has no version ${JSON.stringify(version!.slice(0, 64))}`);
  const routeService = routeNamed(snapshot, route!);
  if (routeService === undefined || routeService !== service) return refuse('unknown-route', `no route ${JSON.stringify(route!.slice(0, 64))} of service ${service}`);
  return { route: route!, service: service!, version: version!, lane: lane!, status: Number(status), durationMs: Number(time) * 1000, weight: Number(count ?? weight) };
}

const routeServices = new WeakMap<Snapshot, Map<string, string>>();

/** The service of the route named `name` in `snapshot`. */
function routeNamed(snapshot: Snapshot, name: string): string | undefined {
  let byName = routeServices.get(snapshot);
  if (byName === undefined) {
    byName = new Map(snapshot.routes.map((r) => [r.name, r.service.name]));
    routeServices.set(snapshot, byName);
  }
  return byName.get(name);
}

export function refuse(rejected: ReportRejection, detail: string): Refused {
  return { rejected, detail };
}
