import type { ClusterConnection } from '../cluster/cluster-connection.ts';
import type { Logger } from '../cluster/logger.ts';
import { startObservabilityServer } from './http-endpoints.ts';
import type { MetricsEndpoint } from './metrics-endpoint.ts';
import { processMetrics, SERVICE_QUEUES, type ServiceName } from './metrics.ts';

export interface ServiceProbes {
  /** The loop has started: ready once connected. */
  running(): void;
  /** Draining or stopped: no longer ready (Kubernetes stops routing and waits). */
  draining(): void;
  close(): Promise<void>;
}

/**
 * The health and metrics side of runService: tracks the NATS connection (ready only while
 * connected), reports the service's own queue lag, and serves the endpoints when one is set.
 */
export async function startServiceObservability(service: string, conn: ClusterConnection, endpoint: MetricsEndpoint | null, log: Logger): Promise<ServiceProbes> {
  const metrics = processMetrics(service);
  let connected = !conn.nc.isClosed();
  let running = false;
  let draining = false;
  void (async () => {
    for await (const s of conn.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'close') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })().catch(() => undefined);
  const queue = SERVICE_QUEUES[service as ServiceName] as (typeof SERVICE_QUEUES)[ServiceName] | undefined;
  const untrack = queue ? metrics.trackQueueLag(conn.jsm, queue.stream, queue.consumer) : () => undefined;
  const server = endpoint
    ? await startObservabilityServer({
        ...endpoint,
        metrics,
        isReady: () => connected && running && !draining && !conn.nc.isClosed(),
        // A connection closed for good (not by a drain) never comes back: let the kubelet restart us.
        isAlive: () => draining || !conn.nc.isClosed(),
      })
    : null;
  if (server) log.info({ port: server.port, host: server.host }, 'metrics listening');
  return {
    running: () => {
      running = true;
    },
    draining: () => {
      draining = true;
    },
    close: async () => {
      draining = true;
      untrack();
      await server?.close();
    },
  };
}
