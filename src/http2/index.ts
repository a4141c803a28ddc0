/**
 * graylane's HTTP/2 server side on node:http2: sessions on sockets the gateway's listeners
 * accepted, each stream a request and response shaped as the exchange reads and writes them.
 */
export { Http2Sessions, PREMATURE_RESET_MS, PREMATURE_RESET_STREAMS, type Http2Handler, type Http2Limits } from './server-session.js';
export { Http2Request } from './request.js';
export { CONNECTION_SPECIFIC, Http2Response, http2Fields, type StreamOwner } from './response.js';
export { encodeGrpcMessage, grpcTimeoutMs } from './grpc.js';
