/**
 * The Spec: what the user declared (YAML file, admin API or etcd), after parsing and validation.
 *
 * These types mirror the YAML shape documented in docs/config.md and schema/graylane.schema.json.
 * Durations are already converted to milliseconds and defaults filled in by the loader, so the
 * rest of the code never re-parses strings. A Spec is deeply frozen once loaded.
 */
import type { AnalysisTemplate, RolloutSpec } from './rollout-model.js';
import type { ReleaseSpec } from './release-model.js';
import type { NotificationsSpec } from './notifications.js';

/** A request header, cookie or query parameter the user identity (or an app version) is read from. */
export interface ValueSource {
  kind: 'header' | 'cookie' | 'query';
  /** Header names are lower-cased by the loader; cookie and query names are case-sensitive. */
  name: string;
}

/** How a string condition is tested. Exactly one of the fields is set. */
export interface StringMatch {
  equals?: string;
  /** Any of these values. */
  in?: string[];
  /** A regular expression (JavaScript syntax, no lookaround/backreferences: see docs/config.md). */
  pattern?: string;
  /** Only that the value is there. */
  present?: boolean;
}

export interface NamedMatch extends StringMatch {
  name: string;
}

export interface PathMatch {
  contains?: string;
  prefix?: string;
  regex?: string;
}

/**
 * An app version condition (src/spec/app-version.ts says what a version is and how it compares). At
 * least one of range, min, max; all given must hold.
 */
export interface AppVersionMatch {
  /** Where the version comes from; `header: x-app-version` in YAML becomes {kind:'header', name}. */
  from: ValueSource;
  /** A regex whose first capture group is the version (`MyApp/([0-9.]+)` in a User-Agent). */
  pattern?: string;
  /** A semver range (`>=2.3.0`, `^3`, `1.x || >=2.5.0 <3`). */
  range?: string;
  /** Lowest version, inclusive (any number of segments: `2.4.0.1200`). */
  min?: string;
  /** Highest version, inclusive. */
  max?: string;
  /**
   * `include`: a prerelease tag is ignored (`2.4.0-beta.1` is 2.4.0); `exclude`: semver's rule. The
   * loader always fills it in; absent (a rule built in code) means `include`.
   */
  prerelease?: 'include' | 'exclude';
}

