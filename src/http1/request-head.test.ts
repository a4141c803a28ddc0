import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E, findHeadEnd, parseRequestHead, RequestHead, skipEmptyLines, type ParseError } from './index.js';

const LIMITS = { maxHeaderBytes: 1024, maxHeaders: 8, maxUrlBytes: 64 };

/** Parses one head; the reason it was refused, or the head. */
function parse(text: string): RequestHead | ParseError {
  const buf = Buffer.from(text, 'latin1');
  const start = skipEmptyLines(buf, 0, buf.length);
  const end = findHeadEnd(buf, start, start, buf.length);
  if (typeof end === 'object') return end;
  assert.notEqual(end, -1, `incomplete: ${JSON.stringify(text)}`);
  const head = new RequestHead(LIMITS);
  return parseRequestHead(buf, start, end, head) ?? head;
}

function fieldsOf(text: string, head: RequestHead): string[] {
  const buf = Buffer.from(text, 'latin1');
  const out: string[] = [];
  const f = head.fields;
  for (let i = 0; i < f.count; i++) out.push(`${buf.toString('latin1', f.nameStart(i), f.nameEnd(i))}=${buf.toString('latin1', f.valueStart(i), f.valueEnd(i))}`);
  return out;
}

test('a request head is read into method, target, version, fields and framing', () => {
  const text = 'POST /a/b?x=1 HTTP/1.1\r\nHost: shop.example\r\nX-Note:  two words \t\r\nContent-Length: 12\r\nEmpty:\r\n\r\n';
  const head = parse(text);
  assert.ok(head instanceof RequestHead);
  assert.equal(head.method, 'POST');
  assert.equal(head.target, '/a/b?x=1');
  assert.equal(head.minor, 1);
  assert.deepEqual(fieldsOf(text, head), ['Host=shop.example', 'X-Note=two words', 'Content-Length=12', 'Empty=']);
  assert.equal(head.host, 0);
  assert.equal(head.contentLength, 12);
  assert.equal(head.chunked, false);
  assert.equal(head.keepAlive, true);
  assert.equal(head.length, text.length);
});

