/**
 * The gateways list of the overview: every gateway of the cluster with its role, store state, last
 * counters publish and traffic per version, the totals per version across them, and which one is
 * this process. Pure: the documents received, the local gateway's own state and the clock come in.
 *
 * In clustered mode every gateway publishes its counters document (src/traffic/document.ts, with
 * `about`) every publish period, counted or not, on a leased key (`P/counters/<gateway id>`):
 *
 * - **live**: a new document arrived within {@link STALE_AFTER_MS} (three publish periods);
 * - **stale**: none for that long (stopped, frozen, or cut off from etcd): still listed, with its
 *   last counts in the totals;
 * - **gone**: its key left etcd: its lease ran out ({@link GATEWAY_LEASE_SEC} after its last
 *   renewal) or it stopped cleanly (the lease is revoked). It leaves the list and the totals.
 *
 * Silence is measured on this process's clock, from when a new document *arrived*, so a gateway
 * whose clock is off is not shown stale for that (its `publishedAt` is its own clock, as published).
 * While this gateway's own watch on etcd is down, nothing arrives and the others turn stale, none
 * gone: that is what this gateway knows. A single process lists itself alone, in the same shape.
 */
import type { CountersDocument, GatewayAbout } from '../traffic/index.js';

/** How often a gateway publishes its counters document in clustered mode. */
export const PUBLISH_MS = 1000;
/** A gateway is stale after this long without a new document: three publish periods. */
export const STALE_AFTER_MS = 3 * PUBLISH_MS;
/**
 * TTL of the lease a gateway's counters key lives on. It is renewed at a publish once a third of it
 * has passed, so a gateway that stops leaves the list between 2/3 of it less a publish period and
 * all of it (plus etcd's 0.5 s expiry sweep) after it stopped: about 6 to 10.5 s, always after it
 * turned stale.
 */
export const GATEWAY_LEASE_SEC = 10;

export interface VersionTotals {
  /** Requests since the gateway started. */
  requests: number;
  /** Of which errors (5xx, or no answer). */
  errors: number;
}

/** service -> version -> totals. */
export type TotalsByVersion = Record<string, Record<string, VersionTotals>>;

export interface GatewayOverview {
  /** Unique per process: the key of its counters (`<name>-<pid>` with `--name`). */
  id: string;
  name: string;
  hostname: string;
  /** The proxy listener, `host:port` as bound ('' when the publisher did not say). */
  address: string;
  /** The admin listener, `host:port` as bound. */
  admin: string;
  /** `leader`: its controller drives the rollouts; every other gateway follows. */
  role: 'leader' | 'follower';
  /** Campaigns to lead (false: `--no-controller`). */
  candidate: boolean;
  store: { up: boolean; error?: string };
  /** This process. */
  local: boolean;
  state: 'live' | 'stale';
  /** When its counters started (epoch ms). */
  startedAt: number;
  /** Its last counters publish, on its clock; null when none arrived (or a single process, which publishes none). */
  publishedAt: number | null;
  /** Ms since a new document of it arrived here; null when none did. */
  silentMs: number | null;
  /** Its traffic since it started (the local gateway's as counted now, the others' as published). */
  versions: TotalsByVersion;
}

export interface GatewaysOverview {
  mode: 'single' | 'cluster';
  /** Silence after which a gateway is shown stale; null for a single process. */
  staleAfterMs: number | null;
  /** Lease TTL after which a silent gateway's key leaves etcd and it leaves the list; null for a single process. */
  goneAfterMs: number | null;
  /** This gateway first, then by name. */
  gateways: GatewayOverview[];
  /** The versions' totals summed over the gateways listed. */
  totals: TotalsByVersion;
}

/** This process, as it knows itself (its counts now, not as last published). */
export interface LocalGateway extends GatewayAbout {
  id: string;
  startedAt: number;
  versions: Iterable<{ service: string; version: string; requests: number; errors: number }>;
}

/** One process: itself alone, live. */
export function singleGateway(local: LocalGateway): GatewaysOverview {
  const me = localOverview(local, null, null, 'live');
  return { mode: 'single', staleAfterMs: null, goneAfterMs: null, gateways: [me], totals: sumTotals([me]) };
}

interface Received {
  doc: CountersDocument;
  /** This process's clock when the newest document arrived. */
  receivedAt: number;
}

/** The documents of every gateway as they arrive from etcd, and the list made of them. */
export class GatewayTable {
  readonly #received = new Map<string, Received>();

  constructor(readonly staleAfterMs = STALE_AFTER_MS, readonly goneAfterMs = GATEWAY_LEASE_SEC * 1000) {}

