/**
 * Types of the compiled routing table (the Snapshot) and of the two data-plane stages, mark and
 * dispatch. Everything here is plain data plus precompiled closures; building it is `compile()`'s job
 * (compile.ts), reading it is the gateway's. A Snapshot is immutable apart from the balancing
 * counters inside it (smooth-WRR state, round-robin cursors, mirror accumulators), which only ever
 * affect *which* of several equally valid choices is taken.
 */
import type { HeaderModifier, RetrySpec, Rule, Spec } from '../spec/types.js';

/**
 * A request's header fields looked up by name, whatever the protocol: HTTP/1.1's engine reads them
 * from the parsed head's offsets (src/http1/request-fields.ts), HTTP/2 and the decide endpoint
 * from Node's header object (ObjectHeaders). Either way the answer is the one Node's lower-cased
 * header object gives.
 */
export interface HeaderLookup {
  /**
   * The value under the lower-cased `name`, as Node's header object holds it: a string (repeated
   * fields joined, `, ` or for Cookie `; `; only the first of a field that may appear once), an
   * array for `set-cookie`, undefined when absent.
   */
  get(name: string): string | string[] | undefined;
}

/** What mark and dispatch see of a request. The gateway builds it once per request. */
export interface RequestView {
  /** Lower-cased, port stripped. */
  host: string;
  /**
   * The path without the query string, normalised (src/routing/path.ts: unreserved characters
   * decoded, dot segments removed) and without `;` parameters: what routes and rules match.
   */
  path: string;
  /** Raw query string without the leading `?`; '' when absent. */
  query: string;
  /** The header fields, by lower-cased name. */
  headers: HeaderLookup;
  /**
   * The request can only be served over HTTP/2 (a gRPC call, see needsHttp2): dispatch treats a
   * version without an HTTP/2 endpoint as absent for it. Absent: false.
   */
  http2Only?: boolean;
}

/** The controller's additions on top of the user's spec (rollouts, registrations). Never written back. */
export interface Status {
  services?: Record<string, ServiceOverlay>;
  /** By route name: what releases add at their entry routes (docs/rollouts.md#releases). */
  routes?: Record<string, RouteOverlay>;
  /** Registered instances: service -> version -> endpoint URLs; merged with the spec's static ones. */
  registered?: Record<string, Record<string, string[]>>;
}

export interface ServiceOverlay {
  /** Replaces the `split` of every route of this service (rollout setWeight). */
  split?: Record<string, number>;
  /** Evaluated before each route's own rules (rollout setHeaderRoute). */
  rules?: Rule[];
  /**
   * After a rollout completes: the version whose endpoints now serve the fallback lane, e.g. `beta`
   * while the spec still says `stable` (see docs/rollouts.md).
   */
  stableVersion?: string;
  /**
   * Versions this service sends nothing to (an aborted rollout's canary): dispatch serves their
   * lanes as if the service had no such version (its fallback, or 503 for a fail-closed lane), and
   * mirrors to them are dropped. Other services keep theirs: full-link lanes go on downstream.
   */
  withdrawn?: string[];
}

/** The controller's additions to one route. */
export interface RouteOverlay {
  /** Running releases entering here, in config order: after the route's rules and canaries, before its split. */
  releases?: ReleaseShare[];
}

/** A release's share of the entry route's users (sticky by the release's own salt, like a percent rule). */
export interface ReleaseShare {
  /** The release's name (explain shows it). */
  name: string;
  lane: string;
  salt: string;
  /** Whole percent 0..100. */
  percent: number;
}

export interface Endpoint {
  /** As configured, e.g. `http://127.0.0.1:9001`. */
  url: string;
  /** `protocol//host:port`: the key of the connection pool and of passive health. */
  origin: string;
  /** Path prefix of the endpoint URL ('' when none), prepended to the request path. */
  basePath: string;
  /** Registered through the API (true) or static from the spec (false). */
  registered: boolean;
  /** Spoken to in HTTP/2 (`h2c://`, `h2://`): only such endpoints can carry a gRPC call. */
  http2: boolean;
}

export interface CompiledVersion {
  name: string;
  endpoints: readonly Endpoint[];
  /** The endpoints spoken to in HTTP/2 (a subset of `endpoints`): those a gRPC call may go to. */
  http2Endpoints: readonly Endpoint[];
  /** Round-robin cursor over endpoints. */
  cursor: number;
  /**
   * Taken out of service by a rollout overlay (ServiceOverlay.withdrawn): listed, gets no traffic.
   * Kept in `versions` rather than left out so the overview still shows it, with its endpoints.
   */
  withdrawn: boolean;
}

export interface CompiledService {
  name: string;
  fallback: string;
  failClosed: ReadonlySet<string>;
  /**
   * By lane: what dispatch looks up. After a completed rollout the fallback lane maps to the new
   * version (ServiceOverlay.stableVersion), which is then found under two lanes while the spec's
   * own stable version is under none.
   */
  versions: ReadonlyMap<string, CompiledVersion>;
  /** Every version once, by its own name, with its own endpoints, in config order: what people are shown. */
  byName: ReadonlyMap<string, CompiledVersion>;
  passiveHealth: { consecutiveFailures: number; ejectMs: number };
  /** The spec's `retry` of the service; absent: failed requests are not retried. */
  retry?: Readonly<RetrySpec>;
}