test('framing and connection: chunked, HTTP/1.0 keep-alive, close, upgrade, 100-continue', () => {
  const chunked = parse('PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n') as RequestHead;
  assert.deepEqual([chunked.chunked, chunked.contentLength], [true, -1]);
  const tePieces = parse('PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nX: 1\r\n\r\n');
  assert.equal(tePieces, E.TE_SYNTAX, 'an empty Transfer-Encoding is not a coding');
  assert.equal((parse('GET / HTTP/1.0\r\n\r\n') as RequestHead).keepAlive, false, 'HTTP/1.0 closes by default');
  assert.equal((parse('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n') as RequestHead).keepAlive, true);
  assert.equal((parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n') as RequestHead).keepAlive, false);
  const up = parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n') as RequestHead;
  assert.equal(up.upgrade, true);
  assert.equal((parse('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n') as RequestHead).upgrade, false, 'Upgrade without Connection: upgrade is not a request to switch');
  assert.equal((parse('POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n') as RequestHead).expectContinue, true);
  assert.equal((parse('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n') as RequestHead).method, 'GET', 'empty lines before the request line are skipped (RFC 9112 §2.2)');
});

/** Every ambiguous or malformed head of test/security/request-smuggling.test.ts, and more. */
const REFUSED: [string, string, ParseError][] = [
  ['CL and TE', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n', E.CL_AND_TE],
  ['TE then CL', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n', E.CL_AND_TE],
  ['two different CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n', E.CONTENT_LENGTH_TWICE],
  ['two equal CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n', E.CONTENT_LENGTH_TWICE],
  ['CL as a list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\n', E.CONTENT_LENGTH],
  ['CL with a sign', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n', E.CONTENT_LENGTH],
  ['CL in hex', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\n', E.CONTENT_LENGTH],
  ['negative CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n', E.CONTENT_LENGTH],
  ['CL beyond 2^53', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999\r\n\r\n', E.CONTENT_LENGTH],
  ['CL followed by a tab', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\t\r\n\r\n', E.CONTENT_LENGTH],
  ['chunked, identity', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n', E.TE_NOT_CHUNKED_LAST],
  ['identity', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n', E.TE_CODING],
  ['gzip, chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', E.TE_CODING],
  ['xchunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n', E.TE_CODING],
  ['chunked twice', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', E.TE_NOT_CHUNKED_LAST],
  ['chunked in two fields', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', E.TE_NOT_CHUNKED_LAST],
  ['chunked with a trailing comma', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n', E.TE_SYNTAX],
  ['chunked with parameters', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n', E.TE_SYNTAX],
  ['space before the colon', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n', E.FIELD_NAME],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-Note: one\r\n two\r\n\r\n', E.OBS_FOLD],
  ['bare LF', 'GET / HTTP/1.1\nHost: a\n\n', E.BARE_LF],
  ['a bare LF inside a line', 'GET / HTTP/1.1\r\nHost: a\nx-gray-lane: beta\r\n\r\n', E.BARE_LF],
  ['a bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\rb\r\n\r\n', E.LINE_END],
  ['a control byte in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\x01b\r\n\r\n', E.FIELD_VALUE],
  ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\x00b\r\n\r\n', E.FIELD_VALUE],
  ['DEL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-Note: a\x7fb\r\n\r\n', E.FIELD_VALUE],
  ['NUL in the target', 'GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n', E.TARGET],
  ['non-ASCII in the target', 'GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', E.TARGET],
  ['a fragment', 'GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n', E.TARGET],
  ['a space in a field name', 'GET / HTTP/1.1\r\nHost: a\r\nX Note: b\r\n\r\n', E.FIELD_NAME],
  ['an empty field name', 'GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n', E.FIELD_NAME],
  ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', E.TE_HTTP10],
  ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n', E.HOST_MISSING],
  ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', E.HOST_TWICE],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', E.VERSION_UNSUPPORTED],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', E.VERSION],
  ['lower-case version', 'GET / http/1.1\r\nHost: a\r\n\r\n', E.VERSION],
  ['HTTP/0.9', 'GET /\r\n\r\n', E.HTTP09],
  ['space after the version', 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n', E.LINE_END],
  ['two spaces before the target', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', E.TARGET_EMPTY],
  ['a tab as separator', 'GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n', E.METHOD],
  ['unknown method', 'BREW / HTTP/1.1\r\nHost: a\r\n\r\n', E.UNKNOWN_METHOD],
  ['lower-case method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n', E.UNKNOWN_METHOD],
  ['CONNECT', 'CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n', E.CONNECT],
  ['absolute-form', 'GET http://admin.example/ HTTP/1.1\r\nHost: a\r\n\r\n', E.TARGET_FORM],
  ['asterisk-form', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', E.TARGET_FORM],
  ['an expectation other than 100-continue', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n', E.EXPECTATION],
  ['a TLS ClientHello', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', E.NOT_HTTP],
  ['a target over maxUrlBytes', `GET /${'a'.repeat(64)} HTTP/1.1\r\nHost: a\r\n\r\n`, E.TARGET_TOO_LONG],
  ['more fields than maxHeaders', `GET / HTTP/1.1\r\nHost: a\r\n${'X: 1\r\n'.repeat(8)}\r\n`, E.TOO_MANY_FIELDS],
  ['a head over maxHeaderBytes', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(1024)}\r\n\r\n`, E.HEAD_TOO_LARGE],
];

for (const [name, text, error] of REFUSED) {
  test(`refused: ${name} (${error.status})`, () => {
    assert.equal(parse(text), error);
  });
}

test('findHeadEnd: found across pieces with one scan each; a bare LF is refused before the head ends', () => {
  const text = 'GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT';
  const buf = Buffer.from(text);
  // Fed one byte at a time, searching only from three bytes before the new one.
  let found = -1;
  for (let n = 1; n <= buf.length && found === -1; n++) {
    const r = findHeadEnd(buf.subarray(0, n), 0, Math.max(0, n - 4), n);
    assert.equal(typeof r, 'number');
    found = r as number;
  }
  assert.equal(found, text.indexOf('NEXT'));
  assert.equal(findHeadEnd(Buffer.from('GET / HTTP/1.1\nHost'), 0, 0, 19), E.BARE_LF);
  assert.equal(findHeadEnd(Buffer.from('\nGET'), 0, 0, 4), E.BARE_LF);
});
