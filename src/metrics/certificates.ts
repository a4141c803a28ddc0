/**
 * When each served TLS certificate expires, read at scrape time (docs/observability.md): one gauge
 * per (listener, certificate file), its notAfter as a Unix timestamp in seconds, the convention of
 * cert-manager's `certmanager_certificate_expiration_timestamp_seconds` and the blackbox exporter's
 * `probe_ssl_earliest_cert_expiry`, so `graylane_tls_certificate_not_after_seconds - time()` is the
 * time left. It reads the certificates being served now, so a reload (src/app/certificates.ts)
 * shows at the next scrape, and a refused reload leaves the old expiry in place, as it leaves the
 * old certificate serving.
 */
import { Gauge, type Registry } from 'prom-client';
import type { TlsConfig } from '../gateway/tls.js';

export const CERTIFICATE_EXPIRY_METRIC = 'graylane_tls_certificate_not_after_seconds';

/**
 * @param serving the certificates served now, by listener name (`listen[1]`, `mesh.listen`)
 */
export function registerCertificateMetrics(registry: Registry, serving: () => ReadonlyMap<string, TlsConfig>): void {
  new Gauge({
    name: CERTIFICATE_EXPIRY_METRIC,
    help: "When each served TLS certificate expires (its notAfter, Unix time): by listener, the certificate file and the first DNS name it answers for (server_name).",
    labelNames: ['listener', 'file', 'server_name'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [listener, tls] of serving()) {
        for (const c of tls.certificates) this.set({ listener, file: c.certFile, server_name: c.names[0] ?? '' }, c.expiresAt / 1000);
      }
    },
  });
}
