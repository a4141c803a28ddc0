/**
 * HTTP/1.1 message syntax, strictly, on bytes: request and response heads parsed into offsets,
 * the chunked coding decoded as it arrives; the server connection and the upstream client pool that
 * move the bytes.
 */
export { E, type ParseError } from './errors.js';
export { Fields, findHeadEnd, scanFields, skipEmptyLines } from './fields.js';
export { RequestHead, parseRequestHead, type HeadLimits } from './request-head.js';
export { ResponseHead, parseResponseHead } from './response-head.js';
export { ResponseFields } from './response-fields.js';
export { ChunkedDecoder, type DataSink } from './chunked.js';
export { headerObject, rawHeaders } from './header-object.js';
export { RequestFields } from './request-fields.js';
export { fieldLines, ResponseWriter, type ResponseOwner, type ResponseTarget } from './response-writer.js';
export { Http1Connection, Http1Request, Http1Sweep, type BodySink, type ConnectionLimits, type Http1Handler } from './server-connection.js';
export { Http1ClientConnection, UpstreamSweep, type UpstreamHandler, type UpstreamRequest } from './client-connection.js';
export { UpstreamPool, type UpstreamPoolOptions } from './upstream-pool.js';
export { isReadBufferView, READ_BUFFER, readWithBuffer } from './read-buffer.js';
