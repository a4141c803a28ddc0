/**
 * graylane/lanes: full-link gray for Node services. The lane a request arrived in becomes the
 * current lane (AsyncLocalStorage) for all the code handling it, every outbound fetch/undici/http
 * call made meanwhile carries it on to the next service, and the instance registers itself with the
 * gateway as an endpoint of its version. See docs/lanes-sdk.md.
 *
 * @example
 * import http from 'node:http';
 * import { withLanes, installLanePropagation, register, currentLane } from 'graylane/lanes';
 *
 * installLanePropagation();                       // outbound calls carry the current lane
 * http.createServer(withLanes(async (req, res) => {
 *   const stock = await fetch('http://gateway:8081/stock/items');  // same lane, next hop
 *   res.end(`lane ${currentLane() ?? 'none'}: ${await stock.text()}`);
 * })).listen(8080);
 * register({ admin: 'http://gateway:9090', token: process.env.GRAYLANE_TOKEN!, service: 'orders',
 *   version: process.env.LANE ?? 'stable', url: 'http://10.0.0.7:8080', deregisterOnSignals: true });
 */
export {
  LANE_BAGGAGE_KEY,
  MAX_BAGGAGE_BYTES,
  MAX_BAGGAGE_MEMBERS,
  baggageLane,
  baggageValue,
  decodeBaggageValue,
  encodeBaggageValue,
  joinHeader,
  parseBaggage,
  withBaggageLane,
  withBaggageMember,
  withoutBaggageLane,
  withoutBaggageMember,
  type BaggageMember,
} from './baggage.js';
export { currentLane, currentLaneContext, runWithLane, runWithoutLane, type LaneContext } from './context.js';
export { isLaneName } from './lane-name.js';
export {
  DEFAULT_LANE_HEADER,
  createLaneReader,
  expressLanes,
  fastifyLanes,
  laneHeaderNames,
  withLanes,
  type FastifyInstanceLike,
  type FastifyRequestLike,
  type IncomingLaneOptions,
  type LaneHeaderOptions,
} from './middleware.js';
export { installLanePropagation, type LanePropagation, type PropagationOptions } from './outbound.js';
export {
  RegistrationError,
  register,
  type RegisterOptions,
  type Registration,
  type RegistrationErrorCode,
} from './register.js';
