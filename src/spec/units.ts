/** Durations, sizes and listen addresses as written in the config, turned into numbers. */

const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$/;
const MS_PER_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `250ms`, `5s`, `1.5s`, `2m`, `1h`, `30d`, or a whole number of milliseconds -> milliseconds
 * (rounded to a whole number). Undefined when it is neither.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = DURATION.exec(value);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * MS_PER_UNIT[m[2]!]!);
}

const SIZE = /^([0-9]+(?:\.[0-9]+)?)([kmg]?)b$/i;
const BYTES_PER_UNIT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `512`, `512b`, `64kb`, `1mb`, `1gb` (binary: 1kb = 1024 bytes, any case) -> bytes. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = SIZE.exec(value);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * BYTES_PER_UNIT[m[2]!.toLowerCase()]!);
}

const LISTEN = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):([0-9]{1,5})$/;

/**
 * What a `--listen` flag that parseListen refused must look like, as the config's schema says it.
 * There is no `:8080` shorthand (graylane never listens on every interface unless told `0.0.0.0`).
 */
export const LISTEN_FORM = 'must be host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 ([::1]:8080 for IPv6)';

/**
 * Splits a listen address `host:port` or `[v6]:port`. The host comes back without brackets, ready
 * for `server.listen(port, host)`. Undefined when malformed or the port is above 65535.
 *
 * @example parseListen('[::1]:8080') // { host: '::1', port: 8080 }
 */
export function parseListen(listen: string): { host: string; port: number } | undefined {
  const m = LISTEN.exec(listen);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}
