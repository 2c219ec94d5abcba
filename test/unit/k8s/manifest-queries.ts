/** Small lookups over rendered objects for the k8s tests (deliberately loose types: tests poke at fields). */
import assert from 'node:assert/strict';
import type { K8sObject } from '../../../shared/src/k8s/k8s-object.ts';

export const GPU = 'nvidia.com/gpu';
export const SERVICES = ['coordinator', 'worker', 'reducer'] as const;

export function find(objects: K8sObject[], kind: string, name: string): any {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} is rendered`);
  return o;
}

/** The pod spec of a workload (CronJobs through their job template). */
export function podSpec(o: K8sObject): any {
  const spec = o.spec as any;
  if (o.kind === 'CronJob') return spec?.jobTemplate?.spec?.template?.spec;
  return ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind) ? spec?.template?.spec : undefined;
}

export function containers(o: K8sObject): any[] {
  const pod = podSpec(o);
  return pod === undefined ? [] : [...(pod.initContainers ?? []), ...pod.containers];
}

/** Whether a matchLabels-style selector selects these labels (an empty selector selects all). */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
