import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import type { V1Pod } from '@kubernetes/client-node';
import { ConfigError } from '@safesift/core/errors.ts';
import { addKubeOptions, kubeTarget, loadKubeClient } from './kube-flags.ts';
import { summariseJob } from './status-command.ts';

/** How often --follow looks again for a pod that has started. */
const POLL_MS = 1000;

/** The newest pod whose container has started (a Pending pod has no log yet). */
function podWithLogs(pods: V1Pod[]): V1Pod | undefined {
  return pods.filter((pod) => pod.status?.phase !== undefined && pod.status.phase !== 'Pending').at(-1);
}

export function k8sLogsCommand(): Command {
  return addKubeOptions(new Command('logs'))
    .exitOverride()
    .description("Print the log of an audit Job's pod (the newest one, when the Job retried)")
    .argument('<job>', 'Job name (as printed by `safesift k8s submit`)')
    .option('-f, --follow', 'wait for the pod to start, then stream its log until it ends')
    .action(async (name: string, flags: Record<string, unknown>) => {
      const { connectKube, kubeCall, readJobAndPods } = await loadKubeClient();
      const kube = connectKube(kubeTarget(flags));
      const follow = Boolean(flags.follow);
      let pod: V1Pod | undefined;
      for (;;) {
        const { job, pods } = await readJobAndPods(kube, name);
        pod = podWithLogs(pods);
        if (pod !== undefined) break;
        const { state } = summariseJob(job, pods, kube.namespace);
        const waiting = pods.length === 0 ? 'no pod yet' : `pod ${pods.at(-1)?.metadata?.name} is Pending`;
        if (!follow || state === 'succeeded' || state === 'failed') {
          throw new ConfigError(`job ${name} (${state}): ${waiting}, so no log to show${follow ? '' : '; --follow waits for it'}`);
        }
        await sleep(POLL_MS);
      }
      const podName = pod.metadata?.name ?? '';
      const container = pod.spec?.containers[0]?.name ?? '';
      // Log.log resolves once the answer starts; the sink ends when the server closes the log.
      const sink = new PassThrough();
      sink.pipe(process.stdout, { end: false });
      await kubeCall(kube, `reading the log of pod ${podName}`,
        () => kube.log.log(kube.namespace, podName, container, sink, { follow }));
      await finished(sink);
    });
}
