/**
 * The gateways list in clustered mode, the etcd side: a watch on every gateway's counters key
 * (`P/counters/<gateway id>`) feeding a GatewayTable (src/metrics/gateways.ts), which turns the
 * documents, their arrival times and the local gateway's own state into the overview's list.
 *
 * It reads only what the counter publishers already write (with `heartbeat` and `about`, as
 * src/backend/etcd.ts publishes); it is a watch of its own beside the controller's
 * (watchClusterMetrics), which keeps samples for analysis and not who sent them.
 */
import { GatewayTable, type GatewaysOverview, type LocalGateway } from '../metrics/gateways.js';
import type { EtcdConnection, EtcdEntry } from '../store/etcd-connection.js';
import { watchKeys, type KeyWatch } from '../store/etcd-watch.js';
import { parseCountersDocument, type CountersDocument } from '../traffic/index.js';

export interface GatewaysWatchOptions {
  /** This process's clock; default Date.now. */
  clock?: () => number;
}

/**
 * Starts watching every gateway's counters.
 *
 * @example
 * const gateways = watchGateways(etcd);
 * gateways.overview(local); // in each overview
 * await gateways.close();
 */
export function watchGateways(conn: EtcdConnection, opts: GatewaysWatchOptions = {}): GatewaysWatch {
  return new GatewaysWatch(conn, opts);
}

export class GatewaysWatch {
  readonly #table = new GatewayTable();
  readonly #clock: () => number;
  readonly #watch: KeyWatch;

  constructor(conn: EtcdConnection, opts: GatewaysWatchOptions = {}) {
    this.#clock = opts.clock ?? Date.now;
    const prefix = conn.keys.countersPrefix;
    // Keys hold the gateway id URL-encoded into one segment (KeyLayout).
    const idOf = (e: EtcdEntry): string => decodeURIComponent(e.key.slice(prefix.length));
    const docOf = (e: EtcdEntry): CountersDocument | null => parseCountersDocument(e.value.toString());
    this.#watch = watchKeys(conn, prefix, {
      onReset: (entries) => {
        const docs: [string, CountersDocument][] = [];
        for (const e of entries) {
          const doc = docOf(e);
          if (doc !== null) docs.push([idOf(e), doc]);
        }
        this.#table.reset(docs, this.#clock());
      },
      onChanges: (changes) => {
        const now = this.#clock();
        for (const c of changes) {
          const doc = c.type === 'put' ? docOf(c.entry) : null;
          // A value that is not a counters document is no gateway.
          if (doc === null) this.#table.delete(idOf(c.entry));
          else this.#table.put(idOf(c.entry), doc, now);
        }
      },
    });
  }

  /** Resolves once the current keys have been read. */
  ready(): Promise<void> {
    return this.#watch.ready();
  }

  /** The list now, with `local` (this process) first. */
  overview(local: LocalGateway): GatewaysOverview {
    return this.#table.overview(local, this.#clock());
  }

  close(): Promise<void> {
    return this.#watch.close();
  }
}
