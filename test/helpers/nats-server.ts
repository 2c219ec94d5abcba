/**
 * A throwaway nats-server for integration tests (in the spirit of nats.js's `nst`):
 * loopback only, random port, JetStream with file storage in a temp folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface NatsServerOptions {
  /** e.g. '8MB'; the server default is 1MB and only a config file can raise it. */
  maxPayload?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** A user's public nkey (`U...`) allowed in; for nkey-seed auth tests. */
  nkey?: string;
}

export interface NatsTestServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** The running child; replaced by restart(). */
  readonly process: ChildProcess;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, no waiting. */
  kill(): void;
  /** Start again on the same port with the same store: JetStream file storage survives. */
  restart(): Promise<void>;
  /** stop() and remove the temp folder. */
  dispose(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

function findBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  if (existsSync('/usr/sbin/nats-server')) return '/usr/sbin/nats-server';
  throw new Error('nats-server not found on PATH or in /usr/sbin; install it: apt-get install nats-server');
}

/** NATS config syntax: JSON strings are valid quoted strings there. */
function configText(port: number, storeDir: string, o: NatsServerOptions): string {
  const lines = [`listen: "127.0.0.1:${port}"`, `jetstream { store_dir: ${JSON.stringify(storeDir)} }`];
  if (o.maxPayload) lines.push(`max_payload: ${o.maxPayload}`);
  if (o.user !== undefined || o.pass !== undefined) {
    lines.push(`authorization { user: ${JSON.stringify(o.user ?? '')}, password: ${JSON.stringify(o.pass ?? '')} }`);
  } else if (o.token !== undefined) {
    lines.push(`authorization { token: ${JSON.stringify(o.token)} }`);
  } else if (o.nkey !== undefined) {
    lines.push(`authorization { users: [ { nkey: ${JSON.stringify(o.nkey)} } ] }`);
  }
  return lines.join('\n') + '\n';
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

async function readPortsFile(dir: string, pid: number): Promise<number | undefined> {
  const name = (await readdir(dir)).find((f) => f.endsWith(`_${pid}.ports`));
  if (!name) return undefined;
  try {
    const info = JSON.parse(await readFile(join(dir, name), 'utf8')) as { nats?: string[] };
    const url = info.nats?.[0];
    return url ? Number(new URL(url).port) : undefined;
  } catch {
    return undefined; // written but not complete yet
  }
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsTestServer> {
  const bin = findBinary();
  const root = await mkdtemp(join(tmpdir(), 'safesift-nats-'));
  const storeDir = join(root, 'store');
  const confPath = join(root, 'nats.conf');
  let port = -1; // first start: the server picks one and reports it in the ports file
  let child: ChildProcess;

  async function launch(): Promise<void> {
    await writeFile(confPath, configText(port, storeDir, options));
    const proc = spawn(bin, ['-c', confPath, '--ports_file_dir', root], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    // A test process that ends without stopping the server (a failed test, a crash) takes it along.
    const killWithTest = () => proc.kill('SIGKILL');
    process.once('exit', killWithTest);
    proc.once('exit', () => process.off('exit', killWithTest));
    let stderr = '';
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-8_000); });
    const exited = new Promise<never>((_, reject) => {
      proc.once('exit', (code, signal) => reject(new Error(`nats-server exited early (code ${code}, signal ${signal}):\n${stderr}`)));
      proc.once('error', reject);
    });
    exited.catch(() => {}); // only observed through the race below
    const ready = (async () => {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (Date.now() < deadline) {
        if (port === -1 && proc.pid !== undefined) port = (await readPortsFile(root, proc.pid)) ?? -1;
        if (port !== -1 && (await canConnect(port))) return;
        await sleep(20);
      }
      throw new Error(`nats-server not ready after ${READY_TIMEOUT_MS} ms:\n${stderr}`);
    })();
    try {
      await Promise.race([ready, exited]);
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    await gone;
  }

  try {
    await launch();
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }

  return {
    get url() { return `nats://127.0.0.1:${port}`; },
    get port() { return port; },
    storeDir,
    get process() { return child; },
    stop,
    kill() { child.kill('SIGKILL'); },
    async restart() {
      await stop();
      await launch();
    },
    async dispose() {
      await stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
