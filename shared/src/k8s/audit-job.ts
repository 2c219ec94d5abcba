/**
 * A one-off audit on Kubernetes: a ConfigMap holding the job spec and a batch/v1 Job that runs
 * `safesift submit /spec/job.yaml --wait --json` against the cluster's NATS and S3. The Job only
 * submits and waits (the cluster's workers do the scoring), so it is small, needs none of the
 * Kubernetes API, and is never retried: a retry would submit the audit a second time.
 */
import type { V1ConfigMap, V1Job } from '@kubernetes/client-node';
import { containerSecurityContext, podSecurityContext, safesiftEnvFrom, safesiftLabels } from './pod-defaults.ts';

export const SPEC_KEY = 'job.yaml';
export const SPEC_MOUNT = '/spec';
/** Where safesift pods find the CA of NATS's certificate ($SAFESIFT_NATS_TLS_CA in the prod overlay). */
export const NATS_TLS_MOUNT = '/etc/safesift/nats-tls';
/** Finished audit Jobs (and, through their owner, spec ConfigMaps) are kept this long for `logs`. */
export const AUDIT_JOB_TTL_S = 7 * 24 * 3600;

export interface AuditJobOptions {
  jobName: string;
  namespace: string;
  image: string;
  /** ConfigMap holding the spec under the key `job.yaml` (see auditSpecConfigMap). */
  specConfigMap: string;
  /** Default `safesift`, the account of the cluster's services (no Kubernetes API rights). */
  serviceAccount?: string;
}

export function auditJobManifest(o: AuditJobOptions): V1Job {
  const labels = { ...safesiftLabels('submit'), 'safesift.dev/audit': o.jobName };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: o.jobName, namespace: o.namespace, labels: { ...labels } },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: AUDIT_JOB_TTL_S,
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          serviceAccountName: o.serviceAccount ?? 'safesift',
          automountServiceAccountToken: false,
          restartPolicy: 'Never',
          securityContext: podSecurityContext(),
          containers: [{
            name: 'submit',
            image: o.image,
            imagePullPolicy: 'IfNotPresent',
            command: ['safesift'],
            args: ['submit', `${SPEC_MOUNT}/${SPEC_KEY}`, '--wait', '--json'],
            env: [{ name: 'HOME', value: '/tmp' }],
            envFrom: safesiftEnvFrom(),
            resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
            securityContext: containerSecurityContext(),
            volumeMounts: [
              { name: 'spec', mountPath: SPEC_MOUNT, readOnly: true },
              { name: 'tmp', mountPath: '/tmp' },
              { name: 'nats-tls', mountPath: NATS_TLS_MOUNT, readOnly: true },
            ],
          }],
          volumes: [
            { name: 'spec', configMap: { name: o.specConfigMap, items: [{ key: SPEC_KEY, path: SPEC_KEY }] } },
            { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
            // The CA of NATS's TLS certificate where the cluster has one (the prod overlay; README).
            { name: 'nats-tls', secret: { secretName: 'safesift-nats-tls', optional: true, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          ],
        },
      },
    },
  };
}

/**
 * The spec's ConfigMap. Creating the Job first and this with an ownerReference to it lets
 * Kubernetes delete both together (the Job's pod waits for the ConfigMap to appear).
 */
export function auditSpecConfigMap(name: string, namespace: string, specYaml: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, labels: safesiftLabels('submit') },
    data: { [SPEC_KEY]: specYaml },
  };
}
