import type { ClusterSettings } from '@safesift/core/cluster/cluster-connection.ts';
import { runService } from '@safesift/core/service/service-lifecycle.ts';
import { runReducer, type ReducerSettings } from './reducer.ts';

/** `safesift reducer`: accounts for batch results and writes each job's outputs. */
export function main(cluster: ClusterSettings, settings: ReducerSettings): Promise<void> {
  return runService('reducer', cluster, (conn, signal, log) => runReducer(conn, settings, signal, log));
}
