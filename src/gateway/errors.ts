/**
 * The gateway's own answers: one catalog of error codes, their HTTP status and the small JSON body
 * sent when the gateway (not the upstream) answers a request.
 */

/** Stable codes of the gateway's own error answers (the `error` field of the JSON body). */
export type GatewayErrorCode =
  | 'no_route'
  | 'no_endpoint'
  | 'bad_gateway'
  | 'upstream_timeout'
  | 'bad_request'
  | 'request_timeout'
  | 'expectation_failed'
  | 'uri_too_long'
  | 'headers_too_large'
  | 'version_not_supported'
  | 'not_implemented'
  | 'internal_error';

export const STATUS: Readonly<Record<GatewayErrorCode, number>> = {
  bad_request: 400,
  request_timeout: 408,
  expectation_failed: 417,
  uri_too_long: 414,
  headers_too_large: 431,
  version_not_supported: 505,
  not_implemented: 501,
  no_route: 404,
  bad_gateway: 502,
  no_endpoint: 503,
  upstream_timeout: 504,
  internal_error: 500,
};

/**
 * The gRPC status of each answer, for a gRPC call the gateway fails itself (sendError): what a
 * gRPC client maps the HTTP status to (the gRPC "HTTP to gRPC Status Code Mapping"), made precise
 * where the gateway knows more: no route is UNIMPLEMENTED (as Envoy answers), no endpoint or a
 * failed upstream UNAVAILABLE (the client may retry), a timeout DEADLINE_EXCEEDED, a refused
 * request INTERNAL (the gRPC library sent it), a header list over the limits RESOURCE_EXHAUSTED.
 */
export const GRPC_STATUS: Readonly<Record<GatewayErrorCode, number>> = {
  bad_request: 13,
  request_timeout: 4,
  expectation_failed: 13,
  uri_too_long: 8,
  headers_too_large: 8,
  version_not_supported: 13,
  not_implemented: 12,
  no_route: 12,
  bad_gateway: 14,
  no_endpoint: 14,
  upstream_timeout: 4,
  internal_error: 13,
};

/** How an upstream failure is answered and whether it counts against the endpoint's health. */
export interface UpstreamFailure {
  code: 'bad_gateway' | 'upstream_timeout';
  /** A connect error or timeout: passive health counts it (a client abort does not). */
  unhealthy: boolean;
}

const TIMEOUT: UpstreamFailure = { code: 'upstream_timeout', unhealthy: true };
const BAD_GATEWAY: UpstreamFailure = { code: 'bad_gateway', unhealthy: true };
const BAD_GATEWAY_NOT_UPSTREAMS_FAULT: UpstreamFailure = { code: 'bad_gateway', unhealthy: false };

/**
 * Classify an error from undici or the socket layer. Timeouts (connect, response headers, body
 * idle) are 504 like nginx's `proxy_*_timeout`; refused, reset or closed connections are 502.
 * Errors of our own making (an aborted request, an argument undici rejects) are 502 but do not
 * eject the endpoint.
 */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return TIMEOUT;
    case 'UND_ERR_ABORTED':
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
    // Every HTTP/2 stream of the origin busy and its wait queue full (./h2-pool.ts): load, not a fault.
    case 'GRAYLANE_H2_QUEUE_FULL':
      return BAD_GATEWAY_NOT_UPSTREAMS_FAULT;
    default:
      return BAD_GATEWAY;
  }
}

/**
 * Which kind of retryable failure an error is (a service's `retry.on`), or null: `connect-error`
 * when no connection could be opened, `reset` when the connection was closed or reset (undici's
 * "other side closed", ECONNRESET, EPIPE), which is how a keep-alive connection the upstream closed
 * while it was being reused shows up. Timeouts are never retried: the upstream may still be working.
 */
export function retryKind(err: unknown): 'connect-error' | 'reset' | null {
  switch ((err as { code?: unknown } | null)?.code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'connect-error';
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    default:
      return null;
  }
}

/** The JSON body of a gateway answer; `fields` are context such as route, version and endpoint. */
export function errorBody(code: GatewayErrorCode, fields: Record<string, string | null>): string {
  return JSON.stringify({ error: code, ...fields });
}
