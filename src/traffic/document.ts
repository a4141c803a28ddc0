/**
 * Traffic totals as they travel between processes, and windows read from a stream of them.
 *
 * A gateway publishes *cumulative* totals (requests, errors and the fine latency histogram since it
 * started), the way Prometheus counters work, not its sliding window: a document stays small (a
 * sparse histogram, not five minutes of them), and a missed update loses resolution, not traffic.
 * The reader keeps the documents it received and answers window(ms) as "latest minus the document
 * from `ms` ago", summed over sources:
 * - a source that started within the window counts from zero (its `startedAt`);
 * - a source that went away keeps counting what it published until its last document leaves the
 *   horizon; one restarted under the same key is a new series;
 * - a reader that has received for less than `ms` answers for the time it has, an undercount that
 *   builtin analysis's minRequests turns into Inconclusive rather than a wrong verdict.
 *
 * Document times are the publishers' clocks (`at`), compared with the reader's: keep clocks in sync;
 * a skew of a few hundred ms moves a window edge by that much, within the 1 s publishing grain.
 */
import { LATENCY_BUCKETS } from './latency.js';
import { windowStats, type WindowSample, type WindowStats } from './window.js';

/** One source's totals (JSON); `P/counters/<gateway id>` in clustered mode. */
export interface CountersDocument {
  v: 1;
  gateway: string;
  /** When these counters started (ms since epoch): they count from zero there. */
  startedAt: number;
  /** When this document was made. */
  at: number;
  /**
   * service -> version -> totals; latency as sparse [fine bucket, count] pairs. `chance`: the same
   * for only the requests marking drew at random (what builtin `compare` judges); absent when none
   * (or from a writer that does not send it: compare then sees no sample, Inconclusive).
   */
  versions: Record<string, Record<string, VersionDocument>>;
  /**
   * Who published it, for the gateways list (src/metrics/gateways.ts). Optional: builtin analysis
   * needs only the counts, and a reader must cope with documents of writers that do not send it.
   */
  about?: GatewayAbout;
}

/** One version's totals in a document. */
export interface VersionDocument extends TotalsDocument {
  chance?: TotalsDocument;
}

export interface TotalsDocument {
  requests: number;
  errors: number;
  latency: [number, number][];
}

/** Totals as a document holds them: the latency histogram sparse. */
export function totalsDocument(requests: number, errors: number, histogram: ArrayLike<number>): TotalsDocument {
  const latency: [number, number][] = [];
  for (let i = 0; i < histogram.length; i++) if (histogram[i]! > 0) latency.push([i, histogram[i]!]);
  return { requests, errors, latency };
}

/** What a gateway says about itself next to its counters (clustered mode). */
export interface GatewayAbout {
  /** `--name`, else the host name. */
  name: string;
  hostname: string;
  /** The proxy listener as bound, `host:port`. */
  address: string;
  /** The admin listener as bound, `host:port`. */
  admin: string;
  /** Campaigns to drive rollouts (false: `--no-controller`). */
  candidate: boolean;
  /** Its controller is the elected one now. */
  leading: boolean;
  /** Its watches on etcd are established; `error` says why not. */
  store: { up: boolean; error?: string };
}

/** The document, or null when `value` is not one (another writer's key, an old format). */
export function parseCountersDocument(value: string): CountersDocument | null {
  let doc: CountersDocument;
  try {
    doc = JSON.parse(value) as CountersDocument;
  } catch {
    return null;
  }
  if (doc === null || typeof doc !== 'object' || doc.v !== 1 || typeof doc.at !== 'number' || typeof doc.startedAt !== 'number') return null;
  return doc;
}

/** Totals of one version in one document. */
interface Totals {
  requests: number;
  errors: number;
  latency: Float64Array;
  /** The requests drawn at random among them; null when the document had none. */
  chance: Totals | null;
}

function totalsOf(t: TotalsDocument, chance: TotalsDocument | undefined): Totals {
  const latency = new Float64Array(LATENCY_BUCKETS);
  for (const [i, n] of t.latency) if (i >= 0 && i < LATENCY_BUCKETS) latency[i] = n;
  return { requests: t.requests, errors: t.errors, latency, chance: chance === undefined ? null : totalsOf(chance, undefined) };
}

interface Sample {
  at: number;
  /** `service\0version` -> totals */
  versions: Map<string, Totals>;
}

interface Series {
  startedAt: number;
  samples: Sample[];
  /** False once its source is gone: kept for the windows its samples still fall into. */
  live: boolean;
}

/** Documents of many sources, kept over the horizon; pure (the clock is passed in). */
export class SampledTotals {
  readonly #series = new Map<string, Series>();

  constructor(
    /** Longest window that can be asked for. */
    readonly horizonMs: number,
    readonly clock: () => number,
    /**
     * Sources publishing more often than this (workers to their primary, every 250 ms) keep one
     * sample per grain plus their newest: windows stay current, memory stays that of 1 s samples.
     */
    readonly grainMs = 0,
  ) {}

