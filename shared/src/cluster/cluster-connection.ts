import { DEFAULT_LOCATION_POLICY, type LocationPolicy } from './location-policy.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, describeNats, type NatsSettings } from '../bus/nats-settings.ts';
import { ensureTopology, JOBS_KV_BUCKET, openJobsKv, STREAMS, type TopologyOptions } from '../bus/topology.ts';
import { createS3Client } from '../storage/s3-client.ts';
import { JobStore } from './job-store.ts';

/** What every cluster process connects to: NATS (bus + job state) and S3 (data and results). */
export interface ClusterSettings {
  nats: NatsSettings;
  /** S3-compatible endpoint; default $AWS_ENDPOINT_URL, else AWS. */
  s3Endpoint?: string;
  topology?: TopologyOptions;
  /** Locations a job may name (services); default: any S3, no local path. */
  locations?: LocationPolicy;
}

export interface ClusterConnection {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Largest message the batch stream takes. */
  maxMsgSize: number;
  jobs: JobStore;
  /** The S3 client, created on first use (local-only jobs never need one). */
  s3: () => S3Client;
  /** Locations a job may name; services check every job against it. */
  locations: LocationPolicy;
  /** Log-safe description of where this process is connected. */
  description: string;
  close(): Promise<void>;
}

/**
 * Connects. Services create or update the streams, consumers and jobs bucket with their settings
 * (ack wait, max deliveries); clients (submit, status…) leave an existing topology as it is and
 * create it with defaults only when there is none yet.
 */
export async function connectCluster(settings: ClusterSettings, role: 'service' | 'client' = 'service'): Promise<ClusterConnection> {
  const nc = await connectNats(settings.nats);
  try {
    let kv = role === 'client' && (await topologyExists(nc)) ? await openJobsKv(nc) : null;
    let maxMsgSize = nc.info?.max_payload ?? 1024 * 1024;
    if (kv === null) {
      const topology = await ensureTopology(nc, settings.topology);
      kv = topology.kv;
      maxMsgSize = topology.maxMsgSize;
    }
    let client: S3Client | undefined;
    const s3 = () => (client ??= createS3Client(settings.s3Endpoint === undefined ? {} : { endpoint: settings.s3Endpoint }));
    return {
      nc,
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
      maxMsgSize,
      jobs: new JobStore(kv),
      s3,
      locations: settings.locations ?? DEFAULT_LOCATION_POLICY,
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

/** Whether the streams and the jobs bucket exist (opening a KV bucket does not check). */
async function topologyExists(nc: NatsConnection): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  const names = [...Object.values(STREAMS), `KV_${JOBS_KV_BUCKET}`];
  const found = await Promise.all(names.map((name) => jsm.streams.info(name).then(() => true, () => false)));
  return found.every(Boolean);
}
