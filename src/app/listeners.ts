/**
 * The spec's listeners as the gateway starts them: addresses parsed, `--listen` applied to the
 * first, and each TLS listener's certificates read and checked (src/gateway/certificates.ts). A
 * certificate that cannot serve stops the start with a CertificateError naming the listener and
 * the file.
 */
import { resolve } from 'node:path';
import { CertificateError, readCertificatePair, readTlsConfig } from '../gateway/certificates.js';
import type { ListenerOptions } from '../gateway/server.js';
import type { Path } from '../spec/paths.js';
import { listenersOf } from '../spec/sections/listeners.js';
import type { ListenerSpec, Spec, TlsSpec } from '../spec/types.js';
import { LISTEN_FORM, parseListen } from '../spec/units.js';
import type { PathIssue } from '../spec/yaml-source.js';

export interface GatewayListeners {
  listeners: ListenerOptions[];
  mesh: ListenerOptions | undefined;
  /** The TLS listeners' settings by listener name: what a certificate reload reads again. */
  tls: Map<string, TlsSpec>;
}

/**
 * @param listenOverride `--listen`: replaces the first listener's address (its TLS and protocols stay)
 */
export async function gatewayListeners(spec: Spec, listenOverride?: string): Promise<GatewayListeners> {
  const specs = listenersOf(spec);
  const listeners: ListenerOptions[] = [];
  for (const [i, l] of specs.entries()) {
    const name = spec.listeners === undefined ? 'listen' : `listen[${i}]`;
    const address = i === 0 && listenOverride !== undefined ? listenOverride : l.address;
    listeners.push(await listenerOptions(name, { ...l, address }, i === 0 && listenOverride !== undefined ? '--listen' : name));
  }
  const meshSpec = spec.mesh === undefined ? undefined : (spec.mesh.listener ?? { address: spec.mesh.listen, http2: false, h2c: false });
  const mesh = meshSpec === undefined ? undefined : await listenerOptions('mesh.listen', meshSpec, 'mesh.listen');
  const tls = new Map<string, TlsSpec>();
  specs.forEach((l, i) => {
    if (l.tls !== undefined) tls.set(listeners[i]!.name, l.tls);
  });
  if (meshSpec?.tls !== undefined) tls.set('mesh.listen', meshSpec.tls);
  return { listeners, mesh, tls };
}

async function listenerOptions(name: string, l: ListenerSpec, flag: string): Promise<ListenerOptions> {
  const at = parseListen(l.address);
  if (at === undefined) throw new Error(`bad listen address "${l.address}" (${flag}): ${LISTEN_FORM}`);
  return {
    name,
    host: at.host,
    port: at.port,
    ...(l.tls !== undefined ? { tls: await readTlsConfig(name, l.tls) } : {}),
    ...(l.http2 ? { http2: true } : {}),
    ...(l.h2c ? { h2c: true } : {}),
    ...(l.redirectHttpsPort !== undefined ? { redirectHttpsPort: l.redirectHttpsPort } : {}),
  };
}

/** One TLS listener as the config names it: in messages (`listen[1]`, `mesh.listen`) and as a key path. */
interface TlsListener {
  name: string;
  path: Path;
  tls: TlsSpec;
}

/** Every TLS listener of a spec, named as `serve` names them. */
function tlsListenersOf(spec: Spec): TlsListener[] {
  const out: TlsListener[] = [];
  spec.listeners?.forEach((l, i) => {
    if (l.tls !== undefined) out.push({ name: `listen[${i}]`, path: ['listen', i], tls: l.tls });
  });
  const mesh = spec.mesh?.listener;
  if (mesh?.tls !== undefined) out.push({ name: 'mesh.listen', path: ['mesh', 'listen'], tls: mesh.tls });
  return out;
}

/**
 * What `serve` checks of the certificate files at start, for `graylane validate`, nothing started:
 * every certificate and key of every TLS listener read and checked (src/gateway/certificates.ts).
 * One issue per certificate that cannot serve, all of them, at the `cert` or `key` key of the file
 * the error names; the message is serve's (`<file>: <what is wrong>`). Relative paths resolve
 * against the working directory, as serve resolves them.
 */
export async function certificateIssues(spec: Spec, now = Date.now()): Promise<PathIssue[]> {
  const issues: PathIssue[] = [];
  for (const l of tlsListenersOf(spec)) {
    for (const [i, pair] of l.tls.certificates.entries()) {
      try {
        await readCertificatePair(l.name, i, pair, now);
      } catch (err) {
        if (!(err instanceof CertificateError)) throw err;
        const key = err.file === resolve(pair.key) && err.file !== resolve(pair.cert) ? 'key' : 'cert';
        issues.push({ path: [...l.path, 'tls', 'certificates', i, key], code: 'bad-certificate', message: `${err.file}: ${err.reason}` });
      }
    }
  }
  return issues;
}
