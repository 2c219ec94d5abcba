/**
 * A whole safesift cluster for tests: a real nats-server and a real S3 server (s3rver) on random
 * loopback ports, and the real `safesift` processes (coordinator, workers, reducer) as children.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectCluster, type ClusterConnection } from '../../shared/src/cluster/cluster-connection.ts';
import { isFinished, type JobStatus } from '../../shared/src/cluster/job-status.ts';
import { S3ObjectStore } from '../../shared/src/storage/s3-object-store.ts';
import { uploadDirectory } from '../../shared/src/storage/upload-directory.ts';
import { tempDir } from './fixtures.ts';
import { startNatsServer, type NatsTestServer } from './nats-server.ts';
import { CLI, runCli, type CliResult } from './run-cli.ts';
import { startS3Server, uniqueBucketName, type S3TestServer } from './s3-server.ts';

export type Role = 'coordinator' | 'worker' | 'reducer';

export interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

export class ServiceProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<number | null>;
  private waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(
    readonly role: Role,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
    createInterface({ input: child.stderr! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text };
      }
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => (w.match(line) ? (w.resolve(line), false) : true));
    });
  }

  /** The first log line (past or future) whose msg matches. */
  waitFor(msg: string, timeoutMs = 120_000, where: (l: LogLine) => boolean = () => true): Promise<LogLine> {
    const match = (l: LogLine) => l.msg === msg && where(l);
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.role}: no '${msg}' log within ${timeoutMs} ms; last lines:\n${this.tail()}`)), timeoutMs);
      this.waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }

  tail(n = 15): string {
    return this.lines.slice(-n).map((l) => JSON.stringify(l)).join('\n');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

export class ClusterHarness {
  readonly processes: ServiceProcess[] = [];
  private client: ClusterConnection | null = null;

  private constructor(
    readonly nats: NatsTestServer,
    readonly s3: S3TestServer,
    readonly bucket: string,
    readonly dir: string,
    readonly env: Record<string, string>,
  ) {}

  static async start(options: { ackWaitMs?: number; maxDeliver?: number; allowedLocations?: string } = {}): Promise<ClusterHarness> {
    const nats = await startNatsServer();
    const bucket = uniqueBucketName('cluster');
    const s3 = await startS3Server({ buckets: [bucket] });
    const dir = tempDir('cluster');
    const env = {
      ...s3.env,
      NATS_URL: nats.url,
      SAFESIFT_CACHE_DIR: join(dir, 'cache'),
      // Tests name local fixtures and temp folders; the location policy has its own test.
      SAFESIFT_ALLOWED_LOCATIONS: options.allowedLocations ?? '/',
      SAFESIFT_ACK_WAIT_MS: String(options.ackWaitMs ?? 4000),
      SAFESIFT_MAX_DELIVER: String(options.maxDeliver ?? 5),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      SAFESIFT_LOG_LEVEL: process.env.SAFESIFT_LOG_LEVEL ?? 'debug',
    };
    return new ClusterHarness(nats, s3, bucket, dir, env);
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async uploadFile(localPath: string, key: string): Promise<string> {
    await new S3ObjectStore(this.s3.client, this.bucket).putFile(key, localPath);
    return this.uri(key);
  }

  async uploadText(text: string, key: string): Promise<string> {
    await new S3ObjectStore(this.s3.client, this.bucket).put(key, text);
    return this.uri(key);
  }

  async uploadDir(localDir: string, key: string): Promise<string> {
    await uploadDirectory(localDir, new S3ObjectStore(this.s3.client, this.bucket), key);
    return this.uri(key);
  }

  /** A service process; `env` adds to the cluster's (e.g. AWS_ENDPOINT_URL of a fault proxy). */
  spawn(role: Role, args: string[] = [], env: Record<string, string> = {}): ServiceProcess {
    const child = spawn(process.execPath, [CLI, role, ...args], { env: { ...process.env, ...this.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const service = new ServiceProcess(role, child);
    this.processes.push(service);
    return service;
  }

  cli(args: string[]): Promise<CliResult> {
    return runCli(args, this.env);
  }

  async connection(): Promise<ClusterConnection> {
    this.client ??= await connectCluster({ nats: { servers: [this.nats.url] }, s3Endpoint: this.s3.endpoint }, 'client');
    return this.client;
  }

  /** Polls the job's status until it finishes. */
  async waitForJob(id: string, timeoutMs = 180_000): Promise<JobStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const conn = await this.connection();
      const status = await conn.jobs.status(id).catch(() => null);
      if (status && isFinished(status.state)) return status;
      if (Date.now() > deadline) {
        throw new Error(`job ${id} not finished after ${timeoutMs} ms: ${JSON.stringify(status)}\n${this.processes.map((p) => `${p.role}:\n${p.tail()}`).join('\n')}`);
      }
      await sleep(300);
    }
  }

  async download(id: string, name: string): Promise<string> {
    const to = join(this.dir, 'downloads', name);
    await mkdir(to, { recursive: true });
    const result = await this.cli(['download', id, '--to', to, '--json']);
    if (result.code !== 0) throw new Error(`download failed: ${result.stderr}`);
    return to;
  }

  async stopProcesses(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop('SIGKILL')));
    this.processes.length = 0;
  }

  async dispose(): Promise<void> {
    await this.stopProcesses();
    await this.client?.close().catch(() => undefined);
    this.client = null;
    await this.nats.dispose();
    await this.s3.stop();
  }

  async writeLocal(name: string, text: string): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, text);
    return path;
  }
}
