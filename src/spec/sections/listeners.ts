/**
 * The gateway's listeners: `listen` is one address (as it always was) or a list of addresses and
 * listener mappings, each plain HTTP/1.1, TLS (HTTPS/1.1, plus HTTP/2 by ALPN with `http2`), clear-
 * text HTTP/2 with prior knowledge beside HTTP/1.1 (`h2c`), or a plain listener that only redirects to HTTPS.
 *
 * The schema checks the shape; this checks what the shape cannot say: the port range, combinations
 * that cannot work (h2c on TLS, http2 without TLS, a redirect beside TLS), and two listeners on one
 * address. Certificate files are read later (src/gateway/certificates.ts), where their errors name
 * the file: the spec stays a pure function of the config text, so export and etcd need no files;
 * `graylane validate` reads them after the spec (src/app/listeners.ts certificateIssues).
 */
import type { ListenerSpec, TlsSpec, TlsVersion } from '../types.js';
import { bool, isRecord, list, rec, str, type NormalizeContext } from '../context.js';
import type { Path } from '../paths.js';
import { parseListen } from '../units.js';

export const DEFAULT_TLS_MIN_VERSION: TlsVersion = 'TLSv1.2';

/**
 * `listen` -> `listen`, the first listener's address (what code and messages that know one address
 * read: the CLI's --listen, the demo), and `listeners`, all of them. A plain string (or no `listen`)
 * gives no `listeners` key, so such a config's Spec, and its content hash, are what they always were.
 */
export function normalizeListeners(value: unknown, fallback: string, ctx: NormalizeContext): { listen: string; listeners?: ListenerSpec[] } {
  if (!Array.isArray(value)) {
    const address = str(value) ?? fallback;
    if (value !== undefined) checkAddress(address, ['listen'], ctx);
    return { listen: address };
  }
  const entries = value;
  const listeners: ListenerSpec[] = [];
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    const path: Path = ['listen', i];
    const listener = normalizeListener(entry, path, ctx, 'listen');
    if (listener === undefined) return;
    // Port 0 asks for a free port: every such listener gets its own.
    if (parseListen(listener.address)?.port !== 0) {
      const first = seen.get(listener.address);
      if (first !== undefined) ctx.report(path, 'invalid-value', `address ${listener.address} is also listen[${first}]: each listener needs its own port`);
      else seen.set(listener.address, i);
    }
    listeners.push(listener);
  });
  // An empty list has been reported by the schema (minItems); the default keeps the Spec whole.
  if (listeners.length === 0) listeners.push(plain(fallback));
  return { listen: listeners[0]!.address, listeners };
}

/**
 * One listener: an address string or a mapping. `section` names what it is for messages ('listen',
 * 'mesh.listen'). Undefined when it is neither (the schema reported it).
 */
/** The listeners of a Spec: its `listeners`, or the one plain listener at `listen`. */
export function listenersOf(spec: { listen: string; listeners?: ListenerSpec[] }): ListenerSpec[] {
  return spec.listeners ?? [plain(spec.listen)];
}

export function normalizeListener(entry: unknown, path: Path, ctx: NormalizeContext, section: string): ListenerSpec | undefined {
  if (typeof entry === 'string') {
    checkAddress(entry, path, ctx);
    return plain(entry);
  }
  if (!isRecord(entry)) return undefined;
  const address = str(entry.address);
  if (address === undefined) return undefined;
  checkAddress(address, [...path, 'address'], ctx);
  const listener: ListenerSpec = { address, http2: bool(entry.http2, false), h2c: bool(entry.h2c, false) };
  if (isRecord(entry.tls)) listener.tls = normalizeTls(rec(entry.tls), [...path, 'tls'], ctx);
  const redirect = str(entry.redirect);
  if (redirect !== undefined) {
    listener.redirectHttpsPort = redirectPort(redirect);
    if (listener.redirectHttpsPort < 1 || listener.redirectHttpsPort > 65535) ctx.report([...path, 'redirect'], 'invalid-value', `the https port must be 1..65535, got "${redirect}"`);
  }

  // Combinations a listener cannot serve, each said with what to write instead.
  if (listener.h2c && listener.tls !== undefined) {
    ctx.report([...path, 'h2c'], 'invalid-value', 'h2c is clear-text HTTP/2; on a TLS listener write `http2: true` (HTTP/2 by ALPN) instead');
  }
  if (listener.http2 && listener.tls === undefined) {
    ctx.report([...path, 'http2'], 'invalid-value', 'http2 is HTTP/2 over TLS (chosen by ALPN) and needs `tls`; for clear-text HTTP/2 with prior knowledge write `h2c: true`');
  }
  if (listener.redirectHttpsPort !== undefined && (listener.tls !== undefined || listener.h2c)) {
    ctx.report([...path, 'redirect'], 'invalid-value', 'redirect is for a plain HTTP/1.1 listener (it answers every request with a 308 to https://); remove tls/h2c or the redirect');
  }
  if (section !== 'listen' && listener.redirectHttpsPort !== undefined) {
    ctx.report([...path, 'redirect'], 'invalid-value', `${section} cannot redirect: it serves services, not browsers`);
  }
  return listener;
}

function plain(address: string): ListenerSpec {
  return { address, http2: false, h2c: false };
}

function checkAddress(address: string, path: Path, ctx: NormalizeContext): void {
  // The schema checks the form; only the port range is left (an issue at the same path is said once).
  if (parseListen(address) === undefined) ctx.report(path, 'bad-listen', `port must be 0..65535, got "${address}"`);
}

function normalizeTls(tls: Record<string, unknown>, path: Path, ctx: NormalizeContext): TlsSpec {
  const certificates = list(tls.certificates).flatMap((c) => {
    const cert = str(rec(c).cert);
    const key = str(rec(c).key);
    return cert !== undefined && key !== undefined ? [{ cert, key }] : [];
  });
  const minVersion = (str(tls.minVersion) ?? DEFAULT_TLS_MIN_VERSION) as TlsVersion;
  const spec: TlsSpec = { certificates, minVersion };
  const ciphers = str(tls.ciphers);
  if (ciphers !== undefined) {
    if (ciphers.trim() === '') ctx.report([...path, 'ciphers'], 'invalid-value', 'must name at least one OpenSSL cipher, e.g. ECDHE-ECDSA-AES128-GCM-SHA256');
    spec.ciphers = ciphers;
  }
  return spec;
}

/** `https` -> 443, `https:8443` -> 8443 (the schema checked the form and the range is 1..65535 below). */
function redirectPort(redirect: string): number {
  const m = /^https(?::([0-9]{1,5}))?$/.exec(redirect);
  if (m === null || m[1] === undefined) return 443;
  return Number(m[1]);
}
