import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../shared/src/errors.ts';
import { strategicMerge, type Json } from '../../../shared/src/k8s/strategic-merge.ts';

const container = (name: string, extra: Record<string, Json> = {}) => ({ name, image: `${name}:1`, ...extra });

test('maps merge recursively; scalars and new keys come from the patch; null deletes', () => {
  const base = { a: 1, b: { c: 2, d: 3 }, e: 'x' };
  const merged = strategicMerge(base, { b: { d: 4, f: 5 }, e: null, g: true });
  assert.deepEqual(merged, { a: 1, b: { c: 2, d: 4, f: 5 }, g: true });
  assert.deepEqual(base, { a: 1, b: { c: 2, d: 3 }, e: 'x' }, 'the base is not modified');
});

test('lists of named items merge by name: matched items merge, new ones are appended, order kept', () => {
  const base = { containers: [container('a', { env: [{ name: 'X', value: '1' }, { name: 'Y', value: '2' }] }), container('b')] };
  const merged = strategicMerge(base, {
    containers: [container('c'), { name: 'a', env: [{ name: 'Y', value: '3' }, { name: 'Z', value: '4' }] }],
  }) as { containers: { name: string; image: string; env?: { name: string; value: string }[] }[] };
  assert.deepEqual(merged.containers.map((c) => c.name), ['a', 'b', 'c']);
  assert.equal(merged.containers[0]!.image, 'a:1', 'fields the patch does not name are kept');
  assert.deepEqual(merged.containers[0]!.env, [{ name: 'X', value: '1' }, { name: 'Y', value: '3' }, { name: 'Z', value: '4' }]);
});

test('volumes and ports merge by name; volumeMounts by mountPath', () => {
  const base: Record<string, Json> = {
    volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '1Gi' } }, { name: 'cache', emptyDir: { sizeLimit: '20Gi' } }],
    ports: [{ name: 'metrics', containerPort: 9464 }],
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, { name: 'tmp', mountPath: '/scratch', subPath: 's' }],
  };
  const merged = strategicMerge(base, {
    volumes: [{ name: 'cache', emptyDir: { sizeLimit: '200Gi' } }],
    ports: [{ name: 'metrics', containerPort: 9465 }],
    volumeMounts: [{ name: 'tmp', mountPath: '/scratch', readOnly: true }],
  }) as Record<string, Json[]>;
  assert.deepEqual(merged.volumes, [{ name: 'tmp', emptyDir: { sizeLimit: '1Gi' } }, { name: 'cache', emptyDir: { sizeLimit: '200Gi' } }]);
  assert.deepEqual(merged.ports, [{ name: 'metrics', containerPort: 9465 }]);
  assert.deepEqual(merged.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }, { name: 'tmp', mountPath: '/scratch', subPath: 's', readOnly: true }]);
});

test('lists of unnamed items are replaced', () => {
  const base = { tolerations: [{ key: 'a', operator: 'Exists' }], args: ['worker', '--threads', '2'], egress: [{ ports: [{ port: 443 }] }] };
  const merged = strategicMerge(base, { tolerations: [{ key: 'b', operator: 'Exists' }], args: ['reducer'], egress: [{ ports: [{ port: 9000 }] }] });
  assert.deepEqual(merged, { tolerations: [{ key: 'b', operator: 'Exists' }], args: ['reducer'], egress: [{ ports: [{ port: 9000 }] }] });
});

test('$patch: delete removes a named item; $patch: replace replaces a map', () => {
  const base = { containers: [container('a'), container('b')], resources: { limits: { cpu: '1', memory: '1Gi' } } };
  const merged = strategicMerge(base, {
    containers: [{ name: 'a', $patch: 'delete' }],
    resources: { limits: { $patch: 'replace', cpu: '2' } },
  });
  assert.deepEqual(merged, { containers: [container('b')], resources: { limits: { cpu: '2' } } });
});

test('an unsupported directive is an error naming where it is', () => {
  assert.throws(() => strategicMerge({ a: { b: 1 } }, { a: { $patch: 'merge' } }), (e: unknown) => e instanceof ConfigError && /\.a: unsupported \$patch/.test(e.message));
});