/** Header changes a rule applies to the upstream request when it marks it. */
export interface HeaderModifier {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

/** One colouring rule: all its conditions must hold (AND); the first rule that holds wins. */
export interface Rule {
  /** Optional name for logs and explain; defaults to `rules[i]`. */
  name?: string;
  lane: string;
  users?: string[];
  appVersion?: AppVersionMatch;
  path?: PathMatch;
  header?: NamedMatch;
  cookie?: NamedMatch;
  query?: NamedMatch;
  /** 0..100 (two decimals): share of users, by the sticky bucket of the route's identity. */
  percent?: number;
  /** Header changes applied to requests this rule marks. */
  headers?: HeaderModifier;
}

/**
 * An ingress-nginx style canary on a route: header > cookie > weight precedence, with the values
 * `always` / `never`. Several canaries on one route are evaluated in order (rings).
 */
export interface NginxCanary {
  lane: string;
  /** canary-by-header: value `always` -> canary, `never` -> not this canary, anything else -> next check. */
  byHeader?: string;
  /** canary-by-header-value: this exact value (instead of `always`) sends to the canary. */
  byHeaderValue?: string;
  /** canary-by-header-pattern: a regex the header value must match. */
  byHeaderPattern?: string;
  /** canary-by-cookie: cookie value `always` / `never`. */
  byCookie?: string;
  /** canary-weight, out of weightTotal. */
  weight?: number;
  /** canary-weight-total (default 100). */
  weightTotal?: number;
}

export interface RouteMatch {
  /** Exact host (port ignored), or `*.example.com`; absent = any host. Lower-cased. */
  host?: string;
  pathPrefix?: string;
  /** Exact path. */
  path?: string;
}

export interface MirrorSpec {
  lane: string;
  /** Share of requests copied, 0..100; deterministic (every 100/percent-th request). */
  percent: number;
}

export interface VisitorCookieSpec {
  name: string;
  maxAgeMs: number;
}

export interface RouteSpec {
  /** Stable id used in logs, metrics and explain; defaults to `routes[i]` or host+path. */
  name: string;
  match: RouteMatch;
  service: string;
  /** Pin every request of this route to one lane (seed: one host per environment). */
  lane?: string;
  /** Honour an incoming lane header / baggage / alias (only behind another marking gateway). */
  trustLane: boolean;
  /** Where the user id comes from, first found wins. */
  identity: ValueSource[];
  /** Issue a random visitor id cookie when no identity is found, and bucket by it (null = off). */
  visitorCookie: VisitorCookieSpec | null;
  /** Salt of the percent hash; defaults to the route name. */
  salt: string;
  rules: Rule[];
  /** ingress-nginx compatible canaries, evaluated after `rules`. */
  canary: NginxCanary[];
  /** Weights by lane for requests no rule marked (smooth WRR). Absent = all to the fallback. */
  split?: Record<string, number>;
  /** Pick the split by the user's bucket instead of per request (sticky; needs an identity). */
  stickySplit: boolean;
  mirror?: MirrorSpec;
}

export interface PassiveHealthSpec {
  /** Consecutive connect errors or 5xx answers that eject an endpoint. */
  consecutiveFailures: number;
  /** How long an ejected endpoint stays out. */
  ejectMs: number;
}

export interface VersionSpec {
  endpoints: string[];
}

export interface ServiceSpec {
  /** Where lanes without a version of this service go; default `stable`. */
  fallback: string;
  /** Lanes that must not fall back: answered 503 when their version is absent or down. */
  failClosed: string[];
  versions: Record<string, VersionSpec>;
  passiveHealth: PassiveHealthSpec;
  /** Retry idempotent requests that failed before any response (opt-in; absent = never retry). */
  retry?: RetrySpec;
}

/** Which failed requests are sent once more, to the next endpoint in rotation other than the one that failed (src/routing/dispatch.ts). */
export interface RetrySpec {
  /** Retries per request (1..3). */
  attempts: number;
  /** `connect-error`: the connection could not be opened; `reset`: it was closed or reset before a response. */
  on: ('connect-error' | 'reset')[];
}

export interface TimeoutsSpec {
  connectMs: number;
  /** Time to the upstream's response headers. */
  headersMs: number;
  /** Idle time between body chunks, either direction. */
  idleMs: number;
  /** Idle time of an upgraded connection (WebSocket tunnel), no byte in either direction. */
  tunnelIdleMs: number;
}

export interface Spec {
  /** The first listener's address (`host:port`): what code that knows one address reads. */
  listen: string;
  laneHeader: string;
  /** Other engines' lane headers, read (when trusted) and written alongside laneHeader. */
  laneAliases: string[];
  /** Echo the lane (and version) on the response, for debugging. */
  exposeLane: boolean;
  timeouts: TimeoutsSpec;
  mirror: { maxConcurrent: number; maxBodyBytes: number };
  accessLog: boolean;
  /** Seconds SIGTERM waits for in-flight requests. */
  drainMs: number;
  services: Record<string, ServiceSpec>;
  routes: RouteSpec[];
  // The keys below are always set by the loader; they are optional so that Specs built in code
  // (tests, importers) need not spell them out. Absent means the loader's default.
  /** Every gateway listener, the first being `listen`. Absent = one plain HTTP/1.1 listener at `listen`. */
  listeners?: ListenerSpec[];
  /** Rollouts (docs/rollouts.md), normalized by src/spec/rollout-model.ts. Default none. */
  rollouts?: RolloutSpec[];
  /** Releases: a lane across several services as one unit (docs/rollouts.md#releases). Default none. */
  releases?: ReleaseSpec[];
  /** Analysis templates by name. Default none. */
  analysisTemplates?: Record<string, AnalysisTemplate>;
  /** Where controller state is kept. */
  state?: StateSpec;
  /** The admin API listener. */
  admin?: AdminSpec;
  /** Limits on what a client may send (request size, header count, time to send the head). */
  limits?: LimitsSpec;
  /** Mesh mode: the listener services call each other through (docs/full-link.md). Absent = off. */
  mesh?: MeshSpec;
  /** The decision listener for an edge proxy (docs/integrations.md). Absent = off. */
  decide?: DecideSpec;
  /** Messages to people and systems about rollouts and the config (docs/notifications.md). Absent = off. */
  notifications?: NotificationsSpec;
  /** Data-plane worker processes of `graylane serve` (src/workers/); `auto` = one per core. Absent = 1. */
  workers?: number | 'auto';
  /** Opt-in debugging aids. Absent = all off. */
  debug?: DebugSpec;
  /** OpenTelemetry spans of proxied requests (docs/observability.md#traces). Absent = off. */
  tracing?: TracingSpec;
}

/** Where spans of proxied requests go, and how many are kept. */
export interface TracingSpec {
  otlp: {
    /** The URL spans are posted to (OTLP/HTTP, JSON), `/v1/traces` included. */
    endpoint: string;
    /** How long one export may take before it is given up. */
    timeoutMs: number;
  };
  /** Share of new traces recorded, 0..1; a request with a traceparent follows its sampled flag. */
  sampleRatio: number;
  /** `service.name` of the spans. */
  serviceName: string;
  /** Most finished spans waiting for export; more are dropped (a collector away delays nothing). */
  queueSize: number;
}

/**
 * One listener of the gateway (or the mesh). Exactly one way of speaking per port: plain HTTP/1.1,
 * TLS (HTTP/1.1, and HTTP/2 when `http2`, chosen by ALPN), clear-text HTTP/2 (`h2c`), or a plain
 * listener that only redirects to HTTPS.
 */
export interface ListenerSpec {
  /** `host:port` as written (`[v6]:port` for IPv6). */
  address: string;
  /** Serve TLS; absent = clear text. */
  tls?: TlsSpec;
  /** With tls: offer `h2` by ALPN besides `http/1.1`. */
  http2: boolean;
  /** Clear-text HTTP/2 with prior knowledge (RFC 9113 section 3.3), gRPC inside a cluster, beside HTTP/1.1. */
  h2c: boolean;
  /** Answer every request with a 308 to `https://host[:port]/path`; the port (443 is left out of the URL). */
  redirectHttpsPort?: number;
}

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** A TLS listener's certificates and protocol settings (src/gateway/tls.ts reads the files). */
export interface TlsSpec {
  /** PEM files, paths as written (relative to the working directory). The first is the default; SNI picks by the certificate's DNS names. */
  certificates: { cert: string; key: string }[];
  /** Oldest protocol version accepted; default TLSv1.2. */
  minVersion: TlsVersion;
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's); absent = Node's default list. */
  ciphers?: string;
}

/** Opt-in debugging aids; none is on by default. */
export interface DebugSpec {
  /** Name the worker that served on every response (`x-graylane-worker`). */
  workerHeader: boolean;
}

/**
 * Limits on client requests, checked before routing. Oversized requests are refused with 414/431
 * and never reach an upstream; a client that does not finish its request head in time gets 408.
 */
export interface LimitsSpec {
  /** Longest request target (path and query) in bytes; longer: 414. */
  maxUrlBytes: number;
  /** Largest request head (request line and header lines) in bytes; larger: 431 (Node's maxHeaderSize). Set at start. */
  maxHeaderBytes: number;
  /** Most header fields in one request; more: 431. */
  maxHeaders: number;
  /** Time a client gets to send its whole request head (slowloris); then 408 and the connection is closed. */
  headersTimeoutMs: number;
  /** HTTP/2 streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
}

/** The embedded store of controller state. */
export interface StateSpec {
  /** SQLite file, as written (relative paths are resolved against the working directory). */
  path: string;
}

/** Mesh mode: a second listener where a request names its service by Host or first path segment. */
export interface MeshSpec {
  /** The listener's address. */
  listen: string;
  /** The listener as written (`listen` as a string or a listener mapping). Absent = plain HTTP/1.1 at `listen`. */
  listener?: ListenerSpec;
}

/** Which edge proxy asks the decision listener: where it puts the original request. */
export type DecideProxy = 'traefik' | 'nginx' | 'ingress-nginx' | 'envoy' | 'apisix';

/** The decision listener: graylane marks, an edge proxy you already run dispatches. */
export interface DecideSpec {
  listen: string;
  proxy: DecideProxy;
  /** A request no route matches: `pass` = 200 without a lane header; `deny` = 403. */
  noRoute: 'pass' | 'deny';
  /** Envoy's ext_authz `path_prefix`, cut from the check request's path; '' when none. */
  pathPrefix: string;
  /** Outcomes the proxy reports back, for rollout analysis; absent = none. */
  report?: DecideReportSpec;
}

/** Where the edge proxy reports outcomes (src/decide/syslog.ts, src/decide/report-http.ts); at least one of syslog and http. */
export interface DecideReportSpec {
  /** UDP syslog listen address; absent = no syslog listener. */
  syslog?: string;
  /** HTTP listen address of `POST /report` (batches of outcomes); absent = none. */
  http?: string;
  /**
   * `graylane export nginx`: report one in this many outcomes below 500, each weighted by it
   * (`"w"` in the line); every 5xx is reported, weight 1. 1 (default) = every outcome.
   */
  sampleOneIn: number;
}

/** The admin API. Its token is never part of the spec (environment or token file only). */
export interface AdminSpec {
  listen: string;
}
