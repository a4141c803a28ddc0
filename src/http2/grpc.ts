/**
 * What the HTTP/2 engine needs to know about gRPC (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * which requests are gRPC calls, and the deadline a call carries. Pure.
 */

/** Milliseconds per unit of `grpc-timeout`: Hours, Minutes, Seconds, milli, micro, nano. */
const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * The deadline of a `grpc-timeout` value (`TimeoutValue TimeoutUnit`: at most 8 ASCII digits and
 * one unit letter) in whole milliseconds, at least 1; undefined when absent or malformed (a
 * malformed value is ignored, as grpc-go does, rather than failing the call).
 */
export function grpcTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unit = UNIT_MS[value[value.length - 1]!];
  if (unit === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < value.length - 1; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return Math.max(1, Math.ceil(n * unit));
}

/**
 * `grpc-message` is percent-encoded: bytes outside printable ASCII and `%` itself (the gRPC
 * protocol document, "Responses"). Messages are UTF-8.
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length && plain; i++) {
    const c = message.charCodeAt(i);
    plain = c >= 0x20 && c <= 0x7e && c !== 0x25;
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
