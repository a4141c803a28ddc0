/**
 * TLS of a listener: the certificates as read from their files (plain data, so a primary can send
 * them to its workers), and the SecureContexts built from them once, at start and at each reload.
 *
 * SNI: each certificate answers for the DNS names of its subjectAltName (RFC 6125 section 6.4: the
 * CN is not looked at when there are DNS names; wildcards only as the whole left-most label, and
 * `*.example.com` matches one label: `a.example.com`, not `example.com` nor `a.b.example.com`).
 * An exact name wins over a wildcard; a name no certificate has, and a client that sends none,
 * get the first certificate (the default). A trailing dot in the SNI is ignored (`a.example.com.`).
 * The lookup is a Map per handshake.
 *
 * Reload: `replace()` builds every context first and swaps them in one assignment; a handshake
 * sees the old set or the new, and connections already open keep the session they have.
 */
import tls, { type SecureContext } from 'node:tls';
import type { TlsVersion } from '../spec/types.js';

/** One certificate as read and checked (src/gateway/certificates.ts): PEM text, never a path to read again. */
export interface LoadedCertificate {
  /** The files, for messages. */
  certFile: string;
  keyFile: string;
  /** PEM: the certificate and its chain. */
  cert: string;
  /** PEM: the private key. */
  key: string;
  /** The DNS names it answers for (subjectAltName), lower-cased; `*.x.y` for wildcards. */
  names: string[];
  /** sha256 fingerprint (hex with colons, as X509Certificate.fingerprint256), for logs. */
  fingerprint: string;
  /** notAfter, epoch ms. */
  expiresAt: number;
}

/** A TLS listener's settings and certificates, as the gateway starts it. */
export interface TlsConfig {
  minVersion: TlsVersion;
  ciphers?: string;
  /** At least one; the first is the default. */
  certificates: LoadedCertificate[];
}

/** ALPN protocol ids (RFC 7301): HTTP/2 is offered first when the listener serves it, so a client that speaks both gets it. */
export function alpnProtocols(http2: boolean): string[] {
  return http2 ? ['h2', 'http/1.1'] : ['http/1.1'];
}

/** The contexts of one TLS listener, replaceable as a whole. */
export class TlsContexts {
  #exact = new Map<string, SecureContext>();
  #wildcard = new Map<string, SecureContext>();
  #default: SecureContext;
  #config: TlsConfig;

  constructor(config: TlsConfig) {
    this.#config = config;
    this.#default = this.#build(config);
  }

  /** The certificates served now. */
  get certificates(): readonly LoadedCertificate[] {
    return this.#config.certificates;
  }

  /**
   * Options of tls.createServer. The default context is set through them (a client without SNI
   * never reaches SNICallback); `server.setSecureContext(serverOptions())` replaces it at reload.
   */
  serverOptions(): tls.SecureContextOptions {
    return contextOptions(this.#config, this.#config.certificates[0]!);
  }

  /**
   * Builds the contexts of `config` (throws on a certificate OpenSSL refuses; nothing is replaced
   * then) and serves them from the next handshake on.
   */
  replace(config: TlsConfig): void {
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    const first = this.#buildInto(config, exact, wildcard);
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#default = first;
    this.#config = config;
  }

  /** tls.Server's SNICallback: the context for the name the client asked for. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.contextFor(servername));
  };

  /**
   * The context for a server name (SNI is case-insensitive, RFC 6066 section 3: lowered here). A
   * trailing dot (`shop.example.com.`, the absolute form some clients send though RFC 6066 says
   * not to) names the same host: it is dropped, as routing drops it from the Host (hostOf).
   */
  contextFor(servername: string): SecureContext {
    const dotted = servername.length > 1 && servername.charCodeAt(servername.length - 1) === 46; /* . */
    const name = (dotted ? servername.slice(0, -1) : servername).toLowerCase();
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = this.#wildcard.get(name.slice(dot + 1));
      if (wild !== undefined) return wild;
    }
    return this.#default;
  }

  #build(config: TlsConfig): SecureContext {
    return this.#buildInto(config, this.#exact, this.#wildcard);
  }

  /** Fills the maps (first certificate wins a name two certificates share) and returns the default context. */
  #buildInto(config: TlsConfig, exact: Map<string, SecureContext>, wildcard: Map<string, SecureContext>): SecureContext {
    let first: SecureContext | undefined;
    for (const cert of config.certificates) {
      const ctx = tls.createSecureContext(contextOptions(config, cert));
      first ??= ctx;
      for (const name of cert.names) {
        if (name.startsWith('*.')) {
          if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), ctx);
        } else if (!exact.has(name)) exact.set(name, ctx);
      }
    }
    if (first === undefined) throw new Error('a TLS listener needs at least one certificate');
    return first;
  }
}

/**
 * One certificate's context options: TLS 1.2+ (or the listener's minVersion), the server's cipher
 * order (honorCipherOrder: a client cannot steer toward the weakest suite both sides allow).
 */
function contextOptions(config: TlsConfig, cert: LoadedCertificate): tls.SecureContextOptions {
  return {
    cert: cert.cert,
    key: cert.key,
    minVersion: config.minVersion,
    honorCipherOrder: true,
    ...(config.ciphers !== undefined ? { ciphers: config.ciphers } : {}),
  };
}
