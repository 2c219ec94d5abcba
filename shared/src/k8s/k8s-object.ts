import { ConfigError } from '../errors.ts';
import { isMap, type Json } from './strategic-merge.ts';

/** A Kubernetes object as plain JSON. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

type JsonMap = { [key: string]: Json };

/** Kinds that live outside namespaces (the ones a safesift overlay could plausibly hold). */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass',
  'PriorityClass', 'RuntimeClass', 'IngressClass', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration',
]);

const WORKLOADS_WITH_TEMPLATE = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

export function isNamespaced(kind: string): boolean {
  return !CLUSTER_SCOPED.has(kind);
}

/** `Kind/name` for messages and identity. */
export function objectId(o: { kind: string; metadata: { name: string } }): string {
  return `${o.kind}/${o.metadata.name}`;
}

/** Checks a parsed YAML document is an object Kubernetes could take. */
export function asK8sObject(value: unknown, where: string): K8sObject {
  if (!isMap(value)) throw new ConfigError(`${where}: expected a Kubernetes object (a mapping)`);
  const { apiVersion, kind, metadata } = value;
  if (typeof apiVersion !== 'string' || apiVersion === '') throw new ConfigError(`${where}: apiVersion: required`);
  if (typeof kind !== 'string' || kind === '') throw new ConfigError(`${where}: kind: required`);
  if (!isMap(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    throw new ConfigError(`${where}: ${kind}: metadata.name: required`);
  }
  return value as unknown as K8sObject;
}

/** The pod templates' metadata holders of a workload (`spec.template`, or a CronJob's job template's). */
export function podTemplatesOf(o: K8sObject): JsonMap[] {
  const spec = o.spec;
  if (!isMap(spec)) return [];
  if (WORKLOADS_WITH_TEMPLATE.has(o.kind) && isMap(spec.template)) return [spec.template];
  if (o.kind === 'CronJob' && isMap(spec.jobTemplate) && isMap(spec.jobTemplate.spec) && isMap(spec.jobTemplate.spec.template)) {
    return [spec.jobTemplate.spec.template];
  }
  return [];
}

/** Pod specs of a workload or Pod. */
export function podSpecsOf(o: K8sObject): JsonMap[] {
  if (o.kind === 'Pod') return isMap(o.spec) ? [o.spec] : [];
  return podTemplatesOf(o).flatMap((template) => (isMap(template.spec) ? [template.spec] : []));
}

/** Containers and init containers of every pod spec of the object. */
export function containersOf(o: K8sObject): JsonMap[] {
  return podSpecsOf(o).flatMap((pod) => [pod.initContainers, pod.containers].flatMap((list) => (Array.isArray(list) ? list.filter(isMap) : [])));
}

/** A nested map, created along the path when missing. */
export function mapAt(root: JsonMap, path: string[]): JsonMap {
  let node = root;
  for (const key of path) {
    const next = node[key];
    if (!isMap(next)) node[key] = {};
    node = node[key] as JsonMap;
  }
  return node;
}
