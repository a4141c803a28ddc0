/**
 * HTTP/2 clients get the split and are counted in /metrics as HTTP/1.1 clients are (issue 15:
 * "the same routing, marking, dispatch, split, mirror, access log and metrics"). graylane runs as
 * `graylane serve` runs it (startApp on a config file) with an HTTP/1.1 listener and an h2c one;
 * the scrape is parsed by a real Prometheus text parser.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import type { App } from '../../src/app.js';
import { startTestApp, writeFile } from '../rollout/helpers.js';
import { scrape, value } from '../metrics/helpers.js';
import { startUpstream, type Echo, type Upstream } from '../support/upstream.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { h2connect, h2request } from './helpers.js';

let dir: TempDir;
let stable: Upstream;
let beta: Upstream;
let app: App;
let session: ClientHttp2Session;

before(async () => {
  dir = await tempDir();
  [stable, beta] = await Promise.all([startUpstream('stable'), startUpstream('beta')]);
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    `
listen:
  - 127.0.0.1:0
  - { address: 127.0.0.1:0, h2c: true }
accessLog: false
drain: 0s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(dir.file('state.db'))} }
services:
  web: { versions: { stable: [${stable.url}], beta: [${beta.url}] } }
routes:
  - name: web
    service: web
    visitorCookie: false
    rules:
      - { name: testers, lane: beta, header: { name: x-beta, equals: "1" } }
    split: { stable: 1, beta: 1 }
`,
  );
  app = await startTestApp(file);
  session = await h2connect(`http://127.0.0.1:${app.gateway.listeners.find((l) => l.h2c)!.port}`);
});

after(async () => {
  session?.close();
  await app?.close({ drainMs: 0 });
  await Promise.all([stable?.close(), beta?.close()]);
  await dir?.remove();
});

const adminUrl = (): string => `http://127.0.0.1:${app.admin.address.port}`;

test('over HTTP/2: the split interleaves 1:1, a rule marks, and /metrics counts each by route, version and lane', async () => {
  const versions: string[] = [];
  for (let i = 0; i < 8; i++) versions.push((await h2request(session, { ':authority': 'shop.test', ':path': `/split/${i}` })).json<Echo>().version);
  // A smooth weighted split of 1:1 never serves one version twice in a row.
  for (let i = 1; i < versions.length; i++) assert.notEqual(versions[i], versions[i - 1], versions.join(','));
  assert.equal(versions.filter((v) => v === 'beta').length, 4, versions.join(','));
  for (let i = 0; i < 3; i++) {
    assert.equal((await h2request(session, { ':authority': 'shop.test', ':path': '/tester', 'x-beta': '1' })).json<Echo>().version, 'beta');
  }

  const m = await scrape(adminUrl());
  const requests = (version: string): number => value(m, 'graylane_requests_total', { route: 'web', service: 'web', version, lane: version, class: '2xx' });
  assert.equal(requests('stable'), 4);
  assert.equal(requests('beta'), 4 + 3);
});
