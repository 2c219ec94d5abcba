/**
 * What every safesift pod built in code shares with the ones in k8s/base (the tests check that the
 * two agree): labels, the restricted security context, and where configuration comes from.
 */
import type { V1EnvFromSource, V1PodSecurityContext, V1SecurityContext } from '@kubernetes/client-node';

/** The non-root user of the images (docker/Dockerfile.*). */
export const SAFESIFT_UID = 10001;

/** Labels NetworkPolicies select on: `name: safesift` pods may reach NATS and S3. */
export function safesiftLabels(component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'safesift',
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'safesift',
  };
}

export function podSecurityContext(): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: SAFESIFT_UID,
    runAsGroup: SAFESIFT_UID,
    fsGroup: SAFESIFT_UID,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function containerSecurityContext(): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: SAFESIFT_UID,
    runAsGroup: SAFESIFT_UID,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Cluster settings (ConfigMap), S3 credentials and NATS secrets (both optional Secrets). */
export function safesiftEnvFrom(): V1EnvFromSource[] {
  return [
    { configMapRef: { name: 'safesift-config' } },
    { secretRef: { name: 'safesift-s3', optional: true } },
    // Required: the cluster's NATS takes no client without its token.
    { secretRef: { name: 'safesift-nats' } },
  ];
}
