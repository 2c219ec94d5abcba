import { Command } from 'commander';
import { main as coordinatorMain } from '@safesift/coordinator/main.ts';
import { main as reducerMain } from '@safesift/reducer/main.ts';
import { main as workerMain } from '@safesift/worker/main.ts';
import { resolveMetricsEndpoint, setMetricsEndpoint } from '@safesift/core/observability/metrics-endpoint.ts';
import { integer } from '../cli-parsers.ts';
import { addClusterOptions, addDeliveryOptions, addLocationPolicyOption, cacheDirOf, cacheDirOption, clusterSettings } from './cluster-flags.ts';

/** `safesift coordinator|worker|reducer`: the long-running processes of a cluster. */
export function serviceCommands(): Command[] {
  const coordinator = metricsOptions(cacheDirOption(addDeliveryOptions(addLocationPolicyOption(addClusterOptions(new Command('coordinator'))))))
    .description('Plan submitted jobs: anchor features once per job, then the corpus as Arrow batches on JetStream')
    .option('--threads <n>', 'onnxruntime threads for anchor features (default: all cores)', integer('--threads'))
    .option('--max-pending-batches <n>', 'batches waiting in the stream, shared evenly by the jobs being published (default 1000)', integer('--max-pending-batches'))
    .option('--max-concurrent-jobs <n>', 'jobs planned at once; their anchor steps take turns (default 4)', integer('--max-concurrent-jobs'))
    .action(async (flags: Record<string, unknown>) => {
      await coordinatorMain(clusterSettings(flags, 'safesift-coordinator'), {
        cacheDir: cacheDirOf(flags),
        ...threads(flags),
        ...(typeof flags.maxPendingBatches === 'number' ? { maxPendingBatches: flags.maxPendingBatches } : {}),
        ...(typeof flags.maxConcurrentJobs === 'number' ? { maxConcurrentJobs: flags.maxConcurrentJobs } : {}),
      });
    });
  const worker = metricsOptions(cacheDirOption(addDeliveryOptions(addLocationPolicyOption(addClusterOptions(new Command('worker'))))))
    .description('Score batches from JetStream; SIGTERM finishes the batch in hand, then exits')
    .option('--threads <n>', 'onnxruntime threads (default: all cores)', integer('--threads'))
    .option('--name <name>', 'worker name in results and logs (default host:pid)')
    .action(async (flags: Record<string, unknown>) => {
      await workerMain(clusterSettings(flags, 'safesift-worker'), {
        cacheDir: cacheDirOf(flags),
        ...threads(flags),
        ...(typeof flags.name === 'string' ? { name: flags.name } : {}),
      });
    });
  const reducer = metricsOptions(addDeliveryOptions(addLocationPolicyOption(addClusterOptions(new Command('reducer')))))
    .description('Account for batch results and write each finished job\'s top-k, score parts, errors and summary')
    .option('--rows-per-part <n>', 'rows per scores part', integer('--rows-per-part'))
    .action(async (flags: Record<string, unknown>) => {
      await reducerMain(clusterSettings(flags, 'safesift-reducer'), typeof flags.rowsPerPart === 'number' ? { rowsPerPart: flags.rowsPerPart } : {});
    });
  return [coordinator, worker, reducer];
}

/** /metrics, /healthz and /readyz for Kubernetes; off unless a port is given (flag or env). */
function metricsOptions(command: Command): Command {
  return command
    .option('--metrics-port <n>', 'serve /metrics, /healthz and /readyz on this port (0 = any free port; default $SAFESIFT_METRICS_PORT, else off)', integer('--metrics-port'))
    .option('--metrics-host <host>', 'address for the metrics endpoint (default $SAFESIFT_METRICS_HOST or 0.0.0.0)')
    .hook('preAction', (_, action) => {
      const flags = action.opts<Record<string, unknown>>();
      setMetricsEndpoint(resolveMetricsEndpoint({ port: flags.metricsPort, host: flags.metricsHost }));
    });
}

function threads(flags: Record<string, unknown>): { threads?: number } {
  return typeof flags.threads === 'number' ? { threads: flags.threads } : {};
}
