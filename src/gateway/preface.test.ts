import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PREFACE, Protocol, protocolOf } from './preface.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

test('protocolOf: the whole HTTP/2 preface is HTTP/2, any prefix of it undecided', () => {
  assert.equal(protocolOf(PREFACE), Protocol.Http2);
  assert.equal(protocolOf(Buffer.concat([PREFACE, b('\x00\x00\x00\x04')])), Protocol.Http2, 'frames after the preface');
  for (let n = 0; n < PREFACE.length; n++) assert.equal(protocolOf(PREFACE.subarray(0, n)), Protocol.Undecided, `${n} bytes`);
});

test('protocolOf: HTTP/1.1 at the first byte that parts from the preface, however late', () => {
  assert.equal(protocolOf(b('G')), Protocol.Http1);
  assert.equal(protocolOf(b('GET / HTTP/1.1\r\n')), Protocol.Http1);
  assert.equal(protocolOf(b('PRI * HTTP/1.1\r\n')), Protocol.Http1, 'the PRI method over HTTP/1.1');
  assert.equal(protocolOf(b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r')), Protocol.Undecided);
  assert.equal(protocolOf(b('PRI * HTTP/2.0\r\n\r\nSM\r\n\rX')), Protocol.Http1, 'the 24th byte counts');
});
