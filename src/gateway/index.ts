/**
 * The data plane: an HTTP gateway that marks and dispatches requests against a Snapshot and proxies
 * them over keep-alive pools, with passive health, mirroring, WebSocket tunnels, hot reload and
 * graceful drain.
 */
export { startGateway, type Gateway, type GatewayOptions } from './server.js';
export { HealthTable, type OriginHealth, type PassiveHealthParams } from './health.js';
export { MIRROR_HEADER, type MirrorCounters } from './mirror.js';
export { EXPOSE_LANE_HEADER, EXPOSE_VERSION_HEADER } from './headers.js';
export { STATUS, type GatewayErrorCode } from './errors.js';
export type { AccessRecord } from './access-log.js';
export type { ResponseObserver } from './observer.js';
