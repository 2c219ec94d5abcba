import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../../shared/src/errors.ts';
import type { K8sObject } from '../../../shared/src/k8s/k8s-object.ts';
import { loadKustomization } from '../../../shared/src/k8s/kustomize.ts';

const root = await mkdtemp(join(tmpdir(), 'safesift-kustomize-'));
after(() => rm(root, { recursive: true, force: true }));

let fixtures = 0;
/** A fresh folder tree from { 'relative/path': text }. */
async function tree(files: Record<string, string>): Promise<string> {
  const dir = join(root, `t${fixtures++}`);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: { app: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: registry.local:5000/team/web:1.0
          env: [{ name: A, value: "1" }]
        - name: sidecar
          image: busybox:1.36
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80 }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings }
data: { LEVEL: info }
`;
const BASE = {
  'base/kustomization.yaml': 'resources: [deployment.yaml, service.yaml]\nnamespace: shop\n',
  'base/deployment.yaml': DEPLOYMENT,
  'base/service.yaml': SERVICE,
};

const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} rendered`);
  return o as K8sObject & { spec: Record<string, any>; data?: Record<string, string> };
};
const isConfigError = (pattern: RegExp) => (e: unknown) => e instanceof ConfigError && pattern.test(e.message);

test('resources from files (several documents each) and folders, in order, with the namespace set', async () => {
  const dir = await tree({ ...BASE, 'overlay/kustomization.yaml': 'resources: [../base, extra.yaml]\n', 'overlay/extra.yaml': 'apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: bot }\n' });
  const objects = await loadKustomization(join(dir, 'overlay'));
  assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}/${o.metadata.namespace ?? '-'}`), [
    'Deployment/web/shop', 'Service/web/shop', 'ConfigMap/settings/shop', 'ServiceAccount/bot/-',
  ]);
});

test('strategic-merge patches from files and inline, matched by kind and name or by target', async () => {
  const dir = await tree({
    ...BASE,
    'overlay/kustomization.yaml': `resources: [../base]
patches:
  - path: web.yaml
  - patch: |
      apiVersion: v1
      kind: ConfigMap
      metadata: { name: settings }
      data: { LEVEL: debug, EXTRA: "yes" }
  - target: { kind: Service, name: web }
    patch: |
      spec: { type: NodePort }
`,
    'overlay/web.yaml': `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          env: [{ name: B, value: "2" }]
          resources: { limits: { nvidia.com/gpu: "1" } }
`,
  });
  const objects = await loadKustomization(join(dir, 'overlay'));
  const web = find(objects, 'Deployment', 'web');
  assert.equal(web.spec.replicas, 3);
  const [main, sidecar] = web.spec.template.spec.containers;
  assert.equal(main.image, 'registry.local:5000/team/web:1.0');
  assert.deepEqual(main.env, [{ name: 'A', value: '1' }, { name: 'B', value: '2' }]);
  assert.deepEqual(main.resources, { limits: { 'nvidia.com/gpu': '1' } });
  assert.equal(sidecar.name, 'sidecar', 'the container the patch does not name stays');
  assert.deepEqual(find(objects, 'ConfigMap', 'settings').data, { LEVEL: 'debug', EXTRA: 'yes' });
  assert.equal(find(objects, 'Service', 'web').spec.type, 'NodePort');
  assert.equal(web.metadata.namespace, 'shop', 'the base namespace survives the overlay');
});

test('a patch with $patch: delete removes the object', async () => {
  const dir = await tree({ ...BASE, 'o/kustomization.yaml': 'resources: [../base]\npatches: [{ path: drop.yaml }]\n', 'o/drop.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\n$patch: delete\n' });
  const kinds = (await loadKustomization(join(dir, 'o'))).map((o) => o.kind);
  assert.deepEqual(kinds, ['Deployment', 'ConfigMap']);
});

test('images: new name, new tag or digest, matched on the name without tag (registry ports kept apart)', async () => {
  const dir = await tree({
    ...BASE,
    'o/kustomization.yaml': `resources: [../base]
images:
  - name: registry.local:5000/team/web
    newName: ghcr.io/acme/web
    newTag: "2.1"
  - name: busybox
    digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  - name: registry.local
    newTag: wrong
`,
  });
  const [main, sidecar] = find(await loadKustomization(join(dir, 'o')), 'Deployment', 'web').spec.template.spec.containers;
  assert.equal(main.image, 'ghcr.io/acme/web:2.1');
  assert.equal(sidecar.image, 'busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
});

test('labels: metadata only by default, templates and selectors when asked; commonLabels does all three', async () => {
  const dir = await tree({
    ...BASE,
    'plain/kustomization.yaml': 'resources: [../base]\nlabels: [{ pairs: { team: a } }]\n',
    'templates/kustomization.yaml': 'resources: [../base]\nlabels: [{ pairs: { team: a }, includeTemplates: true }]\n',
    'common/kustomization.yaml': 'resources: [../base]\ncommonLabels: { team: a }\n',
  });
  const web = async (overlay: string) => {
    const objects = await loadKustomization(join(dir, overlay));
    return { d: find(objects, 'Deployment', 'web'), s: find(objects, 'Service', 'web') };
  };
  const plain = await web('plain');
  assert.equal(plain.d.metadata.labels?.team, 'a');
  assert.equal(plain.d.spec.template.metadata.labels.team, undefined);
  assert.equal(plain.d.spec.selector.matchLabels.team, undefined);
  const templates = await web('templates');
  assert.equal(templates.d.spec.template.metadata.labels.team, 'a');
  assert.equal(templates.d.spec.selector.matchLabels.team, undefined);
  assert.equal(templates.s.spec.selector.team, undefined);
  const common = await web('common');
  assert.equal(common.d.spec.template.metadata.labels.team, 'a');
  assert.equal(common.d.spec.selector.matchLabels.team, 'a');
  assert.equal(common.s.spec.selector.team, 'a');
});

test('errors: unknown keys, patches without a target, duplicates, cycles, missing files', async () => {
  const dir = await tree({
    ...BASE,
    'unknown/kustomization.yaml': 'resources: [../base]\nconfigMapGenerator: []\n',
    'nomatch/kustomization.yaml': 'resources: [../base]\npatches: [{ patch: "kind: Deployment\\nmetadata: { name: api }\\n" }]\n',
    'twice/kustomization.yaml': 'resources: [../base/service.yaml, ../base/service.yaml]\n',
    'a/kustomization.yaml': 'resources: [../b]\n',
    'b/kustomization.yaml': 'resources: [../a]\n',
    'missing/kustomization.yaml': 'resources: [nowhere.yaml]\n',
    'json6902/kustomization.yaml': 'resources: [../base]\npatches: [{ patch: "- op: replace\\n  path: /spec/replicas\\n  value: 2\\n", target: { kind: Deployment, name: web } }]\n',
  });
  await assert.rejects(loadKustomization(join(dir, 'unknown')), isConfigError(/configMapGenerator/));
  await assert.rejects(loadKustomization(join(dir, 'nomatch')), isConfigError(/no Deployment\/api to patch/));
  await assert.rejects(loadKustomization(join(dir, 'twice')), isConfigError(/Service\/web is defined twice/));
  await assert.rejects(loadKustomization(join(dir, 'a')), isConfigError(/cycle/));
  await assert.rejects(loadKustomization(join(dir, 'missing')), isConfigError(/nowhere\.yaml/));
  await assert.rejects(loadKustomization(join(dir, 'json6902')), isConfigError(/JSON 6902/));
  await assert.rejects(loadKustomization(join(dir, 'none')), isConfigError(/kustomization folder/));
});
