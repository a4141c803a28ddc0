/**
 * A certificate authority made at test time with the openssl CLI, in a temporary directory: a CA
 * certificate (to trust in clients: `ca:` of node:tls, `curl --cacert`) and leaf certificates it
 * signs, with the DNS names and validity asked for (`openssl ca` takes any start and end date, so
 * expired and not-yet-valid certificates are real ones too). P-256 keys: fast to make.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';

export interface Leaf {
  cert: string;
  key: string;
  /** sha256 fingerprint as node:tls reports the peer's (`fingerprint256`). */
  fingerprint: string;
}

export interface TestCa {
  /** PEM file of the CA certificate. */
  certFile: string;
  /** Its PEM text. */
  pem: string;
  /**
   * A leaf for `names` (subjectAltName DNS names) written as `<name>.crt` / `<name>.key` in the
   * CA's directory (or `dir`). `from`/`to`: validity as openssl dates (`YYYYMMDDHHMMSSZ`); default
   * from yesterday to a week from now.
   */
  issue(file: string, names: string[], opts?: { from?: string; to?: string; dir?: string }): Leaf;
}

/** `Date` -> openssl's `YYYYMMDDHHMMSSZ`. */
export function opensslDate(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Makes a CA in `dir` (which must exist). */
export function makeCa(dir: string): TestCa {
  const ca = join(dir, 'ca');
  mkdirSync(join(ca, 'new'), { recursive: true });
  writeFileSync(join(ca, 'index.txt'), '');
  writeFileSync(join(ca, 'serial'), '1000\n');
  const cnf = join(ca, 'ca.cnf');
  writeFileSync(
    cnf,
    [
      '[ ca ]',
      'default_ca = test_ca',
      '[ test_ca ]',
      `database = ${join(ca, 'index.txt')}`,
      `new_certs_dir = ${join(ca, 'new')}`,
      `serial = ${join(ca, 'serial')}`,
      'default_md = sha256',
      'policy = any_name',
      'copy_extensions = copy',
      'unique_subject = no',
      'x509_extensions = leaf',
      '[ any_name ]',
      'commonName = supplied',
      '[ leaf ]',
      'basicConstraints = CA:FALSE',
      'keyUsage = digitalSignature',
      'extendedKeyUsage = serverAuth',
      '',
    ].join('\n'),
  );
  const certFile = join(ca, 'ca.crt');
  const keyFile = join(ca, 'ca.key');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=graylane test CA', '-days', '2', '-keyout', keyFile, '-out', certFile]);
  const day = 86_400_000;
  return {
    certFile,
    pem: readFileSync(certFile, 'utf8'),
    issue(file, names, opts = {}) {
      const out = opts.dir ?? dir;
      const key = join(out, `${file}.key`);
      const cert = join(out, `${file}.crt`);
      const csr = join(ca, `${file}-${Date.now()}.csr`);
      const san = names.map((n) => `DNS:${n}`).join(',');
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', csr]);
      openssl([
        'ca', '-config', cnf, '-batch', '-notext', '-cert', certFile, '-keyfile', keyFile, '-in', csr, '-out', cert,
        '-startdate', opts.from ?? opensslDate(new Date(Date.now() - day)),
        '-enddate', opts.to ?? opensslDate(new Date(Date.now() + 7 * day)),
      ]);
      return { cert, key, fingerprint: new X509Certificate(readFileSync(cert)).fingerprint256 };
    },
  };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * One TLS handshake to 127.0.0.1:`port` with SNI `servername` (none when undefined); resolves with
 * the peer certificate's fingerprint and the ALPN protocol, or rejects with the handshake error.
 * Bounded: 5 s.
 */
export function handshake(
  port: number,
  opts: { servername?: string; ca?: string; alpn?: string[]; minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion; ciphers?: string } = {},
): Promise<{ fingerprint: string; alpn: string | false | null; protocol: string | null; cipher: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
      // Verified against the test CA when given (the name checked is the SNI name).
      ...(opts.ca !== undefined ? { ca: opts.ca } : { rejectUnauthorized: false }),
      ...(opts.alpn !== undefined ? { ALPNProtocols: opts.alpn } : {}),
      ...(opts.minVersion !== undefined ? { minVersion: opts.minVersion } : {}),
      ...(opts.maxVersion !== undefined ? { maxVersion: opts.maxVersion } : {}),
      ...(opts.ciphers !== undefined ? { ciphers: opts.ciphers } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('handshake did not finish in 5 s'));
    }, 5000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const result = { fingerprint: socket.getPeerCertificate().fingerprint256, alpn: socket.alpnProtocol, protocol: socket.getProtocol(), cipher: socket.getCipher().name };
      socket.end();
      resolve(result);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
