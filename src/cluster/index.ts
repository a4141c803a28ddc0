/**
 * Clustered mode on etcd, in one import: the store, the spec source (src/source/etcd.ts), leader election, traffic
 * counters and instance registrations, all on one EtcdConnection. Kept apart from ./index.js so a
 * single-process graylane does not load the etcd client (gRPC) at start-up.
 *
 * Wiring (docs/cluster.md, "Wiring"):
 *   const etcd = connectEtcd({ ...parseEtcdUrl(storeUrl), prefix });
 *   const store = new EtcdStore(etcd);                  // the Store interface
 *   applySpec / getSpec / loadInitialSpec / watchSpec    // graylane apply, get spec, serve
 *   campaign(etcd, { onElected, onDemoted })             // one controller at a time; store.fenced(l)
 *   publishCounters(etcd, totals) / watchClusterMetrics(etcd)
 *   registerInstance / heartbeatInstance / deregisterInstance / watchInstances
 */
export { connectEtcd, parseEtcdUrl, EtcdConnection, KeyLayout, DEFAULT_PREFIX, DEFAULT_TIMEOUT_MS, type EtcdOptions, type EtcdEntry } from '../store/etcd-connection.js';
export { EtcdStore, openEtcdStore, watchStatuses, type Fence, type StatusWatchOptions } from '../store/etcd.js';
export { watchKeys, KeyWatch, type WatchChange, type WatchHandlers, type WatchOptions } from '../store/etcd-watch.js';
export {
  applySpec,
  getSpec,
  loadInitialSpec,
  watchSpec,
  decodeSpec,
  type AppliedSpec,
  type ApplyOptions,
  type ApplyResult,
  type InitialSpec,
  type WatchSpecOptions,
} from '../source/etcd.js';
export { readSpecCache, writeSpecCache, sha256Hex, SpecCacheError } from '../source/cache.js';
export { readStatusCache, writeStatusCache } from './status-cache.js';
export { campaign, currentLeader, Campaign, type CampaignOptions, type Leadership, type LeaderRecord } from './leader.js';
export {
  publishCounters,
  CounterPublisher,
  watchClusterMetrics,
  ClusterMetrics,
  type PublishedTotals,
  type CounterPublisherOptions,
  type ClusterMetricsOptions,
} from './counters.js';
export {
  registerInstance,
  heartbeatInstance,
  deregisterInstance,
  listInstances,
  watchInstances,
  toRegistered,
  type Registration,
  type RegistrationInput,
  type InstancesWatchOptions,
} from './registrations.js';
export { StoreUnavailableError, StoreFencedError, StoreConflictError } from '../store/types.js';
export { EtcdInstances, type EtcdInstancesOptions } from './etcd-instances.js';
