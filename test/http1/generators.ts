/**
 * Generated HTTP/1.1 messages for the differential tests: mostly well-formed, with the mutations
 * that request smuggling and header injection are made of (separators, line endings, duplicated
 * and conflicting framing headers, odd chunk sizes and extensions, control and non-ASCII bytes).
 */
import fc from 'fast-check';
import { METHODS } from 'node:http';

const pick = <T>(...xs: T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);

/** A byte string (latin1) of any bytes, short. */
const anyBytes = (max: number): fc.Arbitrary<string> => fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: max }).map((a) => String.fromCharCode(...a));

const lineEnd = fc.oneof({ weight: 20, arbitrary: pick('\r\n') }, { weight: 1, arbitrary: pick('\n', '\r', '\r\r\n', '\n\r', ' \r\n') });

const method = fc.oneof(
  { weight: 10, arbitrary: pick('GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH') },
  { weight: 2, arbitrary: pick(...METHODS) },
  { weight: 1, arbitrary: pick('get', 'Get', 'PRI', 'GETT', 'G', '', 'GE T', 'GET\0', 'M-SEARCHX', 'PROPFIN') },
  { weight: 1, arbitrary: anyBytes(6) },
);

const pathChar = fc.oneof(
  { weight: 20, arbitrary: pick('a', 'b', '/', '-', '.', '_', '~', '%2e', '%2F', '?', '=', '&', '1') },
  { weight: 2, arbitrary: pick('"', '<', '>', '\\', '^', '`', '{', '|', '}', '[', ']', '#', '%', "'", '(', ')', '*', '!', '$', ',', ';', ':', '@', '+') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) },
);
const target = fc.oneof(
  { weight: 20, arbitrary: fc.array(pathChar, { maxLength: 12 }).map((a) => `/${a.join('')}`) },
  { weight: 1, arbitrary: pick('*', 'http://a.example/x', 'a.example:443', '', '//x', '/ x') },
);

const version = fc.oneof({ weight: 20, arbitrary: pick('HTTP/1.1', 'HTTP/1.0') }, { weight: 1, arbitrary: pick('HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.10', 'HTTP/1', 'HTTP/1.1 ', 'HTTP /1.1', 'HTTP/3.0', 'HTTP/1.2') });

const sp = fc.oneof({ weight: 20, arbitrary: pick(' ') }, { weight: 1, arbitrary: pick('  ', '\t', '', '\x0b') });

const headerName = fc.oneof(
  { weight: 10, arbitrary: pick('host', 'Host', 'x-a', 'X-Gray-Lane', 'accept', 'cookie', 'user-agent') },
  { weight: 4, arbitrary: pick('content-length', 'Content-Length', 'CONTENT-LENGTH', 'transfer-encoding', 'Transfer-Encoding', 'connection', 'expect', 'upgrade') },
  { weight: 1, arbitrary: pick('', ' host', 'host ', 'content-length ', 'x a', 'x\0a', 'x\x7fa', 'transfer_encoding', 'x-ä') },
  { weight: 1, arbitrary: anyBytes(5) },
);

const separator = fc.oneof({ weight: 20, arbitrary: pick(': ', ':') }, { weight: 1, arbitrary: pick(' : ', ':\t', ' :', ':  ', '') });

const headerValue = fc.oneof(
  { weight: 10, arbitrary: pick('a', 'x.example', '1', 'keep-alive', 'close', 'text/html; q=1', '') },
  { weight: 6, arbitrary: pick('0', '4', '5', '10', '04', '+4', '-1', '4 ', ' 4', '4,4', '4, 4', '0x4', '1e1', '99999999999999999999', '4\t') },
  { weight: 6, arbitrary: pick('chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', 'gzip, chunked', 'chunked, gzip', 'chunked, chunked', 'identity', 'gzip', 'chunked;q=1', ',chunked', 'chunked,', 'xchunked', 'chunked\t') },
  { weight: 2, arbitrary: pick('100-continue', '100-Continue', 'websocket', 'upgrade', 'Upgrade, close') },
  { weight: 2, arbitrary: anyBytes(8) },
);

const headerLine = fc.oneof(
  { weight: 30, arbitrary: fc.tuple(headerName, separator, headerValue).map(([n, s, v]) => `${n}${s}${v}`) },
  { weight: 1, arbitrary: fc.tuple(pick(' ', '\t'), headerValue).map(([w, v]) => `${w}${v}`) }, // obs-fold
);

const chunkSize = (n: number): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 20, arbitrary: pick(n.toString(16), n.toString(16).toUpperCase()) },
    { weight: 2, arbitrary: pick(`0${n.toString(16)}`, `${n.toString(16)};a=b`, `${n.toString(16)};a="q d"`, `${n.toString(16)};a`, `${n.toString(16)};a=b;c`) },
    { weight: 1, arbitrary: pick(`${n.toString(16)} `, ` ${n.toString(16)}`, `0x${n.toString(16)}`, `${n.toString(16)};`, `${n.toString(16)};a=`, `${n.toString(16)};a="q`, `${n.toString(16)} ;a`, `-${n.toString(16)}`, `${(n + 1).toString(16)}`, 'g', '') },
  );

