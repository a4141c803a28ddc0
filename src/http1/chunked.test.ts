import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDecoder, E, type ParseError } from './index.js';

/** Decodes `text` fed in pieces of `step` bytes: the body, where the message ended, or the error. */
function decode(text: string, step = Infinity): { body: string; end: number; trailers: string } | ParseError {
  const d = new ChunkedDecoder(256, 4);
  const buf = Buffer.from(text, 'latin1');
  const parts: string[] = [];
  const sink = (b: Buffer, s: number, e: number): void => {
    parts.push(b.toString('latin1', s, e));
  };
  for (let at = 0; at < buf.length; at += step) {
    const piece = buf.subarray(0, Math.min(buf.length, at + step));
    const r = d.decode(piece, at, piece.length, sink);
    if (typeof r === 'object') return r;
    if (r !== -1) return { body: parts.join(''), end: r, trailers: d.trailerSection.toString('latin1') };
  }
  return { body: parts.join(''), end: -1, trailers: '' };
}

const MESSAGE = '4\r\nWiki\r\n5;name=value;q="a \\" b"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Sum: 1\r\n\r\nNEXT';

test('a chunked body is decoded the same whatever the split, extensions dropped, trailers kept', () => {
  for (const step of [1, 2, 3, 7, 16, Infinity]) {
    assert.deepEqual(decode(MESSAGE, step), { body: 'Wikipedia in\r\n\r\nchunks.', end: MESSAGE.indexOf('NEXT'), trailers: 'X-Sum: 1\r\n\r\n' }, `step ${step}`);
  }
  assert.deepEqual(decode('0\r\n\r\n'), { body: '', end: 5, trailers: '' });
  assert.deepEqual(decode('A\r\n0123456789'), { body: '0123456789', end: -1, trailers: '' }, 'more needed');
});

const REFUSED: [string, string, ParseError][] = [
  ['a size with a space after it', '4 \r\nWiki\r\n0\r\n\r\n', E.CHUNK_SIZE],
  ['a size with a space before it', ' 4\r\nWiki\r\n0\r\n\r\n', E.CHUNK_SIZE],
  ['a 0x prefix', '0x4\r\nWiki\r\n0\r\n\r\n', E.CHUNK_SIZE],
  ['a negative size', '-4\r\nWiki\r\n0\r\n\r\n', E.CHUNK_SIZE],
  ['no size', '\r\nWiki\r\n0\r\n\r\n', E.CHUNK_SIZE],
  ['a size of 13 hex digits', '1000000000000\r\n', E.CHUNK_SIZE],
  ['a bare LF after the size', '4\nWiki\r\n0\r\n\r\n', E.CHUNK_SIZE],
  ['more data than the size', '4\r\nWikipedia\r\n0\r\n\r\n', E.CHUNK_END],
  ['data without its CRLF', '4\r\nWiki0\r\n\r\n', E.CHUNK_END],
  ['an empty extension name', '4;\r\nWiki\r\n0\r\n\r\n', E.CHUNK_EXTENSION],
  ['an extension with an empty value', '4;a=\r\nWiki\r\n0\r\n\r\n', E.CHUNK_EXTENSION],
  ['an unterminated quoted extension', '4;a="b\r\nWiki\r\n0\r\n\r\n', E.CHUNK_EXTENSION],
  ['a space in an extension', '4; a=b\r\nWiki\r\n0\r\n\r\n', E.CHUNK_EXTENSION],
  ['an extension line over 4 KiB', `4;a=${'b'.repeat(4100)}\r\n`, E.CHUNK_EXTENSION],
  ['a malformed trailer', '0\r\nX Sum: 1\r\n\r\n', E.TRAILER],
  ['a bare LF in a trailer', '0\r\nX-Sum: 1\n\r\n', E.TRAILER],
  ['Content-Length in a trailer', '0\r\nContent-Length: 5\r\n\r\n', E.TRAILER],
  ['Transfer-Encoding in a trailer', '0\r\nTransfer-Encoding: chunked\r\n\r\n', E.TRAILER],
  ['Connection in a trailer', '0\r\nConnection: close\r\n\r\n', E.TRAILER],
  ['trailers over the limit', `0\r\nX: ${'a'.repeat(300)}\r\n\r\n`, E.TRAILER_TOO_LARGE],
];

for (const [name, text, error] of REFUSED) {
  test(`refused: ${name}`, () => {
    assert.equal(decode(text), error);
    assert.equal(decode(text, 1), error, 'the same one byte at a time');
  });
}
