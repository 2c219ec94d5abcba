import { Command } from 'commander';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { addKubeOptions, kubeTarget, loadKubeClient } from './kube-flags.ts';

export type K8sJobState = 'pending' | 'active' | 'succeeded' | 'failed' | 'suspended';

export interface K8sJobStatus {
  job: string;
  namespace: string;
  state: K8sJobState;
  /** Pods running, succeeded and failed, as the Job controller counts them. */
  active: number;
  succeeded: number;
  failed: number;
  startTime: string | null;
  completionTime: string | null;
  /** Why a failed Job failed (e.g. BackoffLimitExceeded), from its Failed condition. */
  reason: string | null;
  message: string | null;
  pods: { name: string; phase: string; startTime: string | null; reason: string | null }[];
}

/** A Job and its pods in a few fields; the state comes from the Job's conditions first. */
export function summariseJob(job: V1Job, pods: V1Pod[], namespace: string): K8sJobStatus {
  const status = job.status ?? {};
  const condition = (type: string) => status.conditions?.find((c) => c.type === type && c.status === 'True');
  const failed = condition('Failed');
  const active = status.active ?? 0;
  const state: K8sJobState = condition('Complete') ? 'succeeded'
    : failed ? 'failed'
      : condition('Suspended') ? 'suspended'
        : active > 0 ? 'active' : 'pending';
  const time = (date: Date | undefined) => (date === undefined ? null : date.toISOString());
  return {
    job: job.metadata?.name ?? '',
    namespace,
    state,
    active,
    succeeded: status.succeeded ?? 0,
    failed: status.failed ?? 0,
    startTime: time(status.startTime),
    completionTime: time(status.completionTime),
    reason: failed?.reason ?? null,
    message: failed?.message ?? null,
    pods: pods.map((pod) => ({
      name: pod.metadata?.name ?? '',
      phase: pod.status?.phase ?? 'Unknown',
      startTime: time(pod.status?.startTime),
      reason: podReason(pod),
    })),
  };
}

/** Why a pod is not making progress: a waiting or terminated container's reason (ImagePullBackOff, OOMKilled…). */
function podReason(pod: V1Pod): string | null {
  for (const container of pod.status?.containerStatuses ?? []) {
    const reason = container.state?.waiting?.reason ?? container.state?.terminated?.reason;
    if (reason !== undefined) return reason;
  }
  return pod.status?.reason ?? null;
}

export function formatK8sStatus(s: K8sJobStatus): string {
  const lines = [
    `job ${s.job} (namespace ${s.namespace}): ${s.state}${s.reason ? ` (${s.reason}${s.message ? `: ${s.message}` : ''})` : ''}`,
    `pods: ${s.active} active, ${s.succeeded} succeeded, ${s.failed} failed`,
    `started ${s.startTime ?? '-'}, completed ${s.completionTime ?? '-'}`,
    ...s.pods.map((p) => `  ${p.name}  ${p.phase}${p.reason ? ` (${p.reason})` : ''}  started ${p.startTime ?? '-'}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function k8sStatusCommand(): Command {
  return addKubeOptions(new Command('status'))
    .exitOverride()
    .description('Show the state of an audit Job and its pods')
    .argument('<job>', 'Job name (as printed by `safesift k8s submit`)')
    .option('--json', 'print JSON on stdout')
    .action(async (name: string, flags: Record<string, unknown>) => {
      const { connectKube, readJobAndPods } = await loadKubeClient();
      const kube = connectKube(kubeTarget(flags));
      const { job, pods } = await readJobAndPods(kube, name);
      const summary = summariseJob(job, pods, kube.namespace);
      process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : formatK8sStatus(summary));
    });
}