  /** A (re)read of every key: replaces what is held, keeping arrival times of documents already seen. */
  reset(entries: Iterable<[id: string, doc: CountersDocument]>, now: number): void {
    const before = new Map(this.#received);
    this.#received.clear();
    for (const [id, doc] of entries) {
      const prev = before.get(id);
      if (prev !== undefined) this.#received.set(id, prev);
      this.put(id, doc, now);
    }
  }

  /** A document of gateway `id` arrived at `now`. */
  put(id: string, doc: CountersDocument, now: number): void {
    const prev = this.#received.get(id);
    if (prev !== undefined && doc.startedAt === prev.doc.startedAt && doc.at <= prev.doc.at) return; // a replay, not a publish
    // First sight (a start, a relist): it was published at `at` at the latest, so a gateway that
    // stopped long ago shows stale at once; a clock ahead of ours counts from now.
    this.#received.set(id, { doc, receivedAt: prev === undefined ? Math.min(now, doc.at) : now });
  }

  /** Gateway `id`'s key left etcd. */
  delete(id: string): void {
    this.#received.delete(id);
  }

  /** The list now, `local` first. */
  overview(local: LocalGateway, now: number): GatewaysOverview {
    const own = this.#received.get(local.id);
    const ownSilent = own === undefined ? null : now - own.receivedAt;
    // Before its first publish came back, a starting gateway gets the same grace as any silence.
    const ownState = (ownSilent ?? now - local.startedAt) >= this.staleAfterMs ? 'stale' : 'live';
    const me = localOverview(local, own?.doc.at ?? null, ownSilent, ownState);
    const others: GatewayOverview[] = [];
    for (const [id, r] of this.#received) if (id !== local.id) others.push(remoteOverview(id, r, now, this.staleAfterMs));
    others.sort((a, b) => (a.name === b.name ? (a.id < b.id ? -1 : 1) : a.name < b.name ? -1 : 1));
    const gateways = [me, ...others];
    return { mode: 'cluster', staleAfterMs: this.staleAfterMs, goneAfterMs: this.goneAfterMs, gateways, totals: sumTotals(gateways) };
  }
}

function localOverview(local: LocalGateway, publishedAt: number | null, silentMs: number | null, state: GatewayOverview['state']): GatewayOverview {
  const versions: TotalsByVersion = {};
  for (const v of local.versions) (versions[v.service] ??= {})[v.version] = { requests: v.requests, errors: v.errors };
  return {
    id: local.id,
    name: local.name,
    hostname: local.hostname,
    address: local.address,
    admin: local.admin,
    role: local.leading ? 'leader' : 'follower',
    candidate: local.candidate,
    store: storeOf(local.store),
    local: true,
    state,
    startedAt: local.startedAt,
    publishedAt,
    silentMs,
    versions,
  };
}

/** A published document as a row; `about` comes from another process, so each field is checked. */
function remoteOverview(id: string, r: Received, now: number, staleAfterMs: number): GatewayOverview {
  const a = (typeof r.doc.about === 'object' && r.doc.about !== null ? r.doc.about : {}) as Partial<Record<keyof GatewayAbout, unknown>>;
  const text = (v: unknown, fallback: string): string => (typeof v === 'string' ? printable(v) : fallback);
  const silentMs = now - r.receivedAt;
  return {
    id,
    name: text(a.name, id),
    hostname: text(a.hostname, ''),
    address: text(a.address, ''),
    admin: text(a.admin, ''),
    role: a.leading === true ? 'leader' : 'follower',
    candidate: a.candidate === true,
    store: storeOf(a.store),
    local: false,
    state: silentMs >= staleAfterMs ? 'stale' : 'live',
    startedAt: r.doc.startedAt,
    publishedAt: r.doc.at,
    silentMs,
    versions: versionsOf(r.doc.versions),
  };
}

function storeOf(s: unknown): GatewayOverview['store'] {
  const o = (typeof s === 'object' && s !== null ? s : {}) as { up?: unknown; error?: unknown };
  return typeof o.error === 'string' ? { up: o.up === true, error: printable(o.error) } : { up: o.up === true };
}

/** At most 256 characters, control characters as `?`: `graylane top` prints these to a terminal, where an escape sequence would act. */
function printable(v: string): string {
  return v.slice(0, 256).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function versionsOf(published: unknown): TotalsByVersion {
  const out: TotalsByVersion = {};
  if (typeof published !== 'object' || published === null) return out;
  for (const [service, byVersion] of Object.entries(published as Record<string, unknown>)) {
    if (typeof byVersion !== 'object' || byVersion === null) continue;
    for (const [version, t] of Object.entries(byVersion as Record<string, unknown>)) {
      if (typeof t !== 'object' || t === null) continue;
      const o = t as { requests?: unknown; errors?: unknown };
      (out[service] ??= {})[version] = { requests: count(o.requests), errors: count(o.errors) };
    }
  }
  return out;
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

/** Per version, the sum over `gateways`; services and versions sorted by name. */
export function sumTotals(gateways: readonly GatewayOverview[]): TotalsByVersion {
  const sums = new Map<string, Map<string, VersionTotals>>();
  for (const g of gateways) {
    for (const [service, byVersion] of Object.entries(g.versions)) {
      let s = sums.get(service);
      if (s === undefined) sums.set(service, (s = new Map()));
      for (const [version, t] of Object.entries(byVersion)) {
        const sum = s.get(version) ?? { requests: 0, errors: 0 };
        s.set(version, { requests: sum.requests + t.requests, errors: sum.errors + t.errors });
      }
    }
  }
  const out: TotalsByVersion = {};
  for (const service of [...sums.keys()].sort()) {
    const byVersion = sums.get(service)!;
    out[service] = Object.fromEntries([...byVersion.keys()].sort().map((v) => [v, byVersion.get(v)!]));
  }
  return out;
}
