/**
 * Clustered mode from the command line: `graylane apply -f FILE` validates a spec exactly as
 * `graylane validate` does and writes it to etcd (nothing is written when it is invalid or etcd is
 * away); `graylane get spec` prints the applied text byte for byte. The store comes from `--store`
 * or GRAYLANE_STORE; the prefix from `--prefix`, the URL's path, or `/graylane`.
 */
import { compile } from '../routing/index.js';
import { ConfigError, parseSpec, readConfigText, unreadableConfig } from '../spec/index.js';

export interface StoreFlags {
  store?: string;
  prefix?: string;
}

/** The etcd URL from the flag or the environment; a clear error when neither is set. */
export function storeUrl(flags: StoreFlags): string {
  const url = flags.store ?? process.env.GRAYLANE_STORE;
  if (url === undefined || url === '') throw new Error('no store: pass --store etcd://HOST:PORT or set GRAYLANE_STORE');
  return url;
}

async function connect(flags: StoreFlags) {
  const { connectEtcd, parseEtcdUrl } = await import('../cluster/index.js');
  const url = parseEtcdUrl(storeUrl(flags));
  return connectEtcd({ endpoints: url.endpoints, prefix: flags.prefix ?? url.prefix });
}

export async function applyCommand(opts: StoreFlags & { file: string; expectRevision?: number }): Promise<void> {
  let text: string;
  try {
    text = await readConfigText(opts.file);
  } catch (err) {
    console.error(unreadableConfig(opts.file, err).message);
    console.error(`not applied: nothing was written`);
    process.exitCode = 1;
    return;
  }
  try {
    // What a gateway does with it: validate, then compile (a spec that does not compile is rejected there too).
    compile(parseSpec(text, opts.file), { services: {} });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    console.error(`not applied: ${opts.file} is invalid; nothing was written`);
    process.exitCode = 1;
    return;
  }
  const { applySpec } = await import('../cluster/index.js');
  const conn = await connect(opts);
  try {
    const r = await applySpec(conn, text, { source: opts.file, ...(opts.expectRevision !== undefined ? { expectRevision: opts.expectRevision } : {}) });
    console.log(r.changed ? `applied ${opts.file} under ${conn.keys.prefix} (revision ${r.revision}, sha256 ${r.sha256.slice(0, 12)})` : `unchanged: ${conn.keys.prefix} already holds this spec (revision ${r.revision})`);
  } finally {
    conn.close();
  }
}

export async function getSpecCommand(opts: StoreFlags): Promise<void> {
  const { getSpec } = await import('../cluster/index.js');
  const conn = await connect(opts);
  try {
    const spec = await getSpec(conn);
    if (spec === null) {
      console.error(`no spec applied under ${conn.keys.prefix}: graylane apply -f FILE writes one`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(spec.yaml);
  } finally {
    conn.close();
  }
}
