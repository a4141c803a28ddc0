/**
 * Malformed input: every problem is reported with file, document and key path (and line where the
 * format keeps positions), and nothing is produced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImportError, importConfigs, type ImportIssue } from './index.js';

function issuesOf(inputs: { file: string; text: string }[], opts = {}): ImportIssue[] {
  try {
    importConfigs(inputs, opts);
  } catch (err) {
    assert.ok(err instanceof ImportError, `expected ImportError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_GRAYLANE_IMPORT');
    assert.equal(err.message.split('\n').length, err.issues.length);
    return err.issues;
  }
  assert.fail('importConfigs did not throw');
}

const main = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web }
spec:
  rules:
    - host: web.example.com
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }
`;

function canary(annotations: string, host = 'web.example.com'): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web-canary
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
${annotations}
spec:
  rules:
    - host: ${host}
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: web-v2, port: { number: 80 } } } }
`;
}

test('bad YAML: file, document and line of the syntax error', () => {
  const issues = issuesOf([{ file: 'bad.yaml', text: `${main}---\nkind: Ingress\nmetadata: { name: [unclosed\n` }]);
  assert.ok(issues.length >= 1);
  for (const issue of issues) {
    assert.deepEqual([issue.file, issue.document], ['bad.yaml', 2]);
    assert.ok(issue.line >= 12, `line ${issue.line}`);
    assert.match(issue.message, /^YAML syntax: Flow (sequence|map) in block collection must be sufficiently indented/);
  }
});

test('a canary Ingress without a main one', () => {
  const issues = issuesOf([{ file: 'c.yaml', text: `${main}---\n${canary('    nginx.ingress.kubernetes.io/canary-weight: "10"', 'other.example.com')}` }]);
  assert.deepEqual(
    issues.map((i) => [i.file, i.document, i.path]),
    [['c.yaml', 2, 'spec.rules[0].http.paths[0]']],
  );
  assert.match(issues[0]!.message, /no main Ingress serves host other\.example\.com path \//);
  assert.equal(issues[0]!.line, 23); // lines count from the top of the file
});

test('canary-weight "abc" names the annotation', () => {
  const issues = issuesOf([{ file: 'w.yaml', text: `${main}---\n${canary('    nginx.ingress.kubernetes.io/canary-weight: "abc"')}` }]);
  assert.equal(issues.length, 1);
  assert.deepEqual([issues[0]!.document, issues[0]!.line], [2, 17]);
  assert.equal(issues[0]!.path, 'metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]');
  assert.match(issues[0]!.message, /whole number .* got "abc"/);
});

test('canary-weight above canary-weight-total', () => {
  const issues = issuesOf([{ file: 'w.yaml', text: `${main}---\n${canary('    nginx.ingress.kubernetes.io/canary-weight: "150"')}` }]);
  assert.match(issues[0]!.message, /at most canary-weight-total \(100\), got 150/);
});

test('an unknown Traefik service reference, in YAML and TOML', () => {
  const yamlIssues = issuesOf([
    { file: 'dyn.yaml', text: 'http:\n  routers:\n    r:\n      rule: Host(`a.com`)\n      service: missing\n  services:\n    s:\n      loadBalancer: { servers: [{ url: "http://10.0.0.1" }] }\n' },
  ]);
  assert.deepEqual(yamlIssues.map((i) => [i.file, i.document, i.line, i.path]), [['dyn.yaml', 1, 5, 'http.routers.r.service']]);
  assert.match(yamlIssues[0]!.message, /unknown service "missing"; services are: s/);

  const tomlIssues = issuesOf([
    { file: 'dyn.toml', text: '[http.services.app.weighted]\n  [[http.services.app.weighted.services]]\n    name = "v1@docker"\n    weight = 1\n' },
  ]);
  assert.deepEqual(tomlIssues.map((i) => [i.file, i.document, i.path]), [['dyn.toml', 1, 'http.services.app.weighted.services[0].name']]);
  assert.match(tomlIssues[0]!.message, /unknown service "v1@docker"/);
});

test('bad TOML: the line of the syntax error', () => {
  const issues = issuesOf([{ file: 'dyn.toml', text: '[http.routers.r]\nrule = "Host(`a`)"\nservice = \n' }]);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.line, 3);
  assert.match(issues[0]!.message, /^TOML syntax/);
});

test('a Traefik rule that does not parse', () => {
  const issues = issuesOf([
    { file: 'dyn.yaml', text: 'http:\n  routers:\n    r:\n      rule: Host(`a.com`) &&\n      service: s\n  services:\n    s:\n      loadBalancer: { servers: [{ url: "http://10.0.0.1" }] }\n' },
  ]);
  assert.equal(issues[0]!.path, 'http.routers.r.rule');
  assert.match(issues[0]!.message, /rule does not parse: expected a matcher/);
});

test('every issue of every file is reported, in input order', () => {
  const issues = issuesOf([
    { file: 'a.yaml', text: `${main}---\n${canary('    nginx.ingress.kubernetes.io/canary-weight: "x"')}` },
    { file: 'b.yaml', text: 'key: [1, 2\n' },
    { file: 'c.yaml', text: 'apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: { name: r }\nspec:\n  strategy:\n    canary:\n      stableService: s\n      steps:\n        - setWeight: ten\n' },
  ]);
  assert.deepEqual(issues.map((i) => i.file), ['a.yaml', 'b.yaml', 'c.yaml']);
  assert.equal(issues[2]!.path, 'spec.strategy.canary.steps[0].setWeight');
});

test('a Kruise Rollout naming a TrafficRouting that is not among the inputs', () => {
  const issues = issuesOf([
    { file: 'k.yaml', text: 'apiVersion: rollouts.kruise.io/v1beta1\nkind: Rollout\nmetadata: { name: r }\nspec:\n  workloadRef: { kind: Deployment, name: a }\n  strategy:\n    canary:\n      trafficRoutingRef: nope\n      steps: [{ pause: {} }]\n' },
  ]);
  assert.equal(issues[0]!.path, 'spec.strategy.canary.trafficRoutingRef');
  assert.match(issues[0]!.message, /unknown TrafficRouting "nope"/);
});

test('an endpoints option that is not a URL', () => {
  const issues = issuesOf([{ file: 'i.yaml', text: main }], { endpoints: { web: 'web:80' } });
  assert.deepEqual([issues[0]!.file, issues[0]!.path], ['(endpoints option)', 'web']);
});

test('values graylane would refuse are errors at their place in the input, not an invalid output', () => {
  const traefik = (rule: string, url = 'http://10.0.0.1') =>
    `http:\n  routers:\n    r: { rule: "${rule}", service: s }\n    base: { rule: "Host(\`a.com\`)", service: s }\n  services:\n    s: { loadBalancer: { servers: [{ url: "${url}" }] } }\n`;
  const kruise = (modifier: string) => `${main}---
apiVersion: rollouts.kruise.io/v1beta1
kind: TrafficRouting
metadata: { name: tr }
spec:
  objectRef: [{ service: web, ingress: { classType: nginx, name: web } }]
  strategy:
    matches: [{ headers: [{ type: Exact, name: x-beta, value: "1" }] }]
    requestHeaderModifier: ${modifier}
---
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata: { name: r, annotations: { rollouts.kruise.io/trafficrouting: tr } }
spec:
  workloadRef: { kind: Deployment, name: web }
  strategy: { canary: { steps: [{ traffic: "10%" }] } }
`;
  const cases: [string, string, [number, string], RegExp][] = [
    ['host with a port', main.replace('host: web.example.com', 'host: web.example.com:8080'), [1, 'spec.rules[0].host'], /host name without port.*"web\.example\.com:8080"/],
    ['path without /', main.replace('path: /,', 'path: api,'), [1, 'spec.rules[0].http.paths[0].path'], /starting with '\/'.*"api"/],
    ['Service name with a slash', main.replace('name: web, port', 'name: a/b, port'), [1, 'spec.rules[0].http.paths[0].backend'], /Service name "a\/b" is not a Kubernetes Service name/],
    ['Service port out of range', main.replace('number: 80', 'number: 99999'), [1, 'spec.rules[0].http.paths[0].backend'], /port 99999 is not a port number/],
    ['canary-by-header with a space', `${main}---\n${canary('    nginx.ingress.kubernetes.io/canary-by-header: "X Canary"')}`, [2, 'metadata.annotations["nginx.ingress.kubernetes.io/canary-by-header"]'], /HTTP header name.*"X Canary"/],
    ['canary-by-cookie with =', `${main}---\n${canary('    nginx.ingress.kubernetes.io/canary-by-cookie: "a=b"')}`, [2, 'metadata.annotations["nginx.ingress.kubernetes.io/canary-by-cookie"]'], /cookie name.*"a=b"/],
    ['Traefik header name with a space', traefik('Host(`a.com`) && Header(`X Bad`, `1`)'), [1, 'http.routers.r.rule'], /router r: must be an HTTP header name.*"x bad"/i],
    ['Traefik empty Host', traefik('Host(``)'), [1, 'http.routers.r.rule'], /router r: must be a host name/],
    ['Traefik server URL with a query', traefik('Host(`b.com`)', 'http://10.0.0.1/x?y=1'), [1, 'http.services.s.loadBalancer.servers[0].url'], /no query/],
    ['Kruise header value with a line break', kruise('{ set: [{ name: x-tag, value: "a\\nb" }] }'), [2, 'spec.strategy.requestHeaderModifier.set[0].value'], /without line breaks/],
    ['Kruise header name to remove with a space', kruise('{ remove: ["x tag"] }'), [2, 'spec.strategy.requestHeaderModifier.remove[0]'], /HTTP header name/],
  ];
  for (const [what, text, [document, path], message] of cases) {
    const issues = issuesOf([{ file: 'v.yaml', text }]);
    assert.deepEqual(issues.map((i) => [i.document, i.path]), [[document, path]], what);
    assert.match(issues[0]!.message, message, what);
  }
});
