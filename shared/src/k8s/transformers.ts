/**
 * kustomize's built-in transformers, as far as safesift's kustomizations use them: `images`,
 * `namespace`, `commonLabels` and `labels`. Each returns new objects.
 */
import { containersOf, isNamespaced, mapAt, podTemplatesOf, type K8sObject } from './k8s-object.ts';
import { overrideImage, type ImageOverride } from './image-ref.ts';
import { isMap, type Json } from './strategic-merge.ts';

type JsonMap = { [key: string]: Json };

export function applyImages(objects: K8sObject[], overrides: ImageOverride[]): K8sObject[] {
  return objects.map((original) => {
    const o = structuredClone(original);
    for (const container of containersOf(o)) {
      if (typeof container.image !== 'string') continue;
      for (const override of overrides) container.image = overrideImage(container.image, override);
    }
    return o;
  });
}

/** Sets the namespace of namespaced objects and of ServiceAccount subjects bound in 'default' or nowhere. */
export function applyNamespace(objects: K8sObject[], namespace: string): K8sObject[] {
  return objects.map((original) => {
    const o = structuredClone(original);
    // name, then namespace, as people write them
    if (isNamespaced(o.kind)) {
      const { name, namespace: _previous, ...rest } = o.metadata;
      o.metadata = { name, namespace, ...rest };
    }
    if ((o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') && Array.isArray(o.subjects)) {
      for (const subject of o.subjects) {
        if (isMap(subject) && subject.kind === 'ServiceAccount' && (subject.namespace === undefined || subject.namespace === 'default')) {
          subject.namespace = namespace;
        }
      }
    }
    return o;
  });
}

export interface LabelOptions {
  /** Also pod templates (kustomize `labels[].includeTemplates`; implied by selectors). */
  templates: boolean;
  /** Also selectors (`commonLabels`, `labels[].includeSelectors`). */
  selectors: boolean;
}

/** Where selectors live; `create` adds the field when missing (else only existing selectors change). */
const SELECTOR_FIELDS: { kinds: string[]; path: string[]; create: boolean }[] = [
  { kinds: ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'], path: ['spec', 'selector', 'matchLabels'], create: true },
  { kinds: ['Service', 'ReplicationController'], path: ['spec', 'selector'], create: true },
  { kinds: ['Job', 'PodDisruptionBudget'], path: ['spec', 'selector', 'matchLabels'], create: false },
  { kinds: ['CronJob'], path: ['spec', 'jobTemplate', 'spec', 'selector', 'matchLabels'], create: false },
  { kinds: ['NetworkPolicy'], path: ['spec', 'podSelector', 'matchLabels'], create: false },
];

export function applyLabels(objects: K8sObject[], pairs: Record<string, string>, options: LabelOptions): K8sObject[] {
  const add = (target: JsonMap) => Object.assign(target, pairs);
  return objects.map((original) => {
    const o = structuredClone(original);
    const root = o as unknown as JsonMap;
    add(mapAt(root, ['metadata', 'labels']));
    if (options.templates || options.selectors) {
      for (const template of podTemplatesOf(o)) add(mapAt(template, ['metadata', 'labels']));
      if (o.kind === 'CronJob') add(mapAt(root, ['spec', 'jobTemplate', 'metadata', 'labels']));
    }
    if (options.selectors) {
      for (const field of SELECTOR_FIELDS) {
        if (!field.kinds.includes(o.kind)) continue;
        if (field.create || existsAt(root, field.path)) add(mapAt(root, field.path));
      }
      if (o.kind === 'NetworkPolicy') for (const peer of networkPolicyPeers(root)) if (isMap(peer.podSelector) && isMap(peer.podSelector.matchLabels)) add(peer.podSelector.matchLabels);
    }
    return o;
  });
}

function existsAt(root: JsonMap, path: string[]): boolean {
  let node: Json | undefined = root;
  for (const key of path) {
    if (!isMap(node)) return false;
    node = node[key];
  }
  return isMap(node);
}

function networkPolicyPeers(root: JsonMap): JsonMap[] {
  const spec = root.spec;
  if (!isMap(spec)) return [];
  const rules = [spec.ingress, spec.egress].flatMap((list) => (Array.isArray(list) ? list.filter(isMap) : []));
  return rules.flatMap((rule) => [rule.from, rule.to].flatMap((peers) => (Array.isArray(peers) ? peers.filter(isMap) : [])));
}