  /** Sources publishing now. */
  get live(): number {
    let n = 0;
    for (const s of this.#series.values()) if (s.live) n++;
    return n;
  }

  /** A document from source `key`. */
  add(key: string, doc: CountersDocument): void {
    let s = this.#series.get(key);
    if (s !== undefined && s.startedAt !== doc.startedAt) {
      // The same source restarted: its counters began again. Keep the old run as its own series.
      s.live = false;
      this.#series.set(`${key}#${s.startedAt}`, s);
      s = undefined;
    }
    if (s === undefined) this.#series.set(key, (s = { startedAt: doc.startedAt, samples: [], live: true }));
    s.live = true;
    if (s.samples.length > 0 && doc.at <= s.samples.at(-1)!.at) return; // a replay or an older copy
    const versions = new Map<string, Totals>();
    for (const [service, byVersion] of Object.entries(doc.versions ?? {})) {
      for (const [version, t] of Object.entries(byVersion)) versions.set(`${service}\0${version}`, totalsOf(t, t.chance));
    }
    const n = s.samples.length;
    // The newest sample replaces the previous newest while that one is within a grain of the one before.
    if (n >= 2 && s.samples[n - 1]!.at - s.samples[n - 2]!.at < this.grainMs) s.samples[n - 1] = { at: doc.at, versions };
    else s.samples.push({ at: doc.at, versions });
    this.#trim();
  }

  /** Source `key` is gone (its lease ended): its samples count until they leave the horizon. */
  gone(key: string): void {
    const s = this.#series.get(key);
    if (s) s.live = false;
  }

  /** Marks every source not in `present` as gone (after a full re-read). */
  keepOnly(present: ReadonlySet<string>): void {
    for (const [key, s] of this.#series) if (!present.has(key.split('#')[0]!)) s.live = false;
  }

  /** Traffic of one version over the last `ms`, none from before `since`, summed over every source. */
  window(service: string, version: string, ms: number, since?: number): WindowStats {
    const s = this.#sum(service, version, ms, since, (t) => t);
    return windowStats(s.requests, s.errors, s.histogram);
  }

  /** Builtin compare's sample: the requests of one version drawn at random, over the last `ms`, summed over every source. */
  chanceSample(service: string, version: string, ms: number, since?: number): WindowSample {
    const s = this.#sum(service, version, ms, since, (t) => t.chance);
    const histogram = new Uint32Array(LATENCY_BUCKETS);
    for (let i = 0; i < LATENCY_BUCKETS; i++) histogram[i] = Math.max(0, s.histogram[i]!);
    return { requests: s.requests, errors: s.errors, histogram };
  }

  /**
   * The totals `pick` chooses of one version, latest minus the sample from `ms` ago (or from
   * `since`, when later), summed over sources. The base is the newest sample at or before that
   * time, so what a source counted in its last grain before `since` (250 ms workers, 1 s gateways)
   * and published after it is counted: taking the first sample after `since` instead would drop
   * the new traffic of that grain, which every run starting with traffic would lose.
   */
  #sum(
    service: string,
    version: string,
    ms: number,
    since: number | undefined,
    pick: (t: Totals) => Totals | null,
  ): { requests: number; errors: number; histogram: Float64Array } {
    const windowFrom = this.clock() - Math.min(ms, this.horizonMs);
    const from = Math.max(windowFrom, since ?? -Infinity);
    const name = `${service}\0${version}`;
    const hist = new Float64Array(LATENCY_BUCKETS);
    let requests = 0;
    let errors = 0;
    for (const s of this.#series.values()) {
      const newest = s.samples.at(-1)?.versions.get(name);
      const last = newest === undefined ? null : pick(newest);
      if (last === null) continue;
      let base: Sample | undefined;
      for (let i = s.samples.length - 1; i >= 0; i--) {
        if (s.samples[i]!.at <= from) {
          base = s.samples[i];
          break;
        }
      }
      // No sample as old as `from`: from zero if the source started inside the window, else from the
      // oldest sample (this reader has not received for that long). A source whose first document
      // this reader has is after `since` (it started just before, or the reader joined late) is
      // thus counted from its start, as a window without `since` counts it.
      if (base === undefined && s.startedAt < windowFrom) base = s.samples[0];
      const older = base?.versions.get(name);
      const b = older === undefined ? null : pick(older);
      requests += last.requests - (b?.requests ?? 0);
      errors += last.errors - (b?.errors ?? 0);
      for (let i = 0; i < LATENCY_BUCKETS; i++) hist[i]! += last.latency[i]! - (b?.latency[i] ?? 0);
    }
    return { requests, errors, histogram: hist };
  }

  /** Drops samples older than the horizon (keeping one below it as a baseline) and gone series with nothing left. */
  #trim(): void {
    const oldest = this.clock() - this.horizonMs;
    for (const [key, s] of this.#series) {
      let drop = 0;
      while (drop + 1 < s.samples.length && s.samples[drop + 1]!.at <= oldest) drop++;
      if (drop > 0) s.samples.splice(0, drop);
      if (!s.live && (s.samples.at(-1)?.at ?? 0) < oldest) this.#series.delete(key);
    }
  }
}
