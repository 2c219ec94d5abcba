/** `safesift k8s render`, run as the real command: what it prints is valid and means what the flags say. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseJobSpec } from '../../../shared/src/distributed/job-spec.ts';
import type { K8sObject } from '../../../shared/src/k8s/k8s-object.ts';
import { runCli } from '../../helpers/run-cli.ts';
import { validateK8sObject } from './k8s-schemas.ts';
import { containers, find, podSpec } from './manifest-queries.ts';

const scratch = await mkdtemp(join(tmpdir(), 'safesift-k8s-cli-'));
after(() => rm(scratch, { recursive: true, force: true }));

async function render(args: string[]): Promise<K8sObject[]> {
  const { code, stdout, stderr } = await runCli(['k8s', 'render', ...args]);
  assert.equal(code, 0, stderr);
  if (args.includes('--json')) {
    const list = JSON.parse(stdout) as { apiVersion: string; kind: string; items: K8sObject[] };
    assert.equal(list.kind, 'List');
    return list.items;
  }
  return parseAllDocuments(stdout).map((doc) => {
    assert.deepEqual(doc.errors, []);
    return doc.toJS() as K8sObject;
  });
}

/** The audit's spec as the Job's pod will read it: the file the Job's command names, from the mounted ConfigMap. */
function mountedSpec(objects: K8sObject[], jobName: string): { file: string; text: string } {
  const job = find(objects, 'Job', jobName);
  const [c] = containers(job);
  assert.deepEqual([...c.command, ...c.args].slice(0, 2), ['safesift', 'submit']);
  assert.deepEqual(c.args.slice(-2), ['--wait', '--json']);
  const file: string = c.args[1];
  const mount = c.volumeMounts.find((m: { mountPath: string }) => file.startsWith(`${m.mountPath}/`));
  const volume = podSpec(job).volumes.find((v: { name: string }) => v.name === mount.name);
  const item = volume.configMap.items.find((i: { path: string }) => `${mount.mountPath}/${i.path}` === file);
  const configMap = find(objects, 'ConfigMap', volume.configMap.name);
  return { file, text: configMap.data[item.key] };
}

test('k8s render --overlay prod prints valid YAML documents for kubectl, with the namespace and images asked for', async () => {
  const objects = await render(['--overlay', 'prod', '--namespace', 'audits', '--image', 'ghcr.io/acme/safesift:1.2.3', '--gpu-image', 'ghcr.io/acme/safesift-cuda:1.2.3']);
  for (const o of objects) {
    validateK8sObject(o);
    assert.equal(o.metadata.namespace, 'audits');
  }
  const kinds = new Set(objects.map((o) => o.kind));
  for (const kind of ['StatefulSet', 'Deployment', 'CronJob', 'ScaledObject', 'NetworkPolicy', 'PodDisruptionBudget', 'Role']) assert.ok(kinds.has(kind), kind);
  assert.equal(containers(find(objects, 'Deployment', 'safesift-worker'))[0].image, 'ghcr.io/acme/safesift-cuda:1.2.3');
  assert.equal(containers(find(objects, 'Deployment', 'safesift-reducer'))[0].image, 'ghcr.io/acme/safesift:1.2.3');
  const index = (kind: string) => objects.findIndex((o) => o.kind === kind);
  assert.ok(index('ServiceAccount') < index('Deployment') && index('ConfigMap') < index('StatefulSet'), 'referenced objects first');
});

test('k8s render with job flags adds a spec ConfigMap and a Job whose mounted spec parses to those flags', async () => {
  const objects = await render([
    '--overlay', 'dev', '--json',
    '--data', 's3://corpora/mix/', '--data', 's3://corpora/extra/*.jsonl', '--model', 's3://models/llama-2-7b-chat/',
    '--harmful', 's3://anchors/harmful.jsonl', '--safe', 's3://anchors/safe.jsonl',
    '--k', '7', '--max-tokens', '256', '--batch-examples', '32', '--out', 's3://runs/january-audit',
  ]);
  for (const o of objects) validateK8sObject(o);
  assert.ok(objects.some((o) => o.kind === 'StatefulSet'), 'the cluster is rendered too');
  const job = find(objects, 'Job', 'audit-january-audit');
  assert.equal(job.spec.backoffLimit, 0, 'a retry would submit the audit twice');
  assert.equal(containers(job)[0].image, containers(find(objects, 'Deployment', 'safesift-coordinator'))[0].image);
  const { file, text } = mountedSpec(objects, 'audit-january-audit');
  assert.deepEqual({ ...parseJobSpec(text, file) }, {
    name: 'january-audit',
    data: ['s3://corpora/mix/', 's3://corpora/extra/*.jsonl'],
    model: 's3://models/llama-2-7b-chat/',
    harmful: ['s3://anchors/harmful.jsonl'],
    safe: ['s3://anchors/safe.jsonl'],
    k: 7,
    maxTokens: 256,
    batchExamples: 32,
    out: 's3://runs/january-audit',
  });
});

test('k8s render --spec FILE --job-only: only the ConfigMap and Job; flags override the file', async () => {
  const spec = join(scratch, 'weekly.yaml');
  await writeFile(spec, 'data: [s3://corpora/mix/]\nmodel: tiny\nk: 3\nmethod: rep\nout: s3://runs/weekly\n');
  const objects = await render(['--spec', spec, '--k', '9', '--job-only', '--namespace', 'audits']);
  assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}/${o.metadata.namespace}`), ['ConfigMap/audit-weekly-spec/audits', 'Job/audit-weekly/audits']);
  for (const o of objects) validateK8sObject(o);
  const { file, text } = mountedSpec(objects, 'audit-weekly');
  const parsed = parseJobSpec(text, file);
  assert.equal(parsed.name, 'weekly');
  assert.equal(parsed.k, 9);
  assert.equal(parsed.method, 'rep');
  assert.equal(parsed.model, 'tiny');
});

test('k8s render refuses local paths in a job (a pod cannot see them) with a usage error', async () => {
  const { code, stderr, stdout } = await runCli(['k8s', 'render', '--data', './corpus.jsonl', '--out', 's3://runs/x']);
  assert.equal(code, 2);
  assert.match(stderr, /data: '\.\/corpus\.jsonl' must be an s3:\/\/ URI/);
  assert.equal(stdout, '');
});
