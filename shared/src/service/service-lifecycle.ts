import { connectCluster, type ClusterConnection, type ClusterSettings } from '../cluster/cluster-connection.ts';
import { createLogger, type Logger } from '../cluster/logger.ts';
import { messageOf } from '../cluster/failure-kind.ts';
import { metricsEndpoint } from '../observability/metrics-endpoint.ts';
import { startServiceObservability, type ServiceProbes } from '../observability/service-observability.ts';

export type ServiceLoop = (conn: ClusterConnection, signal: AbortSignal, log: Logger) => Promise<void>;

/**
 * Runs a long-lived cluster process: connect, run the loop until SIGTERM/SIGINT, then drain
 * (the loop finishes and settles the message in hand) and disconnect. A second signal exits at
 * once; whatever was in hand is redelivered to another process after its ack wait.
 */
export async function runService(name: string, settings: ClusterSettings, loop: ServiceLoop): Promise<void> {
  const log = createLogger(name);
  const controller = new AbortController();
  let probes: ServiceProbes | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    log.info({ signal }, 'draining: finishing the message in hand');
    probes?.draining();
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const conn = await connectCluster(settings);
  try {
    // Metrics and health endpoints (--metrics-port): ready while connected and the loop runs.
    probes = await startServiceObservability(name, conn, metricsEndpoint(), log);
    probes.running();
    await loop(conn, controller.signal, log);
  } catch (error) {
    log.error({ err: messageOf(error) }, `${name} failed`);
    throw error;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await probes?.close();
    await conn.close();
  }
}
