/**
 * The manifests of a safesift cluster: an overlay of k8s/ composed by loadKustomization, then the
 * command line's namespace and images, and optionally a one-off audit (spec ConfigMap + Job).
 */
import { join } from 'node:path';
import { projectPath } from '../project-root.ts';
import { stringify } from 'yaml';
import { ConfigError } from '../errors.ts';
import { auditJobManifest, auditSpecConfigMap } from './audit-job.ts';
import { containersOf, type K8sObject } from './k8s-object.ts';
import { k8sJobSpec } from './k8s-job-spec.ts';
import { loadKustomization } from './kustomize.ts';
import { parseImageRef } from './image-ref.ts';
import { isMap } from './strategic-merge.ts';
import { applyNamespace } from './transformers.ts';

export const OVERLAYS = ['base', 'dev', 'prod'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** The repository's k8s/ folder (also copied into the images). */
export const K8S_DIR = projectPath('k8s');

export interface RenderOptions {
  overlay: Overlay;
  /** Default: the overlay's own (safesift). */
  namespace?: string;
  /** Image of every safesift container that does not request a GPU. */
  image?: string;
  /** Image of the containers that request nvidia.com/gpu (the prod workers). */
  gpuImage?: string;
  /** A one-off audit: job spec fields (camelCase or kebab-case, as in a spec file). */
  job?: { spec: Record<string, unknown> };
  /** Only the audit's ConfigMap and Job, for a cluster already deployed. */
  jobOnly?: boolean;
  /** Default K8S_DIR. */
  k8sDir?: string;
}

const GPU = 'nvidia.com/gpu';

export async function renderManifests(o: RenderOptions): Promise<K8sObject[]> {
  if (!OVERLAYS.includes(o.overlay)) throw new ConfigError(`overlay '${String(o.overlay)}': expected one of ${OVERLAYS.join(', ')}`);
  if (o.jobOnly && o.job === undefined) throw new ConfigError('--job-only needs a job (job spec flags or --spec)');
  const dir = join(o.k8sDir ?? K8S_DIR, o.overlay === 'base' ? 'base' : join('overlays', o.overlay));
  let objects = await loadKustomization(dir);
  if (o.namespace !== undefined) objects = retargetNamespace(objects, o.namespace);
  if (o.image !== undefined) objects = setImages(objects, o.image, false);
  if (o.gpuImage !== undefined) objects = setImages(objects, o.gpuImage, true);
  if (o.job === undefined) return sortForApply(objects);

  const spec = k8sJobSpec(o.job.spec, 'job');
  const coordinator = objects.find((x) => x.kind === 'Deployment' && x.metadata.name === 'safesift-coordinator');
  const image = o.image ?? (coordinator ? containersOf(coordinator)[0]?.image : undefined);
  if (typeof image !== 'string') throw new ConfigError(`${dir}: no safesift-coordinator Deployment to take the image from; pass --image`);
  const namespace = o.namespace ?? coordinator?.metadata.namespace ?? 'default';
  const jobName = `audit-${spec.name}`;
  const audit = [
    auditSpecConfigMap(`${jobName}-spec`, namespace, spec.yaml),
    auditJobManifest({ jobName, namespace, image, specConfigMap: `${jobName}-spec` }),
  ] as unknown as K8sObject[];
  return o.jobOnly ? audit : [...sortForApply(objects), ...audit];
}

/** Multi-document YAML, as `kubectl apply -f -` takes it. */
export function manifestsToYaml(objects: K8sObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}

/** The namespace of every object, and the KEDA trigger's monitoring endpoint (KEDA runs elsewhere, so it is a FQDN). */
function retargetNamespace(objects: K8sObject[], namespace: string): K8sObject[] {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) {
    throw new ConfigError(`--namespace '${namespace}': expected a DNS label (lower-case letters, digits, inner dashes)`);
  }
  return applyNamespace(objects, namespace).map((o) => {
    if (o.kind !== 'ScaledObject' || !isMap(o.spec) || !Array.isArray(o.spec.triggers)) return o;
    for (const trigger of o.spec.triggers) {
      if (!isMap(trigger) || !isMap(trigger.metadata)) continue;
      const endpoint = trigger.metadata.natsServerMonitoringEndpoint;
      if (typeof endpoint === 'string') trigger.metadata.natsServerMonitoringEndpoint = endpoint.replace(/^([^.:]+)\.[^.:]+\.svc\b/, `$1.${namespace}.svc`);
    }
    return o;
  });
}

function setImages(objects: K8sObject[], image: string, gpu: boolean): K8sObject[] {
  parseImageRef(image);
  return objects.map((original) => {
    if (original.metadata.labels?.['app.kubernetes.io/name'] !== 'safesift') return original;
    const o = structuredClone(original);
    for (const container of containersOf(o)) {
      const resources = isMap(container.resources) ? container.resources : {};
      const wantsGpu = [resources.limits, resources.requests].some((r) => isMap(r) && r[GPU] !== undefined);
      if (wantsGpu === gpu) container.image = image;
    }
    return o;
  });
}

/** kustomize's order: what others refer to (accounts, config, services) before workloads; unknown kinds last. */
const APPLY_ORDER = [
  'Namespace', 'ResourceQuota', 'LimitRange', 'ServiceAccount', 'Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding',
  'ConfigMap', 'Secret', 'Service', 'PersistentVolumeClaim', 'StatefulSet', 'Deployment', 'Job', 'CronJob',
  'PodDisruptionBudget', 'NetworkPolicy',
];

export function sortForApply(objects: K8sObject[]): K8sObject[] {
  const rank = (o: K8sObject) => {
    const at = APPLY_ORDER.indexOf(o.kind);
    return at === -1 ? APPLY_ORDER.length : at;
  };
  return objects.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i).map(({ o }) => o);
}