/** Passive health as dispatch sees it; the gateway owns the mutable table (gateway/health.ts). */
export interface HealthView {
  isUp(origin: string): boolean;
}

export interface MarkContext {
  /** Uniform in [0, 1): per-request choices for anonymous traffic with cookies off. */
  random(): number;
  /** A fresh visitor id (the gateway uses crypto.randomUUID). */
  newVisitorId(): string;
}

/**
 * How marking chose the lane: `chance` when the request was drawn at random with no regard to who
 * sent it (the split, a rule whose only condition is `percent`, a canary's weight, or the fallback
 * lane that the rest of such draws lands in), `targeted` when a condition picked it (users, header,
 * cookie, path, app version, a pinned or trusted lane). Builtin `compare` analysis counts only
 * `chance` traffic: targeted users are not a random sample of anyone.
 */
export type Assignment = 'chance' | 'targeted';

export interface MarkResult {
  lane: string;
  /** See {@link Assignment}. */
  assignment: Assignment;
  /** Which rule decided: a rule name, `split`, `pinned`, `trusted`, `canary[0].header`, `default`. */
  by: string;
  /** Human sentence for explain and debugging. */
  reason: string;
  /** Header changes of the rule that marked, if any. */
  headers?: HeaderModifier;
  /** A new visitor id to set as a cookie on the response (anonymous stickiness). */
  setVisitorId?: string;
}

/** What explain reports about one condition it ran (see Condition.explain in conditions.ts). */
export interface ConditionCheck {
  /** What the condition checks, in the words of the rule's reason. */
  condition: string;
  holds: boolean;
  /** appVersion: the value read (null when absent), the version parsed from it, or why there is none. */
  value?: string | null;
  version?: string;
  problem?: string;
  /** percent, canary weight, sticky split: the request's bucket (0..9999) and what it was compared with. */
  bucket?: number;
  /** In when `bucket < threshold`. */
  threshold?: number;
  /** Anything else that was read, in words (a canary's header or cookie value, a split's bucket range). */
  detail?: string;
}

/** One marking step explain looked at: a rule, a canary, the split. */
export interface StepCheck {
  /** The rule's name (`rules[1]`, `rollout.rules[0]`, or its own), `canary[0]`, or `split`. */
  step: string;
  lane: string;
  /** Whether this step marked the request (the last step of the list when one did). */
  matched: boolean;
  /** The conditions in the order they ran; a rule stops at the first that fails, so later ones are not listed. */
  checks: ConditionCheck[];
}

/** The request's percent bucket and where it came from, when a step compared it. */
export interface BucketCheck {
  /** 0..9999: the hash of the route's salt and the identity (or a random draw). */
  value: number;
  /** `identity "1001"`, `new visitor id "..."`, or `random (no identity)`. */
  from: string;
}

/** Filled in by mark when explain asks for it (never on the gateway's path). */
export interface MarkTrace {
  steps: StepCheck[];
  bucket?: BucketCheck;
}

export interface DispatchResult {
  /** The version that serves the request; '' when none can (fail closed or no endpoints at all). */
  version: string;
  endpoint: Endpoint | null;
  /** True when the lane's own version was absent or down and the fallback served. */
  fellBack: boolean;
  reason: string;
}

export interface CompiledRoute {
  name: string;
  service: CompiledService;
  trustLane: boolean;
  /**
   * Put the request into a lane. Randomness is injected so tests get exact answers. With `trace`
   * (explain only), each rule, canary and split step checked is recorded in it.
   */
  mark(req: RequestView, ctx: MarkContext, trace?: MarkTrace): MarkResult;
  /** When set, this request should also be copied to the returned lane (deterministic share). */
  mirrorLane(): string | null;
  /** Visitor cookie name and max-age when anonymous stickiness is on. */
  visitorCookie: { name: string; maxAgeMs: number } | null;
}

export interface Snapshot {
  /** sha256 of the canonical spec + status, short hex: identifies what is loaded. */
  id: string;
  /** sha256 of the canonical spec alone, short hex: the config's content, rollout status aside. */
  configHash: string;
  spec: Spec;
  status: Status;
  routes: readonly CompiledRoute[];
  services: ReadonlyMap<string, CompiledService>;
  /** Lower-cased names of the lane header and its aliases (stripped from untrusted requests). */
  laneHeaders: readonly string[];
  /** First route matching host and path, or undefined (-> 404). */
  matchRoute(host: string, path: string): CompiledRoute | undefined;
  /** Mesh mode (spec.mesh): the implicit trusted route of each service; null when mesh is off. */
  mesh: MeshTable | null;
}

/** The service a mesh request names, and how much of its target to cut before proxying. */
export interface MeshMatch {
  /** The service's implicit route (`mesh:<service>`): trusts lanes, no rules of its own. */
  route: CompiledRoute;
  /** Characters of the request target to remove: `/<service>` when named by path, else 0. */
  strip: number;
}

export interface MeshTable {
  /** `Host: <service>` first, then the first path segment `/<service>/...`; undefined when neither names a service. */
  match(host: string, path: string): MeshMatch | undefined;
}

export type { Spec, HeaderModifier, Rule };
