import type { Command } from 'commander';
import type { KubeTarget } from '@safesift/core/k8s/kube-client.ts';

/** Where the `safesift k8s` commands talk to: kubeconfig, context and namespace. */
export function addKubeOptions(command: Command): Command {
  return command
    .option('--namespace <ns>', "namespace (default: the kubeconfig context's, else 'safesift')")
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: its current-context)');
}

export function kubeTarget(flags: Record<string, unknown>): KubeTarget {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return { kubeconfig: text(flags.kubeconfig), context: text(flags.context), namespace: text(flags.namespace) };
}

/** The Kubernetes client module, loaded on use: the client library takes seconds to import. */
export const loadKubeClient = () => import('@safesift/core/k8s/kube-client.ts');