const chunk = fc.string({ maxLength: 6 }).chain((data) => fc.tuple(chunkSize(data.length), lineEnd, pick(data), lineEnd).map((p) => p.join('')));
const trailers = fc.array(fc.tuple(headerLine, lineEnd).map((p) => p.join('')), { maxLength: 2 });
const chunkedBody = fc.tuple(fc.array(chunk, { maxLength: 3 }), pick('0', '000', '0;a=b', '0 ', ''), lineEnd, trailers, lineEnd).map(([cs, last, e1, t, e2]) => `${cs.join('')}${last}${e1}${t.join('')}${e2}`);

const body = fc.oneof({ weight: 3, arbitrary: pick('') }, { weight: 3, arbitrary: fc.string({ maxLength: 8 }) }, { weight: 3, arbitrary: chunkedBody });

/** One request: request line, header lines, empty line, and a body (maybe not matching its headers). */
export const request = fc
  .tuple(fc.oneof({ weight: 20, arbitrary: fc.constant('') }, { weight: 1, arbitrary: pick('\r\n', '\r\n\r\n', '\n', '\r') }), method, sp, target, sp, version, lineEnd, fc.array(fc.tuple(headerLine, lineEnd), { maxLength: 6 }), lineEnd, body)
  .map(([lead, m, s1, t, s2, v, e, hs, e2, b]) => `${lead}${m}${s1}${t}${s2}${v}${e}${hs.map((h) => h.join('')).join('')}${e2}${b}`);

/**
 * Requests as a client would frame them when well-behaved: a Host, and a body that matches its
 * framing header. Mixed with `request` so that most cases get past the head.
 */
export const wellFramedRequest = fc
  .tuple(pick('GET', 'POST', 'PUT'), target, fc.array(fc.tuple(headerName, headerValue), { maxLength: 3 }), fc.oneof(fc.string({ maxLength: 8 }).map((d) => ({ kind: 'length' as const, d })), chunkedBody.map((d) => ({ kind: 'chunked' as const, d }))))
  .map(([m, t, hs, b]) => {
    const framing = b.kind === 'length' ? `Content-Length: ${b.d.length}\r\n` : 'Transfer-Encoding: chunked\r\n';
    return `${m} ${t} HTTP/1.1\r\nHost: a.example\r\n${hs.map(([n, v]) => `${n}: ${v}\r\n`).join('')}${framing}\r\n${b.d}`;
  });

/** One to three requests on one connection, as bytes. */
export const requestStream = fc.array(fc.oneof({ weight: 1, arbitrary: request }, { weight: 2, arbitrary: wellFramedRequest }), { minLength: 1, maxLength: 3 }).map((rs) => Buffer.from(rs.join(''), 'latin1'));

const status = fc.oneof({ weight: 20, arbitrary: pick('200', '404', '500', '204', '304', '101', '100', '301') }, { weight: 1, arbitrary: pick('20', '2000', '099', '600', 'abc', '999', '') });
const reason = fc.oneof({ weight: 10, arbitrary: pick(' OK', ' Not Found', '', ' ', ' a\tb') }, { weight: 1, arbitrary: anyBytes(4).map((s) => ` ${s}`) });
const responseVersion = fc.oneof({ weight: 20, arbitrary: pick('HTTP/1.1', 'HTTP/1.0') }, { weight: 1, arbitrary: pick('HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ', 'ICY') });

/** One response (status line, headers, body). */
export const response = fc
  .tuple(responseVersion, pick(' ', ' ', '  ', ''), status, reason, lineEnd, fc.array(fc.tuple(headerLine, lineEnd), { maxLength: 5 }), lineEnd, body)
  .map(([v, s, st, r, e, hs, e2, b]) => `${v}${s}${st}${r}${e}${hs.map((h) => h.join('')).join('')}${e2}${b}`);

/** A response as a well-behaved upstream frames it, with a few extra fields. */
export const wellFramedResponse = fc
  .tuple(pick('200', '404', '500', '201'), fc.array(fc.tuple(headerName, headerValue), { maxLength: 3 }), fc.oneof(fc.string({ maxLength: 8 }).map((d) => ({ kind: 'length' as const, d })), chunkedBody.map((d) => ({ kind: 'chunked' as const, d }))))
  .map(([st, hs, b]) => {
    const framing = b.kind === 'length' ? `Content-Length: ${b.d.length}\r\n` : 'Transfer-Encoding: chunked\r\n';
    return `HTTP/1.1 ${st} X\r\n${hs.map(([n, v]) => `${n}: ${v}\r\n`).join('')}${framing}\r\n${b.d}`;
  });

/** One or two responses on one connection (a 1xx then the final one, or a keep-alive pair). */
export const responseStream = fc.array(fc.oneof({ weight: 1, arbitrary: response }, { weight: 2, arbitrary: wellFramedResponse }), { minLength: 1, maxLength: 2 }).map((rs) => Buffer.from(rs.join(''), 'latin1'));
