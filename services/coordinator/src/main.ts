import type { ClusterSettings } from '@safesift/core/cluster/cluster-connection.ts';
import { runService } from '@safesift/core/service/service-lifecycle.ts';
import { runCoordinator, type CoordinatorSettings } from './coordinator.ts';

/** `safesift coordinator`: plans submitted jobs into batches until stopped. */
export function main(cluster: ClusterSettings, settings: CoordinatorSettings): Promise<void> {
  return runService('coordinator', cluster, (conn, signal, log) => runCoordinator(conn, settings, signal, log));
}
