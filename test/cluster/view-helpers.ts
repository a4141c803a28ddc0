/**
 * The cluster-wide view from outside: three `graylane serve --store` processes on one real etcd
 * (two controller candidates and one gateway only), a spec that sends `x-beta: 1` to beta, and the
 * gateways list read from any gateway's /api/v1/overview. Shared by the API test
 * (test/cluster/gateways-view.test.ts) and the browser test (test/dashboard/).
 */
import type { EtcdServer } from '../support/etcd.js';
import type { GatewayOverview, Overview } from '../../src/metrics/overview.js';
import { send, startUpstream, writeFile, type Upstream } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { until } from '../support/wait.js';
import { freshPrefix } from './helpers.js';
import { adminGet, apply, startClusterGateway, versionFor, type ClusterGateway } from './serve-helpers.js';

export interface ViewCluster {
  gateways: [ClusterGateway, ClusterGateway, ClusterGateway];
  stable: Upstream;
  /** Answers 500 to every second request: errors to count. */
  beta: Upstream;
  close(): Promise<void>;
}

/** Three gateways routing one applied spec; close() kills them (SIGKILL, SIGCONT first if stopped) and removes everything. */
export async function startViewCluster(server: EtcdServer): Promise<ViewCluster> {
  const prefix = freshPrefix();
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta', { failEvery: 2 });
  const gateways: ClusterGateway[] = [];
  const close = async () => {
    for (const g of gateways) g.child.kill('SIGCONT');
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    await Promise.all([stable.close(), beta.close()]);
    await dir.remove();
  };
  try {
    const spec =
      'accessLog: false\ndrain: 0s\nservices:\n  web:\n    versions:\n' +
      `      stable: [${stable.url}]\n      beta: [${beta.url}]\n` +
      'routes:\n  - service: web\n    visitorCookie: false\n    rules:\n      - { lane: beta, header: { name: x-beta, equals: "1" } }\n';
    await writeFile(dir.file('graylane.yaml'), spec);
    const applied = await apply(server.endpoint, prefix, dir.file('graylane.yaml'));
    if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}`);
    for (const [name, controller] of [['gw-1', true], ['gw-2', true], ['gw-3', false]] as const) {
      gateways.push(await startClusterGateway({ endpoint: server.endpoint, prefix, name, cwd: dir.path, controller }));
    }
    for (const g of gateways) await until(`${g.name} routes`, async () => (await versionFor(g.gatewayUrl)) === 'stable', 10_000);
  } catch (e) {
    await close();
    throw e;
  }
  return { gateways: gateways as ViewCluster['gateways'], stable, beta, close };
}

/** Requests to each gateway: `[stable, beta]` counts, in the order of the gateways. */
export async function sendTo(c: ViewCluster, counts: [stable: number, beta: number][]): Promise<void> {
  for (const [i, [nStable, nBeta]] of counts.entries()) {
    const url = c.gateways[i]!.gatewayUrl;
    await send(url, nStable);
    await send(url, nBeta, { 'x-beta': '1' });
  }
}

/** The gateways part of one gateway's overview. */
export async function gatewaysSeenBy(g: ClusterGateway): Promise<Overview['gateways']> {
  return (await adminGet<Overview>(g.adminUrl, '/api/v1/overview')).gateways;
}

/** One row by gateway name (undefined when not listed). */
export function row(view: Overview['gateways'], name: string): GatewayOverview | undefined {
  return view.gateways.find((x) => x.name === name);
}
