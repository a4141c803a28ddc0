/** importConfigs as a whole: options, several files, detection, what is warned about. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { detectSource, importConfigs } from './index.js';
import { loadImported } from '../../test/support/import.js';

const ingress = (name: string, service: string, extra = ''): string => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ${name}, namespace: shop${extra} }
spec:
  rules:
    - host: shop.example.com
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: ${service}, port: { number: 8080 } } } }
`;

test('endpoints option: namespace/name before name, several URLs comma-separated', () => {
  const { yaml } = importConfigs([{ file: 'i.yaml', text: ingress('web', 'web') }], {
    endpoints: { web: 'http://10.0.0.9:1', 'shop/web': 'http://10.0.0.1:8080, http://10.0.0.2:8080' },
  });
  const { spec } = loadImported(yaml);
  assert.deepEqual(spec.services.web!.versions.stable!.endpoints, ['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
});

test('an Argo Rollout in one file attaches to the Ingress route of another', () => {
  const rollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: web, namespace: shop }
spec:
  strategy:
    canary:
      stableService: web
      canaryService: web-preview
      trafficRouting: { nginx: { stableIngress: web, additionalIngressAnnotations: { canary-by-cookie: beta } } }
      steps: [{ setWeight: 10 }, { pause: { duration: 30 } }]
`;
  const { yaml, warnings } = importConfigs([
    { file: 'rollout.yaml', text: rollout },
    { file: 'ingress.yaml', text: ingress('web', 'web') },
  ]);
  assert.deepEqual(warnings, []);
  const { spec, rollouts } = loadImported(yaml);
  assert.deepEqual(spec.services.web!.versions.canary!.endpoints, ['http://web-preview.shop.svc.cluster.local:8080']);
  assert.deepEqual(spec.routes[0]!.canary, [{ lane: 'canary', byCookie: 'beta' }]);
  assert.equal(rollouts[0]!.service, 'web');
  assert.match(yaml, /^# graylane config written by `graylane import` from:\n# {3}rollout\.yaml: 1 argo document\n# {3}ingress\.yaml: 1 ingress-nginx document\n/);
});

test('from: only the named system is imported, the rest is warned about', () => {
  const traefik = 'http:\n  routers:\n    r: { rule: "Host(`a.com`)", service: s }\n  services:\n    s: { loadBalancer: { servers: [{ url: "http://10.0.0.1" }] } }\n';
  const { yaml, warnings } = importConfigs([{ file: 'mixed.yaml', text: `${ingress('web', 'web')}---\n${traefik}` }], { from: 'traefik' });
  assert.deepEqual(Object.keys(parse(yaml).services), ['s']);
  assert.equal(warnings.length, 1);
  assert.deepEqual([warnings[0]!.document, warnings[0]!.message], [1, 'skipped: this is ingress-nginx, and only traefik was asked for']);
});

test('kind: List items are documents; other kinds and empty documents are skipped', () => {
  const list = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Service
    metadata: { name: web }
  - ${ingress('web', 'web').replace(/\n/g, '\n    ')}
`;
  const { yaml, warnings } = importConfigs([{ file: 'list.yaml', text: `---\n---\n${list}` }]);
  assert.equal(parse(yaml).routes.length, 1);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.path, 'items[0]');
  assert.match(warnings[0]!.message, /^Service \(v1\) is not a config graylane imports/);
});

test('source detection by apiVersion and kind, or Traefik\'s http key', () => {
  const doc = (data: unknown) => ({ file: 'x', document: 1, data, at: () => ({ file: 'x', document: 1, line: 0, path: '' }) });
  assert.equal(detectSource(doc({ apiVersion: 'extensions/v1beta1', kind: 'Ingress' })), 'ingress-nginx');
  assert.equal(detectSource(doc({ apiVersion: 'traefik.containo.us/v1alpha1', kind: 'IngressRoute' })), 'traefik');
  assert.equal(detectSource(doc({ http: { routers: {} } })), 'traefik');
  assert.equal(detectSource(doc({ apiVersion: 'rollouts.kruise.io/v1alpha1', kind: 'Rollout' })), 'kruise');
  assert.equal(detectSource(doc({ apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisTemplate' })), 'argo');
  assert.equal(detectSource(doc({ apiVersion: 'apps/v1', kind: 'Deployment' })), undefined);
});

test('a Traefik header router on another router\'s host and path becomes a rule of its route', () => {
  const text = `http:
  routers:
    web: { rule: "Host(\`a.com\`)", service: v1 }
    web-canary: { rule: "Host(\`a.com\`) && HeaderRegexp(\`X-Group\`, \`^(qa|dev)$\`)", service: v2 }
  services:
    v1: { loadBalancer: { servers: [{ url: "http://10.0.0.1" }] } }
    v2: { loadBalancer: { servers: [{ url: "http://10.0.0.2" }] } }
`;
  const { spec } = loadImported(importConfigs([{ file: 'd.yaml', text }]).yaml);
  assert.equal(spec.routes.length, 1);
  assert.deepEqual(spec.routes[0]!.rules.map((r) => [r.lane, r.header]), [['v2', { name: 'x-group', pattern: '^(qa|dev)$' }]]);
  assert.deepEqual(Object.keys(spec.services.v1!.versions), ['v1', 'v2']);
  assert.equal(spec.services.v1!.fallback, 'v1');
});

test('an Argo blue-green Rollout becomes a blueGreen rollout with a preview version', () => {
  const text = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: web }
spec:
  strategy:
    blueGreen:
      activeService: web-active
      previewService: web-preview
      autoPromotionEnabled: false
      autoPromotionSeconds: 120
      prePromotionAnalysis:
        templates: [{ templateName: smoke }]
      scaleDownDelaySeconds: 30
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: { name: smoke }
spec:
  metrics:
    - name: smoke
      successCondition: result == true
      provider: { web: { url: "http://web-preview/health", jsonPath: "{$.ok}" } }
`;
  const { yaml, warnings } = importConfigs([{ file: 'bg.yaml', text }], { endpoints: { 'web-active': 'http://10.0.0.1:80', 'web-preview': 'http://10.0.0.2:80' } });
  assert.deepEqual(warnings.map((w) => w.path), ['spec.strategy.blueGreen.scaleDownDelaySeconds']);
  const { rollouts, spec, templates } = loadImported(yaml);
  assert.deepEqual(spec.services['web-active']!.versions.preview!.endpoints, ['http://10.0.0.2:80']);
  assert.deepEqual(rollouts[0]!.strategy, {
    kind: 'blueGreen',
    previewLane: 'preview',
    previewWeight: 0,
    prePromotionAnalysis: { templates: ['smoke'] },
    autoPromotionEnabled: false,
    autoPromotionDelayMs: 120_000,
    promotion: 'switch',
    hooks: {},
  });
  assert.equal(templates.smoke!.provider.kind, 'web');
});

test('a Kruise canary tag that is no graylane name becomes a lane that loads, and says so', () => {
  const text = readFileSync(new URL('../../../test/fixtures/import/kruise/full-link.yaml', import.meta.url), 'utf8').replace(/alicloud\.service\.tag: gray/g, 'alicloud.service.tag: "gray lane!"');
  const { yaml, warnings } = importConfigs([{ file: 'k.yaml', text }]);
  const { spec, rollouts } = loadImported(yaml);
  assert.deepEqual(rollouts.map((r) => r.canary), ['gray-lane', 'gray-lane']);
  assert.ok(spec.routes[0]!.rules.some((r) => r.lane === 'gray-lane'));
  assert.equal(warnings.filter((w) => w.message.startsWith('tag "gray lane!" is not a graylane lane name: the lane is gray-lane')).length, 1);
});

test('a regex on an app version header stays a regex rule, with a note on appVersion; other headers get none', () => {
  const nginx = ingress('web', 'web') + '---\n' + ingress('web-canary', 'web-v2', ', annotations: { nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-by-header: X-App-Version, nginx.ingress.kubernetes.io/canary-by-header-pattern: "^2\\\\.[3-9]" }');
  const fromNginx = importConfigs([{ file: 'i.yaml', text: nginx }]);
  assert.deepEqual(loadImported(fromNginx.yaml).spec.routes[0]!.canary, [{ lane: 'canary', byHeader: 'x-app-version', byHeaderPattern: '^2\\.[3-9]' }]);
  assert.deepEqual(
    fromNginx.warnings.map((w) => w.message),
    ['header x-app-version is matched by the regular expression "^2\\\\.[3-9]" on its text, imported as such; to compare app versions as numbers (2.10 > 2.9, 2.4 = 2.4.0), write an appVersion rule instead (docs/config.md#app-versions)'],
  );

  const traefik = (header: string) =>
    'http:\n  routers:\n' +
    '    main: { rule: "Host(`a.com`)", service: v1 }\n' +
    `    new-app: { rule: "Host(\`a.com\`) && HeaderRegexp(\`${header}\`, \`^2\\\\.[3-9]\`)", service: v2 }\n` +
    '  services:\n    v1: { loadBalancer: { servers: [{ url: "http://10.0.0.1" }] } }\n    v2: { loadBalancer: { servers: [{ url: "http://10.0.0.2" }] } }\n';
  const fromTraefik = importConfigs([{ file: 't.yaml', text: traefik('X-App-Version') }]);
  const { spec } = loadImported(fromTraefik.yaml);
  assert.deepEqual(spec.routes[0]!.rules.map((r) => [r.lane, r.header, r.appVersion]), [['v2', { name: 'x-app-version', pattern: '^2\\.[3-9]' }, undefined]]);
  assert.match(fromTraefik.warnings.map((w) => w.message).join('\n'), /^header x-app-version is matched by the regular expression "\^2\\\\\.\[3-9\]" on its text, imported as such; .*appVersion rule/m);
  assert.deepEqual(importConfigs([{ file: 't.yaml', text: traefik('X-Region') }]).warnings, []);
});
