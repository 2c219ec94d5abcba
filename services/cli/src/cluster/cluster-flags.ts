import { Command } from 'commander';
import { compileNatsSettings } from '@safesift/core/bus/nats-settings.ts';
import type { ClusterSettings } from '@safesift/core/cluster/cluster-connection.ts';
import { defaultCacheDir } from '@safesift/core/model/cache-dir.ts';
import { parseLocationPolicy } from '@safesift/core/cluster/location-policy.ts';
import { ConfigError } from '@safesift/core/errors.ts';
import { integer } from '../cli-parsers.ts';

/**
 * How every cluster command reaches NATS and S3. Secrets can come from the environment
 * (SAFESIFT_NATS_PASSWORD, SAFESIFT_NATS_TOKEN) so they stay out of process listings;
 * S3 credentials come only from the AWS default chain.
 */
export function addClusterOptions(command: Command): Command {
  return command
    .option('--nats <urls>', 'NATS server(s), comma-separated (default $NATS_URL or nats://127.0.0.1:4222)')
    .option('--nats-user <user>', 'NATS user (default $SAFESIFT_NATS_USER)')
    .option('--nats-pass <password>', 'NATS password (prefer $SAFESIFT_NATS_PASSWORD)')
    .option('--nats-token <token>', 'NATS token (prefer $SAFESIFT_NATS_TOKEN)')
    .option('--nats-creds <file>', 'NATS .creds file (JWT + nkey)')
    .option('--nats-nkey <file>', 'file holding an nkey user seed')
    .option('--nats-tls-ca <file>', 'CA certificate for TLS to NATS (default $SAFESIFT_NATS_TLS_CA)')
    .option('--nats-tls-cert <file>', 'client certificate for TLS to NATS (default $SAFESIFT_NATS_TLS_CERT)')
    .option('--nats-tls-key <file>', 'client key for TLS to NATS (default $SAFESIFT_NATS_TLS_KEY)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (default $AWS_ENDPOINT_URL, else AWS)');
}

export function clusterSettings(flags: Record<string, unknown>, clientName: string): ClusterSettings {
  const env = process.env;
  const pick = (flag: unknown, variable: string) => (typeof flag === 'string' && flag !== '' ? flag : env[variable] || undefined);
  const tls = { caFile: pick(flags.natsTlsCa, 'SAFESIFT_NATS_TLS_CA'), certFile: pick(flags.natsTlsCert, 'SAFESIFT_NATS_TLS_CERT'), keyFile: pick(flags.natsTlsKey, 'SAFESIFT_NATS_TLS_KEY') };
  const nats = compileNatsSettings({
    servers: pick(flags.nats, 'NATS_URL') ?? 'nats://127.0.0.1:4222',
    user: pick(flags.natsUser, 'SAFESIFT_NATS_USER'),
    pass: pick(flags.natsPass, 'SAFESIFT_NATS_PASSWORD'),
    token: pick(flags.natsToken, 'SAFESIFT_NATS_TOKEN'),
    credsFile: pick(flags.natsCreds, 'SAFESIFT_NATS_CREDS'),
    nkeySeedFile: pick(flags.natsNkey, 'SAFESIFT_NATS_NKEY'),
    ...(Object.values(tls).some((v) => v !== undefined) ? { tls: Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)) } : {}),
    name: clientName,
  });
  const ackWaitMs = numberFrom(flags.ackWait, 'SAFESIFT_ACK_WAIT_MS');
  const maxDeliver = numberFrom(flags.maxDeliver, 'SAFESIFT_MAX_DELIVER');
  return {
    nats,
    locations: parseLocationPolicy(pick(flags.allowedLocations, 'SAFESIFT_ALLOWED_LOCATIONS')),
    ...(typeof flags.s3Endpoint === 'string' ? { s3Endpoint: flags.s3Endpoint } : {}),
    topology: { ...(ackWaitMs === undefined ? {} : { ackWaitMs }), ...(maxDeliver === undefined ? {} : { maxDeliver }) },
  };
}

function numberFrom(flag: unknown, variable: string): number | undefined {
  if (typeof flag === 'number') return flag;
  const text = process.env[variable];
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw new ConfigError(`$${variable}: expected a whole number, got '${text}'`);
  return Number(text);
}

/** Delivery settings of the work queues: every service of a cluster must use the same values. */
export function addDeliveryOptions(command: Command): Command {
  return command
    .option('--ack-wait <ms>', 'redeliver a message not acked (nor heartbeated) within this time (default $SAFESIFT_ACK_WAIT_MS or 30000)', integer('--ack-wait'))
    .option('--max-deliver <n>', 'deliveries before a message (batch, job, notice) is dead-lettered; with the retry backoff, 8 rides out about 2 minutes of trouble (default $SAFESIFT_MAX_DELIVER or 8)', integer('--max-deliver'));
}

export function cacheDirOption(command: Command): Command {
  return command.option('--cache-dir <dir>', 'local cache for models and graphs (default $SAFESIFT_CACHE_DIR or ~/.cache/safesift)');
}

/** The cache folder; a --cache-dir also moves the graph and tiny-model caches there. */
export function cacheDirOf(flags: Record<string, unknown>): string {
  if (typeof flags.cacheDir === 'string') process.env.SAFESIFT_CACHE_DIR = flags.cacheDir;
  return defaultCacheDir();
}

/** The locations a service lets a job name (README: "Who may submit what"). */
export function addLocationPolicyOption(command: Command): Command {
  return command.option(
    '--allowed-locations <list>',
    'comma-separated s3://bucket/prefix and absolute folders jobs may read and write; S3 is restricted only when an s3:// prefix is listed; local paths are refused unless listed (default $SAFESIFT_ALLOWED_LOCATIONS)',
  );
}
