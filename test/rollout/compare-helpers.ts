/**
 * What the builtin `compare` end-to-end tests share: upstreams with a known error rate and delay,
 * a load that counts who answered, and the rollout whose analysis step is the comparison.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';

/** Split requests per version: above minSamples (400) in the window. */
export const PER_VERSION = 500;

/** An upstream answering 500 to every `failEvery`-th request and to every header-routed one, each after `delayMs`. */
export async function upstream(version: string, failEvery: number, delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  let count = 0;
  const server = http.createServer((req, res) => {
    const fail = ++count % failEvery === 0 || req.headers['x-canary'] === 'yes';
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        res.writeHead(fail ? 500 : 200, { 'x-version': version, 'content-length': 2 });
        res.end('ok');
      }, delayMs),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends `n` requests, `concurrency` at a time; returns how many each version answered. */
export async function load(gatewayUrl: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const agent = new Agent({ connections: 16 });
  const seen: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await request(`${gatewayUrl}/`, { headers, dispatcher: agent });
      await res.body.dump();
      const v = String(res.headers['x-version']);
      seen[v] = (seen[v] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await agent.close();
  return seen;
}

/**
 * The rest of the config after the route (test/rollout/helpers.ts config()): a header rule that sends
 * `x-canary: yes` to the canary (targeted, never in the sample), and the rollout web-beta at 50%
 * whose analysis step compares canary and stable.
 */
export const COMPARE_ROLLOUT = `    rules: [{ lane: beta, header: { name: x-canary, equals: 'yes' } }]
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: {}
          - analysis: { templates: [canary-vs-stable] }
          - setWeight: 100
analysisTemplates:
  canary-vs-stable:
    provider:
      builtin:
        window: 1m
        compare: { alpha: 0.05, minSamples: 400, errorRate: {}, latency: { quantile: 0.5, tolerance: 20ms } }
`;
