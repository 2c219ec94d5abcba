import type { ClusterSettings } from '@safesift/core/cluster/cluster-connection.ts';
import { runService } from '@safesift/core/service/service-lifecycle.ts';
import { runWorker, type WorkerSettings } from './worker.ts';

/** `safesift worker`: scores batches until stopped (SIGTERM drains the batch in hand). */
export function main(cluster: ClusterSettings, settings: WorkerSettings): Promise<void> {
  return runService('worker', cluster, (conn, signal, log) => runWorker(conn, settings, signal, log));
}
