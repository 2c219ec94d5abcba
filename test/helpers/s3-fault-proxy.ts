/**
 * An HTTP proxy in front of a real S3 server that answers chosen requests with an S3 error
 * (503 ServiceUnavailable), the way an overloaded or flapping store does. Services pointed at
 * it (AWS_ENDPOINT_URL) see the faults; a test's own client can keep talking to S3 directly.
 * Requests are forwarded untouched (the Host header included, so signatures still verify).
 */
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultRequest {
  method: string;
  /** Path and query, e.g. "/bucket/out/_work/j/results/batch-000003.arrow?x-id=PutObject". */
  url: string;
}

export type FaultRule = (req: FaultRequest) => boolean;

export interface S3FaultProxy {
  endpoint: string;
  /** Requests answered with an injected error, and requests passed through, so far. */
  readonly faulted: number;
  readonly forwarded: number;
  /** From now on, answer every request `rule` matches (default: all) with a 503. */
  fail(rule?: FaultRule): void;
  /** Stop injecting faults. */
  heal(): void;
  stop(): Promise<void>;
}

const ERROR_BODY =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code><Message>injected by the test fault proxy</Message><RequestId>fault-proxy</RequestId></Error>';

export async function startS3FaultProxy(target: string): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  let rule: FaultRule | null = null;
  let faulted = 0;
  let forwarded = 0;

  const forward = (req: IncomingMessage, res: import('node:http').ServerResponse): void => {
    forwarded++;
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: upstream failed: ${err.message}`);
    });
    req.pipe(out);
  };

  const server = createServer((req, res) => {
    const seen: FaultRequest = { method: req.method ?? 'GET', url: req.url ?? '/' };
    if (rule?.(seen)) {
      faulted++;
      req.resume(); // read (and drop) any body, so the client is not left writing
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(ERROR_BODY) });
        res.end(ERROR_BODY);
      });
      return;
    }
    forward(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get faulted() {
      return faulted;
    },
    get forwarded() {
      return forwarded;
    },
    fail(next: FaultRule = () => true) {
      rule = next;
    },
    heal() {
      rule = null;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
