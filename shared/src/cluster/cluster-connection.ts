import type { S3Client } from '@aws-sdk/client-s3';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, describeNats, type NatsSettings } from '../bus/nats-settings.ts';
import { ensureTopology, type Topology, type TopologyOptions } from '../bus/topology.ts';
import { createS3Client } from '../storage/s3-client.ts';
import { JobStore } from './job-store.ts';

/** What every cluster process connects to: NATS (bus + job state) and S3 (data and results). */
export interface ClusterSettings {
  nats: NatsSettings;
  /** S3-compatible endpoint; default $AWS_ENDPOINT_URL, else AWS. */
  s3Endpoint?: string;
  topology?: TopologyOptions;
}

export interface ClusterConnection {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  topology: Topology;
  jobs: JobStore;
  /** The S3 client, created on first use (local-only jobs never need one). */
  s3: () => S3Client;
  /** Log-safe description of where this process is connected. */
  description: string;
  close(): Promise<void>;
}

/** Connects, and creates (or checks) the streams, consumers and jobs bucket. */
export async function connectCluster(settings: ClusterSettings): Promise<ClusterConnection> {
  const nc = await connectNats(settings.nats);
  try {
    const topology = await ensureTopology(nc, settings.topology);
    let client: S3Client | undefined;
    const s3 = () => (client ??= createS3Client(settings.s3Endpoint === undefined ? {} : { endpoint: settings.s3Endpoint }));
    return {
      nc,
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
      topology,
      jobs: new JobStore(topology.kv),
      s3,
      description: describeNats(settings.nats),
      async close() {
        client?.destroy();
        await nc.drain().catch(() => nc.close());
      },
    };
  } catch (error) {
    await nc.close();
    throw error;
  }
}
