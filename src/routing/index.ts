/**
 * The routing core: compile a Spec (+ Status) into a Snapshot, then per request match a route,
 * mark the request into a lane and dispatch it to an endpoint. Pure: no sockets, no files.
 */
export { compile, configHash, parseEndpoint, snapshotId } from './compile.js';
export { dispatch, needsHttp2, nextEndpoint, DISPATCH_REASON } from './dispatch.js';
export { explain, type Explanation } from './explain.js';
export { MESH_ROUTE_PREFIX, buildMeshTable, meshRouteSpecs, stripMeshPrefix } from './mesh.js';
export { compileMark, compileCanary, BAGGAGE_LANE_KEY, type MarkFn, type MarkOptions } from './mark.js';
export { compileRule, type CompiledRule } from './rules.js';
export { Subject, findIdentity, readSource, type IdentityPlan } from './identity.js';
export { BUCKETS, bucketOf, bucketFromSeed, saltSeed, threshold } from './hash.js';
export { SmoothWrr } from './wrr.js';
export { baggageValue, cookieValue, headerValue, ObjectHeaders, queryValue } from './request-values.js';
export { CompileError } from './errors.js';
export type * from './types.js';
