/**
 * deploy/: every overlay renders with `kubectl kustomize` (offline) and every object passes the
 * Kubernetes schemas, unknown fields included (test/deploy/manifests.ts); a typo planted in a copy
 * of the base fails the same checks. Then what the schemas cannot know: the probes hit the admin
 * health endpoints on the port graylane listens on, the security context matches the image, the
 * ConfigMap holds a config graylane accepts, and each overlay has the shape it promises.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSpec } from '../../src/spec/index.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { parseDockerfile, stages } from './dockerfile.js';
import { render, validateFields, validateRuntime, type K8sObject } from './manifests.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const OVERLAYS = readdirSync(join(REPO, 'deploy/overlays')).sort();

let tmp: TempDir;
const rendered = new Map<string, K8sObject[]>();
before(async () => {
  tmp = await tempDir();
  for (const o of OVERLAYS) rendered.set(o, render(join(REPO, 'deploy/overlays', o)));
});
after(() => tmp?.remove());

const find = (objects: K8sObject[], kind: string, name: string): K8sObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `no ${kind}/${name}`);
  return o;
};
type Any = any;

test('the overlays are single-process, clustered-etcd and clustered-external-etcd', () => {
  assert.deepEqual(OVERLAYS, ['clustered-etcd', 'clustered-external-etcd', 'single-process']);
});

test('every object of every overlay passes the Kubernetes schemas, unknown fields included', () => {
  const all = [...rendered.values()].flat();
  assert.ok(all.length >= 8 * 3, `${all.length} objects`);
  assert.deepEqual(validateRuntime(all, REPO), []);
  assert.deepEqual(validateFields(rendered, REPO, join(tmp.path, 'types')), []);
});

test('a typo fails: an unknown field, a wrong type, a bad enum value, a misspelled kind', () => {
  const original = readFileSync(join(REPO, 'deploy/base/deployment.yaml'), 'utf8');
  const mutations: [string, string, RegExp][] = [
    ['          image: graylane\n', '          image: graylane\n          imagePullPolcy: Always\n', /imagePullPolcy/],
    ['            periodSeconds: 5\n', '            periodSeconds: five\n', /periodSeconds/],
    ['        seccompProfile: { type: RuntimeDefault }', '        seccompProfile: { type: RuntimeDefualt }', /RuntimeDefualt/],
    ['kind: Deployment', 'kind: Deployement', /Deployement/],
  ];
  // One copy of deploy/ per typo, all type-checked in one tsc run.
  const variants = new Map<string, K8sObject[]>();
  mutations.forEach(([from, to], i) => {
    assert.ok(original.includes(from), from);
    const copy = join(tmp.path, `typo${i}`);
    cpSync(join(REPO, 'deploy'), copy, { recursive: true });
    writeFileSync(join(copy, 'base/deployment.yaml'), original.replace(from, to));
    variants.set(`typo${i}`, render(join(copy, 'overlays/single-process')));
  });
  const typed = validateFields(variants, REPO, join(tmp.path, 'typo-types'));
  mutations.forEach(([, to, expected], i) => {
    const problems = [...validateRuntime(variants.get(`typo${i}`)!, REPO), ...typed.filter((p) => p.startsWith(`typo${i}__`))];
    assert.ok(problems.some((p) => expected.test(p)), `${to.trim()} was not caught: ${problems.join('\n') || 'no problem found'}`);
  });
});

test('probes: liveness /healthz and readiness /readyz on the admin port graylane listens on; no subPath for the config', () => {
  for (const [overlay, objects] of rendered) {
    const d = find(objects, 'Deployment', 'graylane') as Any;
    const c = d.spec.template.spec.containers[0];
    const admin = c.ports.find((p: Any) => p.name === 'admin').containerPort;
    assert.ok(c.args.includes(`--admin-listen=0.0.0.0:${admin}`), `${overlay}: admin listens on ${admin}, not loopback`);
    assert.ok(c.args.includes(`--listen=0.0.0.0:${c.ports.find((p: Any) => p.name === 'http').containerPort}`), overlay);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' }, overlay);
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' }, overlay);
    const config = c.volumeMounts.find((m: Any) => m.name === 'config');
    assert.equal(config.mountPath, '/etc/graylane');
    assert.equal(config.subPath, undefined, 'a subPath mount never sees ConfigMap updates');
    const drain = /^drain: (\d+)s$/m.exec((find(objects, 'ConfigMap', 'graylane-config') as Any).data['graylane.yaml']);
    assert.ok(drain && d.spec.template.spec.terminationGracePeriodSeconds > Number(drain[1]) + c.lifecycle.preStop.sleep.seconds, `${overlay}: the grace period covers preStop + drain`);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory, overlay);
  }
});

test('the pod runs as the image runs: its non-root uid, read-only root, its volume path', () => {
  const runtime = stages(parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8')))[1]!;
  const uid = Number(runtime.instructions.filter((i) => i.op === 'USER').at(-1)!.args.split(':')[0]);
  const volume = (JSON.parse(runtime.instructions.find((i) => i.op === 'VOLUME')!.args) as string[])[0];
  for (const [overlay, objects] of rendered) {
    const pod = (find(objects, 'Deployment', 'graylane') as Any).spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, uid, overlay);
    const c = pod.containers[0];
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.volumeMounts.find((m: Any) => m.name === 'state').mountPath, volume, overlay);
  }
});

test('the ConfigMap holds a config graylane accepts', () => {
  for (const [overlay, objects] of rendered) {
    const text = (find(objects, 'ConfigMap', 'graylane-config') as Any).data['graylane.yaml'] as string;
    assert.doesNotThrow(() => parseSpec(text, `${overlay}/graylane.yaml`));
  }
});

test('Services, the ServiceMonitor, the PDB and the NetworkPolicy select the gateway pods and name ports they have', () => {
  for (const [overlay, objects] of rendered) {
    const d = find(objects, 'Deployment', 'graylane') as Any;
    const podLabels = d.spec.template.metadata.labels as Record<string, string>;
    const ports = new Set((d.spec.template.spec.containers[0].ports as Any[]).map((p) => p.name));
    const selects = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
    for (const name of ['graylane', 'graylane-admin']) {
      const s = find(objects, 'Service', name) as Any;
      assert.ok(selects(s.spec.selector), `${overlay}: Service ${name}`);
      for (const p of s.spec.ports) assert.ok(ports.has(p.targetPort), `${overlay}: ${name} -> ${p.targetPort}`);
    }
    const sm = find(objects, 'ServiceMonitor', 'graylane') as Any;
    const admin = find(objects, 'Service', 'graylane-admin') as Any;
    assert.ok(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => admin.metadata.labels[k] === v), `${overlay}: ServiceMonitor selects graylane-admin`);
    assert.ok(!Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => (find(objects, 'Service', 'graylane') as Any).metadata.labels?.[k] === v), 'and not the traffic Service');
    assert.equal(sm.spec.endpoints[0].path, '/metrics');
    assert.ok(admin.spec.ports.some((p: Any) => p.name === sm.spec.endpoints[0].port));
    assert.ok(selects((find(objects, 'PodDisruptionBudget', 'graylane') as Any).spec.selector.matchLabels), overlay);
    const np = find(objects, 'NetworkPolicy', 'graylane-admin') as Any;
    assert.ok(selects(np.spec.podSelector.matchLabels), overlay);
    const adminRule = np.spec.ingress.find((r: Any) => r.ports.some((p: Any) => p.port === 'admin'));
    assert.ok(adminRule.from.length > 0, `${overlay}: the admin port is not open to all`);
    for (const r of np.spec.ingress) for (const p of r.ports) assert.ok(ports.has(p.port), p.port);
  }
});

test('single-process: one replica, Recreate, the state on a PVC; clustered: three gateways on etcd, no file', () => {
  const single = rendered.get('single-process')!;
  const d = find(single, 'Deployment', 'graylane') as Any;
  assert.equal(d.spec.replicas, 1);
  assert.equal(d.spec.strategy.type, 'Recreate', 'never two processes on one state file');
  const state = d.spec.template.spec.volumes.find((v: Any) => v.name === 'state');
  assert.equal(state.persistentVolumeClaim.claimName, 'graylane-state');
  find(single, 'PersistentVolumeClaim', 'graylane-state');
  assert.ok(d.spec.template.spec.containers[0].args.includes('/etc/graylane/graylane.yaml'));

  for (const overlay of ['clustered-etcd', 'clustered-external-etcd']) {
    const objects = rendered.get(overlay)!;
    const g = find(objects, 'Deployment', 'graylane') as Any;
    assert.equal(g.spec.replicas, 3);
    const c = g.spec.template.spec.containers[0];
    assert.ok(!c.args.includes('-c'), `${overlay}: the spec comes from etcd`);
    assert.ok(c.args.includes('--name=$(POD_NAME)'));
    const store = c.env.find((e: Any) => e.name === 'GRAYLANE_STORE').valueFrom.configMapKeyRef;
    assert.match((find(objects, 'ConfigMap', store.name) as Any).data[store.key], /^etcd:\/\/[^,]+:2379(,[^,]+:2379)*$/);
    assert.ok(c.args.some((a: string) => a.startsWith('--cache-dir=/var/lib/graylane/')), 'the cache on the volume');
  }
  const etcd = rendered.get('clustered-etcd')!;
  const sts = find(etcd, 'StatefulSet', 'etcd') as Any;
  assert.equal(sts.spec.replicas, 3);
  const store = (find(etcd, 'ConfigMap', 'graylane-store') as Any).data.store as string;
  const members = [...store.matchAll(/(etcd-\d)\.etcd:2379/g)].map((m) => m[1]);
  assert.deepEqual(members, ['etcd-0', 'etcd-1', 'etcd-2'], 'the store URL names the StatefulSet members');
  assert.ok(sts.spec.template.spec.containers[0].args.includes('--initial-cluster=etcd-0=http://etcd-0.etcd:2380,etcd-1=http://etcd-1.etcd:2380,etcd-2=http://etcd-2.etcd:2380'));
  assert.equal((find(etcd, 'Service', 'etcd') as Any).spec.clusterIP, 'None');
});
