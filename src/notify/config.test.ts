import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseSpec } from '../spec/index.js';

const BASE = `services:
  web:
    versions:
      stable: [http://127.0.0.1:9001]
routes:
  - service: web
`;

function issuesOf(text: string): string[] {
  try {
    parseSpec(text, 'gl.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n');
  }
  assert.fail('expected config issues');
}

test('notifications are normalized: secret references, defaults, durations', () => {
  const spec = parseSpec(
    `${BASE}notifications:
  targets:
    hook: { kind: webhook, url: "https://hooks.example/graylane", secret: { env: HOOK_SECRET } }
    ding: { kind: dingtalk, url: { env: DING_URL }, secret: { file: /run/secrets/ding } }
  subscriptions:
    - { targets: [hook], events: [Aborted, AnalysisFailed], services: [web] }
    - { targets: [ding] }
  delivery: { attempts: 3, backoff: 200ms, maxAge: 1h }
  approvalLinks: { baseUrl: "https://graylane.example/", key: { env: LINK_KEY }, ttl: 30m }
`,
    'gl.yaml',
  );
  const n = spec.notifications!;
  assert.deepEqual(n.targets.hook, { name: 'hook', kind: 'webhook', url: 'https://hooks.example/graylane', secret: { env: 'HOOK_SECRET' } });
  assert.deepEqual(n.targets.ding, { name: 'ding', kind: 'dingtalk', url: { env: 'DING_URL' }, secret: { file: '/run/secrets/ding' } });
  assert.deepEqual(n.subscriptions[0], { targets: ['hook'], events: ['Aborted', 'AnalysisFailed'], services: ['web'] });
  assert.equal(n.subscriptions[1]!.events.length, 9, 'no events: every event');
  assert.deepEqual(n.delivery, { attempts: 3, maxAgeMs: 3_600_000, backoffMs: 200, maxBackoffMs: 300_000, timeoutMs: 10_000 });
  assert.deepEqual(n.approvalLinks, { baseUrl: 'https://graylane.example', key: { env: 'LINK_KEY' }, ttlMs: 1_800_000 });
});

test('an inline secret is an error naming the key, and the value is not echoed', () => {
  const lines = issuesOf(`${BASE}notifications:
  targets:
    hook: { kind: webhook, url: "https://hooks.example/x", secret: "hunter2-value" }
  approvalLinks: { baseUrl: "https://g.example", key: "another-inline" }
`);
  assert.ok(lines.some((l) => l.includes('notifications.targets.hook.secret: secrets are never written in the config')), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('notifications.approvalLinks.key: secrets are never written in the config')), lines.join('\n'));
  assert.ok(!lines.join('\n').includes('hunter2-value'));
  assert.ok(!lines.join('\n').includes('another-inline'));
});

test('unknown targets, kinds and events, a webhook without a secret, both env and file: each named', () => {
  const text = issuesOf(`${BASE}notifications:
  targets:
    a: { kind: webhook, url: "https://h.example/" }
    b: { kind: teams, url: "https://h.example/" }
    c: { kind: slack, url: { env: X, file: /y } }
  subscriptions:
    - { targets: [zz], events: [Exploded] }
`).join('\n');
  assert.match(text, /notifications\.targets\.a: webhook target "a" needs a secret/);
  assert.match(text, /notifications\.targets\.b\.kind: must be webhook, slack, feishu, dingtalk or wecom/);
  assert.match(text, /notifications\.targets\.c\.url: give exactly one of env and file/);
  assert.match(text, /notifications\.subscriptions\[0\]\.targets\[0\]: unknown target "zz"/);
  assert.match(text, /notifications\.subscriptions\[0\]\.events\[0\]: must be one of RolloutStarted/);
});
