/**
 * `graylane serve --workers N`: one primary (config source, rollout controller, state store, admin
 * API) and N data-plane worker processes (docs/architecture.md#workers).
 */
export { startWorkerPool, schedulingPolicy, WorkerPool, type DataPlane, type WorkerInfo, type Propagation, type WorkerPoolOptions } from './pool.js';
export { WorkerTraffic, TrafficCountsRef, countersBatch } from './traffic.js';
export { WORKER_HEADER } from './worker.js';
export { workerCount } from './count.js';
