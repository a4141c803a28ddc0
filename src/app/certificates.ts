/**
 * Hot reload of TLS certificates: each TLS listener's certificate and key files are watched the way
 * the config file is (src/source/watch.ts: the directories, so a file rewritten in place and a
 * Kubernetes Secret's `..data` symlink swap are both seen). When their content changes, they are
 * read and checked again (src/gateway/certificates.ts) and, if every one can serve, handed to the
 * data plane, which serves them from the next handshake on (open connections keep theirs; in a
 * primary, every worker gets the same certificates). If one cannot (missing, unreadable, expired,
 * not valid yet, key and certificate do not match), the error naming the listener and the file is
 * logged once and the old certificates keep serving.
 *
 * Files are often written one after the other (a certificate, then its key): a check that fails is
 * tried once more after SETTLE_MS before it is reported, so a rotation caught halfway is not
 * reported as an error.
 */
import type { Logger } from 'pino';
import { certificateFiles, readTlsConfig } from '../gateway/certificates.js';
import type { TlsConfig } from '../gateway/tls.js';
import type { TlsSpec } from '../spec/types.js';
import { watchDirectoriesOf, type DirectoryWatch } from '../source/watch.js';

/** How long a failed check waits before the second read that decides whether it is reported. */
const SETTLE_MS = 250;

export interface CertificateReloadOptions {
  /** The gateway or the worker pool. */
  plane: { setCertificates(name: string, tls: TlsConfig): void };
  /** The certificates served now, by listener name: kept current (what /metrics reads for their expiry). */
  serving: Map<string, TlsConfig>;
  /** What to read, by listener name. */
  specs: Map<string, TlsSpec>;
  logger: Logger;
  /** Told of every reload applied or refused (the admin API, tests). */
  onResult?(listener: string, result: { ok: true; tls: TlsConfig } | { ok: false; error: Error }): void;
  /** Quiet time after the last file event; default 100 ms. */
  debounceMs?: number;
}

/** Watches every TLS listener's files; returns what stops it. */
export function watchCertificates(opts: CertificateReloadOptions): { stop(): void } {
  const watches: DirectoryWatch[] = [];
  for (const [name, spec] of opts.specs) {
    const serving = opts.serving.get(name);
    if (serving !== undefined) watches.push(watchListener(name, spec, serving, opts));
  }
  return {
    stop() {
      for (const w of watches) w.stop();
    },
  };
}

function watchListener(name: string, spec: TlsSpec, initial: TlsConfig, opts: CertificateReloadOptions): DirectoryWatch {
  const log = opts.logger;
  let serving = initial;
  /** The last refusal logged ('' after a success): a burst of events logs it once. */
  let lastError = '';

  const read = async (): Promise<TlsConfig> => {
    try {
      return await readTlsConfig(name, spec);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      return readTlsConfig(name, spec);
    }
  };

  const check = async (): Promise<void> => {
    let next: TlsConfig;
    try {
      next = await read();
    } catch (err) {
      const error = err as Error;
      if (error.message === lastError) return;
      lastError = error.message;
      log.error({ listener: name, error: error.message }, 'certificate reload refused; still serving the previous certificates');
      opts.onResult?.(name, { ok: false, error });
      return;
    }
    lastError = '';
    if (samePem(next, serving)) return;
    try {
      opts.plane.setCertificates(name, next);
    } catch (err) {
      // OpenSSL refused what node:crypto accepted (a key type the build lacks): keep the old ones.
      log.error({ listener: name, error: (err as Error).message }, 'certificate reload refused; still serving the previous certificates');
      opts.onResult?.(name, { ok: false, error: err as Error });
      return;
    }
    serving = next;
    opts.serving.set(name, next);
    log.info({ listener: name, certificates: next.certificates.map((c) => ({ file: c.certFile, fingerprint: c.fingerprint, expires: new Date(c.expiresAt).toISOString() })) }, 'certificates reloaded');
    opts.onResult?.(name, { ok: true, tls: next });
  };

  return watchDirectoriesOf(certificateFiles(spec), check, (err) => log.warn({ listener: name, err }, 'certificate watch failed'), opts.debounceMs ?? 100);
}

function samePem(a: TlsConfig, b: TlsConfig): boolean {
  return a.certificates.length === b.certificates.length && a.certificates.every((c, i) => c.cert === b.certificates[i]!.cert && c.key === b.certificates[i]!.key);
}
