/** Shared bits of the bus integration tests. */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { NatsTestServer } from '../../helpers/nats-server.ts';

/** Polls until `check` returns true; fails with `what` after timeoutMs. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A client that, like connectNats, rides out server restarts. */
export function connectTo(server: NatsTestServer, name?: string): Promise<NatsConnection> {
  return connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100, ...(name ? { name } : {}) });
}

export const text = (data: Uint8Array): string => new TextDecoder().decode(data);
