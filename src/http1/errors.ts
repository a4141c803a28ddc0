/**
 * Why a message head or body is refused: the HTTP status a server answers with, and a reason that
 * names the rule broken. Constants, so refusing allocates nothing.
 */
export interface ParseError {
  readonly status: 400 | 408 | 413 | 414 | 417 | 431 | 501 | 505 | 502;
  readonly reason: string;
}

function e(status: ParseError['status'], reason: string): ParseError {
  return Object.freeze({ status, reason });
}

export const E = Object.freeze({
  NOT_HTTP: e(400, 'not an HTTP/1.x message'),
  HEAD_TIMEOUT: e(408, 'the request head did not arrive within limits.headersTimeout'),
  METHOD: e(400, 'the method is not a token'),
  // 400 as llhttp answers it (a method is a token; one the server does not know is a bad request to it).
  UNKNOWN_METHOD: e(400, 'unknown method'),
  TARGET: e(400, 'the request target has a byte outside visible ASCII, or a fragment'),
  TARGET_EMPTY: e(400, 'no request target'),
  TARGET_FORM: e(400, 'the request target must be a path'),
  CONNECT: e(501, 'CONNECT is not served'),
  TARGET_TOO_LONG: e(414, 'the request target is longer than limits.maxUrlBytes'),
  VERSION: e(400, 'malformed HTTP version'),
  VERSION_UNSUPPORTED: e(505, 'only HTTP/1.0 and HTTP/1.1 are served on this listener'),
  HTTP09: e(505, 'only HTTP/1.0 and HTTP/1.1 are served on this listener (a request line without a version is HTTP/0.9)'),
  LINE_END: e(400, 'a line does not end in CRLF'),
  BARE_LF: e(400, 'a bare LF: lines must end in CRLF'),
  FIELD_NAME: e(400, 'a header field name is empty or has a byte outside tchar (a space before the colon?)'),
  OBS_FOLD: e(400, 'a header line starts with whitespace (obs-fold is not accepted)'),
  FIELD_VALUE: e(400, 'a header field value has a control byte'),
  TOO_MANY_FIELDS: e(431, 'more header fields than limits.maxHeaders'),
  HEAD_TOO_LARGE: e(431, 'the head is larger than limits.maxHeaderBytes'),
  HOST_MISSING: e(400, 'an HTTP/1.1 request without Host'),
  HOST_TWICE: e(400, 'more than one Host header'),
  CONTENT_LENGTH: e(400, 'Content-Length is not a plain decimal number'),
  CONTENT_LENGTH_TWICE: e(400, 'more than one Content-Length'),
  CL_AND_TE: e(400, 'both Content-Length and Transfer-Encoding'),
  TE_NOT_CHUNKED_LAST: e(400, 'Transfer-Encoding does not end in chunked'),
  TE_CODING: e(501, 'Transfer-Encoding other than chunked alone (gzip, deflate, identity...) is not supported'),
  TE_HTTP10: e(400, 'Transfer-Encoding in an HTTP/1.0 message'),
  TE_SYNTAX: e(400, 'Transfer-Encoding is not a list of codings'),
  EXPECTATION: e(417, 'an expectation other than 100-continue'),
  CHUNK_SIZE: e(400, 'a chunk size is not hex digits, or too large'),
  CHUNK_EXTENSION: e(400, 'a malformed chunk extension'),
  CHUNK_END: e(400, 'chunk data not followed by CRLF'),
  TRAILER: e(400, 'a malformed trailer field'),
  TRAILER_TOO_LARGE: e(431, 'the trailer section is larger than limits.maxHeaderBytes'),
  STATUS_LINE: e(502, 'a malformed status line'),
  RESPONSE_FIELDS: e(502, 'a malformed header field in the response'),
  RESPONSE_FRAMING: e(502, 'the response has conflicting or malformed framing headers'),
});
