/**
 * Who a request is about, for `users` rules and sticky percents.
 *
 * The identity is the first value found among the route's `identity` sources (header, cookie or
 * query), else the route's visitor cookie. When a decision needs an identity (a percent, a canary
 * weight, a sticky split) and there is none but the route has a visitor cookie, a fresh visitor id is
 * minted, used for this request's bucket and handed back so the gateway sets the cookie: the
 * visitor keeps the same answer from then on. With the visitor cookie off and no identity, the
 * bucket is drawn at random per request: such traffic is split by share but not sticky.
 *
 * One bucket per request, computed at most once and only when asked for, shared by every percent,
 * canary weight and sticky split of the route: the thresholds of one route nest (see mark.ts).
 */
import type { ValueSource } from '../spec/types.js';
import type { BucketCheck, MarkContext, RequestView } from './types.js';
import { BUCKETS, bucketFromSeed } from './hash.js';
import { cookieValue, headerValue, queryValue } from './request-values.js';

/** What compile precomputes about a route's identity. */
export interface IdentityPlan {
  readonly sources: readonly ValueSource[];
  /** Name of the visitor cookie, or null when anonymous stickiness is off. */
  readonly visitorCookie: string | null;
  /** `saltSeed(route.salt)`. */
  readonly seed: number;
}

/** Reads one value source from a request; '' counts as absent. */
export function readSource(req: RequestView, source: ValueSource): string | undefined {
  let v: string | undefined;
  switch (source.kind) {
    case 'header':
      v = headerValue(req.headers, source.name);
      break;
    case 'cookie':
      v = cookieValue(headerValue(req.headers, 'cookie'), source.name);
      break;
    case 'query':
      v = queryValue(req.query, source.name);
      break;
  }
  return v === '' ? undefined : v;
}

/** The identity found in the request (sources first, then the visitor cookie), never minted. */
export function findIdentity(plan: IdentityPlan, req: RequestView): string | undefined {
  const sources = plan.sources;
  for (let i = 0; i < sources.length; i++) {
    const v = readSource(req, sources[i]!);
    if (v !== undefined) return v;
  }
  if (plan.visitorCookie !== null) {
    const v = cookieValue(headerValue(req.headers, 'cookie'), plan.visitorCookie);
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

const UNRESOLVED = 0;
const FOUND = 1;
const NONE = 2;

/**
 * The identity side of one request's decision. Created per request by mark; lazy, so a request that
 * a header rule marks never reads its identity or hashes anything.
 */
export class Subject {
  private state = UNRESOLVED;
  private found: string | undefined = undefined;
  private cachedBucket = -1;
  /** Set when this request needed an identity and got a fresh visitor id. */
  minted: string | undefined = undefined;

  constructor(
    private readonly plan: IdentityPlan,
    readonly req: RequestView,
    private readonly ctx: MarkContext,
  ) {}

  /** The identity carried by the request, if any (for `users`). Never mints. */
  id(): string | undefined {
    if (this.state === UNRESOLVED) {
      this.found = findIdentity(this.plan, this.req);
      this.state = this.found === undefined ? NONE : FOUND;
    }
    return this.found;
  }

  /**
   * An identity to be sticky by: the one found, else a minted visitor id when the route has a visitor
   * cookie, else undefined (the caller then chooses per request).
   */
  stickyId(): string | undefined {
    const id = this.id();
    if (id !== undefined) return id;
    if (this.minted === undefined && this.plan.visitorCookie !== null) this.minted = this.ctx.newVisitorId();
    return this.minted;
  }

  /** This request's bucket in [0, 10000): sticky when an identity exists or can be minted, else random. */
  bucket(): number {
    if (this.cachedBucket < 0) {
      const id = this.stickyId();
      this.cachedBucket =
        id !== undefined ? bucketFromSeed(this.plan.seed, id) : Math.floor(this.ctx.random() * BUCKETS);
    }
    return this.cachedBucket;
  }

  /**
   * The bucket under another salt (a release's): sticky like bucket(), but not cached, so the
   * route's own bucket is untouched. Random per request without an identity.
   */
  bucketWith(seed: number): number {
    const id = this.stickyId();
    return id !== undefined ? bucketFromSeed(seed, id) : Math.floor(this.ctx.random() * BUCKETS);
  }

  /** For explain: the bucket, if some step asked for it, and where it came from. */
  bucketCheck(): BucketCheck | undefined {
    if (this.cachedBucket < 0) return undefined;
    const from =
      this.minted !== undefined
        ? `new visitor id ${JSON.stringify(this.minted)}`
        : this.found !== undefined
          ? `identity ${JSON.stringify(this.found)}`
          : 'random (no identity, no visitor cookie)';
    return { value: this.cachedBucket, from };
  }
}
