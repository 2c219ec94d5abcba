/**
 * A real S3 endpoint for tests: s3rver in a child process on a random loopback port, storing
 * into a fresh temp folder. Callers use unique bucket names (uniqueBucketName) and stop().
 */
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createS3Client } from '../../shared/src/storage/s3-client.ts';

export interface S3TestServer {
  endpoint: string;
  /** A client for this server (from createS3Client, so configured like production). */
  client: S3Client;
  /** Environment for a child process (e.g. the CLI) to reach this server. */
  env: Record<string, string>;
  /** s3rver's data folder. */
  dir: string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 15_000;
const LISTENING = /S3rver listening on ([\d.]+):(\d+)/;
// The child exits when our end of its stdin closes, so it never outlives a killed test process.
const EXIT_WITH_PARENT = `data:text/javascript,process.stdin.on('end',()=>process.exit(0));process.stdin.on('error',()=>process.exit(0));process.stdin.resume();`;

function s3rverBin(): string {
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve('s3rver/package.json');
  } catch (err) {
    throw new Error('s3rver is not installed: it is a devDependency of safesift (run npm ci)', { cause: err });
  }
  const bin = join(packageJson, '..', 'bin', 's3rver.js');
  if (!existsSync(bin)) throw new Error(`s3rver's bin script is missing at ${bin}`);
  return bin;
}

/** A bucket name unique to this call (S3 rules: 3–63 chars, lowercase letters, digits, '-'). */
export function uniqueBucketName(prefix = 'test'): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'test';
  return `${clean}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export async function startS3Server(options: { buckets?: string[] } = {}): Promise<S3TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-s3rver-'));
  // --openssl-legacy-provider: s3rver's ListObjectsV2 continuation tokens need it (500s otherwise).
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', '--import', EXIT_WITH_PARENT, s3rverBin(), '-d', dir, '-a', '127.0.0.1', '-p', '0', '--silent'],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } },
  );
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${STARTUP_TIMEOUT_MS} ms; output:\n${output}`)), STARTUP_TIMEOUT_MS);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        const match = LISTENING.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[2]));
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start s3rver (${process.execPath}): ${err.message}`, { cause: err }));
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited early (code ${code}); output:\n${output}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  child.stdout.resume();
  child.stderr.resume();

  const endpoint = `http://127.0.0.1:${port}`;
  const env = { AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
  // s3rver's default credentials, so the host's own AWS settings are never consulted.
  const credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY };
  const client = createS3Client({ endpoint, region: env.AWS_REGION, credentials });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      client.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    for (const bucket of options.buckets ?? []) await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, client, env, dir, stop };
}
