import { ConfigError } from '../errors.ts';

/** Where a service serves /metrics, /healthz and /readyz; null = no endpoint. */
export interface MetricsEndpoint {
  port: number;
  host: string;
}

export const DEFAULT_METRICS_HOST = '0.0.0.0';

/**
 * The endpoint from flags, else $SAFESIFT_METRICS_PORT / $SAFESIFT_METRICS_HOST. Off unless a
 * port is given: a process started by hand should not open a port nobody asked for, while a
 * Kubernetes manifest sets the variable (or flag) once for every replica.
 */
export function resolveMetricsEndpoint(flags: { port?: unknown; host?: unknown }, env: NodeJS.ProcessEnv = process.env): MetricsEndpoint | null {
  const port = typeof flags.port === 'number' ? flags.port : parsePort(env.SAFESIFT_METRICS_PORT);
  if (port === undefined) return null;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--metrics-port: expected 0-65535, got ${port}`);
  const host = typeof flags.host === 'string' && flags.host !== '' ? flags.host : env.SAFESIFT_METRICS_HOST || DEFAULT_METRICS_HOST;
  return { port, host };
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw new ConfigError(`$SAFESIFT_METRICS_PORT: expected a port number, got '${text}'`);
  return Number(text);
}

let chosen: MetricsEndpoint | null | undefined;

/** Set by the CLI from its flags; runService reads it (falling back to the environment). */
export function setMetricsEndpoint(endpoint: MetricsEndpoint | null): void {
  chosen = endpoint;
}

export function metricsEndpoint(): MetricsEndpoint | null {
  return chosen !== undefined ? chosen : resolveMetricsEndpoint({});
}
