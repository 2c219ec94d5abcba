/**
 * Validation of rendered objects, independent of the renderer: kubernetes-models' JSON schemas
 * (types, required fields, enums), an unknown-field check against @kubernetes/client-node's
 * models (kubectl rejects unknown fields), and a zod schema for KEDA's ScaledObject.
 */
import * as k8s from '@kubernetes/client-node';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { HorizontalPodAutoscalerBehavior } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { z } from 'zod';

type Validatable = { validate(): void };
const MODELS: Record<string, new (data: never) => Validatable> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/CronJob': CronJob,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).max(63);
const quantityText = z.string().regex(/^\d+$/, { error: 'expected a whole number as a string' });
const scaledObjectSchema = z.strictObject({
  apiVersion: z.literal('keda.sh/v1alpha1'),
  kind: z.literal('ScaledObject'),
  metadata: z.strictObject({ name: dnsLabel, namespace: dnsLabel.optional(), labels: z.record(z.string(), z.string()).optional(), annotations: z.record(z.string(), z.string()).optional() }),
  spec: z.strictObject({
    scaleTargetRef: z.strictObject({ name: dnsLabel, kind: z.string().optional(), apiVersion: z.string().optional(), envSourceContainerName: z.string().optional() }),
    pollingInterval: z.int().positive().optional(),
    cooldownPeriod: z.int().nonnegative().optional(),
    initialCooldownPeriod: z.int().nonnegative().optional(),
    idleReplicaCount: z.int().nonnegative().optional(),
    minReplicaCount: z.int().nonnegative().optional(),
    maxReplicaCount: z.int().positive().optional(),
    fallback: z.strictObject({ failureThreshold: z.int().positive(), replicas: z.int().nonnegative() }).optional(),
    advanced: z.strictObject({
      restoreToOriginalReplicaCount: z.boolean().optional(),
      horizontalPodAutoscalerConfig: z.strictObject({ name: z.string().optional(), behavior: z.unknown().optional() }).optional(),
    }).optional(),
    triggers: z.array(z.strictObject({
      type: z.string().min(1),
      name: z.string().optional(),
      metadata: z.record(z.string(), z.string()),
      authenticationRef: z.strictObject({ name: z.string(), kind: z.string().optional() }).optional(),
      metricType: z.enum(['AverageValue', 'Value', 'Utilization']).optional(),
      useCachedMetrics: z.boolean().optional(),
    })).min(1),
  }).refine((s) => (s.minReplicaCount ?? 0) <= (s.maxReplicaCount ?? 100), { error: 'minReplicaCount > maxReplicaCount' }),
});
/** The nats-jetstream scaler's metadata (https://keda.sh/docs/latest/scalers/nats-jetstream/). */
const natsJetStreamMetadata = z.strictObject({
  natsServerMonitoringEndpoint: z.string().regex(/^[a-z0-9.-]+:\d+$/, { error: 'expected host:port' }),
  account: z.string().min(1),
  stream: z.string().min(1),
  consumer: z.string().min(1),
  lagThreshold: quantityText,
  activationLagThreshold: quantityText.optional(),
  useHttps: z.enum(['true', 'false']).optional(),
});

/** Throws with every problem of an object. */
export function validateK8sObject(o: Record<string, unknown>): void {
  const id = `${String(o.kind)}/${String((o.metadata as { name?: unknown } | undefined)?.name)}`;
  if (o.apiVersion === 'keda.sh/v1alpha1' && o.kind === 'ScaledObject') {
    const parsed = scaledObjectSchema.parse(o);
    for (const trigger of parsed.spec.triggers) if (trigger.type === 'nats-jetstream') natsJetStreamMetadata.parse(trigger.metadata);
    const behavior = parsed.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
    if (behavior !== undefined) new HorizontalPodAutoscalerBehavior(behavior as never).validate();
    return;
  }
  const Model = MODELS[`${String(o.apiVersion)}/${String(o.kind)}`];
  if (Model === undefined) throw new Error(`${id}: no schema for ${String(o.apiVersion)} ${String(o.kind)}`);
  try {
    new Model(structuredClone(o) as never).validate();
  } catch (error) {
    throw new Error(`${id}: ${(error as Error).message}`);
  }
  const unknown = unknownFields(o, `V1${String(o.kind)}`, '');
  if (unknown.length > 0) throw new Error(`${id}: unknown fields ${unknown.join(', ')}`);
}

type AttributeMap = { baseName: string; type: string }[];
const models = k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap } | undefined>;

/** Paths of fields the Kubernetes API does not define (what `kubectl apply --validate=strict` rejects). */
export function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((item, i) => unknownFields(item, array[1]!, `${path}[${i}]`)) : [`${path} (not a list)`];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return Object.entries(value as object).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`));
  const attributes = models[type]?.getAttributeTypeMap?.();
  if (attributes === undefined) return [];
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path} (not an object)`];
  return Object.entries(value).flatMap(([key, v]) => {
    const attribute = attributes.find((a) => a.baseName === key);
    return attribute === undefined ? [`${path}.${key}`] : unknownFields(v, attribute.type, `${path}.${key}`);
  });
}
