import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Overview } from '../metrics/overview.js';
import { renderTop } from './top-render.js';

const endpoint = (url: string, up = true) => ({ url, up, registered: false, failures: 0, ejectedUntil: null, ejections: 0 });

const gateway = (name: string, extra: Record<string, unknown>) => ({
  id: `${name}-1`,
  name,
  hostname: 'h',
  admin: '127.0.0.1:9090',
  candidate: true,
  role: 'follower',
  store: { up: true },
  local: false,
  state: 'live',
  startedAt: 0,
  publishedAt: 0,
  ...extra,
});

const OVERVIEW = {
  at: 0,
  services: [
    {
      name: 'checkout',
      fallback: 'stable',
      versions: [
        { name: 'stable', rps: 40.24, errorRate: 0, p99Ms: 8.21, share: 56.4, requests: 695, endpoints: [endpoint('http://127.0.0.1:9001')] },
        { name: 'beta', rps: 59.8, errorRate: 0.0239, p99Ms: 1234, share: 43.6, requests: 435, endpoints: [endpoint('http://127.0.0.1:9002'), endpoint('http://127.0.0.1:9003', false)] },
        { name: 'alpha', rps: 0, errorRate: null, p99Ms: null, share: null, requests: 0, endpoints: [], withdrawn: true },
      ],
    },
  ],
  routes: [],
  rollouts: [
    {
      name: 'checkout-beta',
      service: 'checkout',
      phase: 'Paused',
      reason: 'AwaitingPromotion',
      currentStep: 5,
      steps: new Array(7).fill({ index: 0, description: '', state: 'pending' }),
      traffic: { stable: 40, beta: 60 },
    },
  ],
  rolloutsError: null,
  config: { file: 'g.yaml', loadedAt: 0, snapshotId: 'abc123', configHash: 'def456', reloads: 0, reloadsFailed: 1, lastReloadError: { at: 0, message: 'g.yaml:3:5: services.x: bad\ng.yaml:9:1: routes: worse', issues: [] } },
  mirror: { sent: 0, dropped: 0, failed: 0 },
  history: { stepMs: 1000, points: [] },
  gateways: {
    mode: 'cluster',
    staleAfterMs: 3000,
    goneAfterMs: 10_000,
    gateways: [
      gateway('gw-1', { address: '127.0.0.1:8080', role: 'leader', local: true, silentMs: 312, versions: { checkout: { stable: { requests: 695, errors: 0 }, beta: { requests: 435, errors: 10 } } } }),
      gateway('gw-2', { address: '127.0.0.1:8081', silentMs: 870, versions: { checkout: { stable: { requests: 100, errors: 0 } } } }),
      gateway('gw-3', { address: '10.1.2.3:8080', state: 'stale', store: { up: false }, silentMs: 12_345, versions: {} }),
    ],
    totals: { checkout: { beta: { requests: 435, errors: 10 }, stable: { requests: 795, errors: 0 } } },
  },
} as unknown as Overview;

test('top: a table per service, the rollouts, and a rejected reload in full', () => {
  const text = renderTop(OVERVIEW, { source: 'http://127.0.0.1:9090', time: () => '09:08:03' });
  assert.equal(
    text,
    [
      'graylane top  http://127.0.0.1:9090  09:08:03  snapshot abc123',
      '',
      'checkout  (fallback stable)',
      '  VERSION  REQ/S  ERRORS    P99  SHARE  TOTAL  ENDPOINTS',
      '  stable    40.2   0.00%  8.2ms    56%    695  1/1 up',
      '  beta      59.8   2.39%  1.23s    44%    435  1/2 up',
      '  alpha      0.0       -      -      -      0  0/0 up, withdrawn',
      '',
      'rollouts',
      '  checkout-beta  checkout  Paused (AwaitingPromotion)  step 6/7  stable 40% beta 60%',
      '',
      'gateways  (cluster: 3, * this one; stale after 3.0s without a publish, gone when its lease ends)',
      '  GATEWAY  ADDRESS         ROLE      STORE  PUBLISHED  STATE  REQUESTS',
      '* gw-1     127.0.0.1:8080  leader    up     0.3s ago   live       1130',
      '  gw-2     127.0.0.1:8081  follower  up     0.9s ago   live        100',
      '  gw-3     10.1.2.3:8080   follower  DOWN   12s ago    stale         0',
      '',
      'totals across gateways',
      '  SERVICE   VERSION  REQUESTS  ERRORS',
      '  checkout  beta          435      10',
      '  checkout  stable        795       0',
      '',
      'config reload rejected at 09:08:03; still serving the config loaded at 09:08:03:',
      '  g.yaml:3:5: services.x: bad',
      '  g.yaml:9:1: routes: worse',
      '',
    ].join('\n'),
  );
});

test('top: on a terminal, titles are bold and versions with errors red', () => {
  const text = renderTop(OVERVIEW, { source: 'x', time: () => 't', color: true });
  assert.match(text, /\x1b\[1mcheckout\x1b\[0m/);
  assert.match(text, /\x1b\[31m {2}beta .*\x1b\[0m/);
  assert.doesNotMatch(text, /\x1b\[31m {2}stable/);
  assert.match(text, /\x1b\[31m {2}gw-3 .* stale .*\x1b\[0m/);
  assert.doesNotMatch(text, /\x1b\[31m {2}gw-2/);
});

test('top: one process lists itself alone, without a totals table', () => {
  const single = {
    ...OVERVIEW,
    rollouts: [],
    config: { ...OVERVIEW.config, lastReloadError: null },
    gateways: {
      mode: 'single',
      staleAfterMs: null,
      goneAfterMs: null,
      gateways: [gateway('solo', { address: '127.0.0.1:8080', role: 'leader', local: true, publishedAt: null, silentMs: null, versions: { checkout: { stable: { requests: 4, errors: 0 } } } })],
      totals: { checkout: { stable: { requests: 4, errors: 0 } } },
    },
  } as unknown as Overview;
  const text = renderTop(single, { source: 'x', time: () => 't' });
  assert.ok(
    text.endsWith(
      [
        'gateways  (one process)',
        '  GATEWAY  ADDRESS         ROLE    STORE  PUBLISHED  STATE  REQUESTS',
        '* solo     127.0.0.1:8080  leader  up     -          live          4',
        '',
      ].join('\n'),
    ),
    text,
  );
});

test('top: the clock reads 00 to 23 in the hour after midnight (hour12: false read it 24:05:07)', () => {
  const text = renderTop({ ...OVERVIEW, at: new Date(2026, 11, 6, 0, 5, 7).getTime() }, { source: 'x' });
  assert.equal(text.split('\n')[0], 'graylane top  x  00:05:07  snapshot abc123');
  const afternoon = renderTop({ ...OVERVIEW, at: new Date(2026, 11, 6, 23, 59, 58).getTime() }, { source: 'x' });
  assert.equal(afternoon.split('\n')[0], 'graylane top  x  23:59:58  snapshot abc123');
});
