import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.ts';

/** What /metrics serves; a prom-client Registry or ServiceMetrics fits. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface ObservabilityServerOptions {
  /** 0 picks a free port (read it from the result). */
  port: number;
  /** Default 0.0.0.0, so the kubelet and Prometheus can reach the pod. */
  host?: string;
  metrics: MetricsSource;
  /** /readyz: 200 while true (connected, loop running), else 503. */
  isReady(): boolean;
  /** /healthz: 200 while true, else 503 (the kubelet restarts the container). */
  isAlive(): boolean;
}

export interface ObservabilityServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/**
 * The Kubernetes-facing endpoints of a long-running process: /metrics (Prometheus text),
 * /healthz (liveness) and /readyz (readiness). Plain node:http: three routes need no framework.
 */
export async function startObservabilityServer(o: ObservabilityServerOptions): Promise<ObservabilityServer> {
  const host = o.host ?? '0.0.0.0';
  const server = createServer((req, res) => {
    void respond(o, req, res);
  });
  // Probes and scrapes are short: do not let idle keep-alive sockets hold a shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(new ConfigError(`metrics endpoint: cannot listen on ${host}:${o.port} (${error.code ?? error.message})`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(o.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function respond(o: ObservabilityServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
  try {
    if (path === '/metrics') {
      const text = await o.metrics.metrics();
      return send(res, 200, text, { 'content-type': o.metrics.contentType });
    }
    if (path === '/healthz') return o.isAlive() ? send(res, 200, 'ok\n') : send(res, 503, 'not alive\n');
    if (path === '/readyz') return o.isReady() ? send(res, 200, 'ready\n') : send(res, 503, 'not ready\n');
    return send(res, 404, 'not found\n');
  } catch (error) {
    return send(res, 500, `${error instanceof Error ? error.message : String(error)}\n`);
  }
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
