import { parseListen as parse } from '../spec/index.js';

/** Parse a `--listen` flag or config value; throws with a message naming the input. */
export function parseListen(value: string): { host: string; port: number } {
  const parsed = parse(value);
  if (!parsed) throw new Error(`bad listen address "${value}": expected host:port, [v6]:port or :port`);
  return parsed;
}

/** A listen host as it goes into a URL: IPv6 in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
