/**
 * Clustered mode end to end: `graylane serve --store etcd://...` child processes on one real etcd,
 * `graylane apply` through the real CLI, and clients that ask every gateway the same question.
 */
import { request } from 'undici';
import { api, runCli, spawnServe, type ApiReply, type ServeChild } from '../rollout/helpers.js';

export interface ClusterGateway extends ServeChild {
  name: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** One `graylane serve --store` process with its listeners on free ports. */
export async function startClusterGateway(
  opts: { endpoint: string; prefix: string; name: string; cwd: string; controller?: boolean; cacheDir?: string },
): Promise<ClusterGateway> {
  const args = [
    '--store',
    `etcd://${opts.endpoint.replace(/^http:\/\//, '')}`,
    '--prefix',
    opts.prefix,
    '--name',
    opts.name,
    '--cache-dir',
    opts.cacheDir ?? `${opts.cwd}/${opts.name}-cache`,
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    '127.0.0.1:0',
    '--no-access-log',
  ];
  if (opts.controller === false) args.push('--no-controller');
  const child = await spawnServe(args, opts.cwd);
  return {
    ...child,
    name: opts.name,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill(signal);
      await child.exited;
    },
  };
}

/** `graylane apply -f FILE` against the cluster. */
export function apply(endpoint: string, prefix: string, file: string): ReturnType<typeof runCli> {
  return runCli(['apply', '-f', file, '--store', `etcd://${endpoint.replace(/^http:\/\//, '')}`, '--prefix', prefix]);
}

/** The version that answered (the upstream's x-version), or `status N`. */
export async function versionFor(gatewayUrl: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(`${gatewayUrl}/`, { headers });
  await res.body.dump();
  return String(res.headers['x-version'] ?? `status ${res.statusCode}`);
}

/** GET on the admin API; the body as T (fails the test on another status than 200). */
export async function adminGet<T>(adminUrl: string, path: string): Promise<T> {
  const r = await api<T>(adminUrl, 'GET', path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** POST with the admin token. */
export function adminPost(adminUrl: string, path: string, body: unknown = {}): Promise<ApiReply> {
  return api(adminUrl, 'POST', path, body);
}

/** Whether this gateway's controller is the elected one (from /api/v1/config). */
export async function isLeading(gw: ServeChild): Promise<boolean> {
  const info = await adminGet<{ store?: { leading: boolean } }>(gw.adminUrl, '/api/v1/config');
  return info.store?.leading === true;
}
