/**
 * Reading a TLS listener's certificate and key files, and refusing what cannot serve: a file that
 * is missing, unreadable or not a regular file (read as config files are: never blocking on a FIFO,
 * at most 1 MiB), text that is no PEM certificate or key, a certificate not valid yet or expired,
 * a key that is not the certificate's. Every error names the file and the listener, so the same
 * message serves at start (graylane does not start) and at a reload (the old certificates keep
 * serving).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { ConfigFileError, readConfigText } from '../spec/config-file.js';
import type { TlsSpec } from '../spec/types.js';
import type { LoadedCertificate, TlsConfig } from './tls.js';

/** A PEM chain or key larger than this is no certificate (a chain of ten 4096-bit RSA certificates is ~20 KiB). */
const MAX_PEM_BYTES = 1024 * 1024;

/** A certificate or key that cannot serve; `message` is `<listener>: <file>: <what is wrong>`. */
export class CertificateError extends Error {
  readonly code = 'ERR_GRAYLANE_CERTIFICATE';

  constructor(
    /** The listener, as in the config: `listen[1]`, `mesh.listen`. */
    readonly listener: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${listener}: ${file}: ${reason}`);
    this.name = 'CertificateError';
  }
}

/**
 * Reads and checks every certificate of a TLS listener. `listener` names it in errors
 * (`listen[1]`); relative paths are resolved against the working directory.
 *
 * @throws CertificateError for the first certificate or key that cannot serve
 * @example
 * const config = await readTlsConfig('listen[1]', spec.listeners[1].tls);
 */
export async function readTlsConfig(listener: string, spec: TlsSpec, now = Date.now()): Promise<TlsConfig> {
  const certificates: LoadedCertificate[] = [];
  for (const [i, pair] of spec.certificates.entries()) certificates.push(await readCertificatePair(listener, i, pair, now));
  return { minVersion: spec.minVersion, ...(spec.ciphers !== undefined ? { ciphers: spec.ciphers } : {}), certificates };
}

/** The files of a TLS listener's certificates, resolved: what a reload watches. */
export function certificateFiles(spec: TlsSpec): string[] {
  return spec.certificates.flatMap((pair) => [resolve(pair.cert), resolve(pair.key)]);
}

/**
 * Reads and checks certificate `i` of a TLS listener (what readTlsConfig does for each):
 * `graylane validate` calls it for every one, to report them all.
 *
 * @throws CertificateError naming `<listener>.tls.certificates[i]` and the file
 */
export function readCertificatePair(listener: string, i: number, pair: { cert: string; key: string }, now = Date.now()): Promise<LoadedCertificate> {
  return readCertificate(`${listener}.tls.certificates[${i}]`, resolve(pair.cert), resolve(pair.key), now);
}

async function readCertificate(where: string, certFile: string, keyFile: string, now: number): Promise<LoadedCertificate> {
  const certPem = await readPem(where, certFile);
  const keyPem = await readPem(where, keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch {
    throw new CertificateError(where, certFile, 'is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new CertificateError(where, keyFile, 'is not an unencrypted PEM private key (expected -----BEGIN PRIVATE KEY----- or -----BEGIN EC/RSA PRIVATE KEY-----)');
  }
  const validFrom = Date.parse(x509.validFrom);
  const validTo = Date.parse(x509.validTo);
  if (now < validFrom) throw new CertificateError(where, certFile, `is not valid yet: valid from ${new Date(validFrom).toISOString()}`);
  if (now > validTo) throw new CertificateError(where, certFile, `expired on ${new Date(validTo).toISOString()}`);
  if (!x509.checkPrivateKey(key)) {
    const at = chainPositionOf(certPem, key);
    if (at > 0) {
      throw new CertificateError(where, certFile, `has the certificate of ${keyFile} in position ${at + 1}, not first: the server's own certificate comes first, then the chain that signs it (RFC 8446 section 4.4.2)`);
    }
    throw new CertificateError(where, keyFile, `is not the private key of ${certFile} (the key and the certificate do not match)`);
  }
  return { certFile, keyFile, cert: certPem, key: keyPem, names: dnsNames(x509), fingerprint: x509.fingerprint256, expiresAt: validTo };
}

/**
 * Where in a PEM chain the certificate of `key` is (0-based), or -1: a chain written in the wrong
 * order (the CA first) is a common mistake, worth naming rather than calling a mismatch.
 */
function chainPositionOf(chainPem: string, key: KeyObject): number {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  for (let i = 0; i < blocks.length; i++) {
    try {
      if (new X509Certificate(blocks[i]!).checkPrivateKey(key)) return i;
    } catch {
      // A block that does not parse cannot be this key's certificate.
    }
  }
  return -1;
}

async function readPem(where: string, file: string): Promise<string> {
  try {
    // PEM is ASCII: a binary file (DER, PKCS#12) fails the PEM checks, which say what was expected.
    return await readConfigText(file, MAX_PEM_BYTES, 'a certificate or key', { requireUtf8: false });
  } catch (err) {
    if (err instanceof ConfigFileError) throw new CertificateError(where, file, err.reason);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CertificateError(where, file, 'no such file');
    if (code === 'EACCES' || code === 'EPERM') throw new CertificateError(where, file, 'cannot be read (permission denied)');
    throw new CertificateError(where, file, `cannot be read (${(err as Error).message})`);
  }
}

/**
 * The DNS names a certificate answers for, lower-cased: its subjectAltName DNS entries, or (only
 * when it has none, RFC 6125 section 6.4.4) its subject CN.
 */
export function dnsNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san !== undefined) {
    const names = [...san.matchAll(/(?:^|, )DNS:([^,]+)/g)].map((m) => m[1]!.trim().toLowerCase());
    if (names.length > 0) return names;
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject);
  return cn === null ? [] : [cn[1]!.trim().toLowerCase()];
}
