/**
 * The benchmark's graylane config: the full rule set (20 rules, a 100k-id users list, semver,
 * regexes, cookies, query) in front of two origins, ending in the shared harness's rule
 * (x-canary: always -> v2, cookie canary=always -> v2, 10% of users sticky by x-user-id, 10% of
 * anonymous requests at random). The bench load matches none of the earlier rules, so every request
 * walks the whole list: the worst case for marking.
 *   node dist/bench/config.js --v1 URL --v2 URL [--listen 127.0.0.1:18190] > bench.yaml
 */
import { stringify } from 'yaml';

export interface BenchConfigOptions {
  v1: string;
  v2: string;
  listen?: string;
  accessLog?: boolean;
}

export function benchConfig(opts: BenchConfigOptions): string {
  const vips = Array.from({ length: 100_000 }, (_, i) => `vip-${i + 1}`);
  const doc = {
    listen: opts.listen ?? '127.0.0.1:18190',
    accessLog: opts.accessLog ?? false,
    services: {
      shop: {
        fallback: 'stable',
        versions: {
          stable: { endpoints: [opts.v1] },
          canary: { endpoints: [opts.v2] },
          beta: { endpoints: [opts.v2] },
          alpha: { endpoints: [opts.v2] },
        },
      },
    },
    routes: [
      { name: 'admin', match: { host: 'admin.example.com' }, service: 'shop', lane: 'alpha' },
      {
        name: 'shop',
        match: { pathPrefix: '/' },
        service: 'shop',
        identity: ['header:x-user-id', 'cookie:uid', 'query:uid'],
        visitorCookie: false,
        salt: 'bench-2026-11',
        rules: [
          { name: 'vip-users', lane: 'alpha', users: vips },
          { name: 'staff', lane: 'alpha', users: ['1001', '1002', '1003'] },
          { name: 'new-app', lane: 'beta', appVersion: { header: 'x-app-version', range: '>=3.0.0' } },
          { name: 'old-app-beta', lane: 'beta', appVersion: { header: 'x-app-version', range: '1.x || >=2.9.0 <3' } },
          { name: 'keyword', lane: 'beta', path: { contains: '/new-checkout' } },
          { name: 'api-v2', lane: 'beta', path: { regex: '^/api/v2/' } },
          { name: 'beta-prefix', lane: 'beta', path: { prefix: '/beta/' } },
          { name: 'debug-lane', lane: 'beta', header: { name: 'x-debug-lane', pattern: '^(beta|alpha)$' } },
          { name: 'region', lane: 'beta', header: { name: 'x-region', in: ['cd', 'sz'] } },
          { name: 'tenant', lane: 'beta', header: { name: 'x-tenant', present: true } },
          { name: 'ab-cookie', lane: 'beta', cookie: { name: 'ab', in: ['b', 'c'] } },
          { name: 'beta-cookie', lane: 'beta', cookie: { name: 'beta', equals: '1' } },
          { name: 'preview', lane: 'beta', query: { name: 'preview', equals: '1' } },
          { name: 'lane-query', lane: 'beta', query: { name: 'lane', pattern: '^b' } },
          { name: 'mobile-beta', lane: 'beta', header: { name: 'x-platform', equals: 'ios' }, path: { prefix: '/m/' } },
          { name: 'partner', lane: 'beta', header: { name: 'x-partner', equals: 'acme' }, query: { name: 'ref', equals: 'acme' } },
          { name: 'internal-ua', lane: 'alpha', header: { name: 'user-agent', pattern: 'InternalBot/' } },
          { name: 'canary-header', lane: 'canary', header: { name: 'x-canary', equals: 'always' } },
          { name: 'canary-cookie', lane: 'canary', cookie: { name: 'canary', equals: 'always' } },
          { name: 'ten-percent', lane: 'canary', percent: 10 },
        ],
      },
    ],
  };
  return stringify(doc, { lineWidth: 0 });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
  };
  process.stdout.write(
    benchConfig({
      v1: arg('--v1', process.env.UPSTREAM_V1 ?? 'http://127.0.0.1:19001'),
      v2: arg('--v2', process.env.UPSTREAM_V2 ?? 'http://127.0.0.1:19002'),
      listen: arg('--listen', `127.0.0.1:${process.env.PORT ?? 18190}`),
    }),
  );
}
