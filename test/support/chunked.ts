/**
 * Chunked bodies for tests of the chunked coding (RFC 9112 §7.1), up and down the gateway.
 */

/**
 * A chunked body of `count` chunks, chunk i being `sizeOf(i)` bytes of the byte (i % 251): a byte
 * moved to the wrong place, dropped or doubled changes what the other side gets. An extension now
 * and then (a token one, a quoted one holding `;`): it is dropped, never part of the data. Returns
 * the wire bytes (with `trailer`: field lines, each ending in CRLF) and the body they decode to.
 */
export function chunkedBody(count: number, sizeOf: (i: number) => number, trailer = ''): { wire: Buffer; body: Buffer } {
  const parts: Buffer[] = [];
  const body: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const data = Buffer.alloc(sizeOf(i), i % 251);
    body.push(data);
    const ext = i % 97 === 0 ? ';ext=1' : i % 89 === 0 ? ';q="a;b"' : '';
    parts.push(Buffer.from(`${data.length.toString(16)}${ext}\r\n`, 'latin1'), data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0\r\n${trailer}\r\n`, 'latin1'));
  return { wire: Buffer.concat(parts), body: Buffer.concat(body) };
}
