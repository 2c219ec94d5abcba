// A real cluster for the benchmarks (the test harness: nats-server, s3rver, safesift processes),
// plus what a finished job's summary and the processes' logs say about where its time went.
import { readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFinished } from '../shared/src/cluster/job-status.ts';
import { ClusterHarness, type Role, type ServiceProcess } from '../test/helpers/cluster-harness.ts';
import { S3ObjectStore } from '../shared/src/storage/s3-object-store.ts';
import { ILLEGAL_ACTIVITIES_ANCHORS } from './bench-models.ts';

export interface BenchInputs {
  model: string;
  harmful: string;
  safe: string[];
}

export interface JobRun {
  id: string;
  /** summary.json of the job. */
  summary: JobSummary;
  /** Submit (spec stored) to summary.json written, from the summary's own timestamps. */
  wallSeconds: number;
  /** Submit to the coordinator's anchor features stored. */
  anchorsSeconds: number;
  /** Anchors stored to the last worker's 'job model ready' (the model reopened for the job). */
  modelOpenSeconds: number;
  /** Last worker's 'job model ready' to the last 'batch scored'. */
  scoringSeconds: number;
  /** Last 'batch scored' to summary.json written (result notices, reducer accounting, final outputs). */
  finishSeconds: number;
  /** Sum of every batch's scoring time as its worker measured it. */
  batchSecondsTotal: number;
  batches: number;
  /** CPU seconds (user + system) each process spent during the job, by role ('nats' for nats-server). */
  cpuSeconds: Record<string, number>;
  /**
   * The same split at the phase marks: the coordinator's CPU up to its anchor features stored; the
   * workers' up to their model ready for the job (reopen), and after it (scoring, storing, notifying).
   */
  cpuPhases: { anchors: number; reopen: number; scoring: number };
}

export interface JobSummary {
  counts: { records: number; scored: number; errors: number };
  job: { submitted_at: string; finished_at: string; batches: number };
  timings_ms: { total: number; reduce: number };
  peak_rss_mib: number;
}

/** Starts a cluster with the illegal-activities anchors in S3 (logs at info unless asked otherwise). */
export async function startBenchCluster(): Promise<{ cluster: ClusterHarness; anchors: { harmful: string; safe: string[] } }> {
  process.env.SAFESIFT_LOG_LEVEL ??= 'info';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Production's ack wait: a slow batch on a busy machine must not be redelivered mid-run.
  const cluster = await ClusterHarness.start({ ackWaitMs: 30_000 });
  const [harmful, ...safe] = ILLEGAL_ACTIVITIES_ANCHORS;
  return {
    cluster,
    anchors: {
      harmful: await cluster.uploadFile(harmful!.source, 'anchors/harmful.jsonl'),
      safe: await Promise.all(safe.map((s, i) => cluster.uploadFile(s.source, `anchors/safe${i + 1}.jsonl`))),
    },
  };
}

/** dispose() leaves the harness's own folder (the processes' cache: model copies, graphs). */
export async function stopBenchCluster(cluster: ClusterHarness): Promise<void> {
  await cluster.dispose();
  rmSync(cluster.dir, { recursive: true, force: true });
}

/** Log lines that end a process's first phase of a job: its CPU is split there. */
const PHASE_MARK: Partial<Record<Role, string>> = { coordinator: 'anchor features stored', worker: 'job model ready' };

/** Submits one audit job, waits for it, and reads its summary, timeline and CPU use. */
export async function runJob(cluster: ClusterHarness, inputs: BenchInputs, data: string, name: string, extra: string[]): Promise<JobRun> {
  const args = ['submit', '--model', inputs.model, '--data', data, '--harmful', inputs.harmful, ...inputs.safe.flatMap((s) => ['--safe', s])];
  const before = cpuByProcess(cluster);
  const result = await cluster.cli([...args, '--out', cluster.uri(`out/${name}`), '--name', name, '--json', ...extra]);
  if (result.code !== 0) throw new Error(`submit failed (${result.code}): ${result.stderr}`);
  const id = (JSON.parse(result.stdout) as { id: string }).id;
  // Polls the job like ClusterHarness.waitForJob, and reads a process's CPU when its phase mark appears.
  const marks = new Map<ServiceProcess, number>();
  const conn = await cluster.connection();
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  for (;;) {
    for (const p of cluster.processes) {
      const mark = PHASE_MARK[p.role];
      if (!marks.has(p) && p.child.pid !== undefined && p.lines.some((l) => l.msg === mark && l.job === id)) marks.set(p, processCpuSeconds(p.child.pid));
    }
    const status = await conn.jobs.status(id).catch(() => null);
    if (status && isFinished(status.state)) {
      if (status.state !== 'complete') throw new Error(`job ${name} ended ${status.state}: ${JSON.stringify(status)}`);
      break;
    }
    if (Date.now() > deadline) throw new Error(`job ${name} not finished after ${JOB_TIMEOUT_MS} ms: ${JSON.stringify(status)}`);
    await sleep(POLL_MS);
  }
  const after = cpuByProcess(cluster);
  const store = new S3ObjectStore(cluster.s3.client, cluster.bucket);
  const summary = JSON.parse(new TextDecoder().decode(await store.get(`out/${name}/summary.json`))) as JobSummary;

  const cpuSeconds: Record<string, number> = {};
  const cpuPhases = { anchors: 0, reopen: 0, scoring: 0 };
  for (const [p, end] of after) {
    const start = before.get(p) ?? 0;
    const role = p === 'nats' ? 'nats' : p.role;
    cpuSeconds[role] = (cpuSeconds[role] ?? 0) + end - start;
    const mark = p === 'nats' ? undefined : marks.get(p);
    if (role === 'coordinator') cpuPhases.anchors += (mark ?? end) - start;
    if (role === 'worker' && mark !== undefined) {
      cpuPhases.reopen += mark - start;
      cpuPhases.scoring += end - mark;
    }
  }
  return { id, summary, cpuSeconds, cpuPhases, ...timeline(cluster.processes, id, summary) };
}

const JOB_TIMEOUT_MS = 900_000;
const POLL_MS = 200;

/** Linux clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every mainstream kernel). */
const USER_HZ = 100;

/** CPU seconds (user + system, every thread) a live process has used so far; 0 once it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return 0;
  }
}

/** Peak resident memory (VmHWM) of a live process, in bytes; null once it is gone. */
export function processPeakRssBytes(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU seconds so far of every live service process, and of nats-server. */
function cpuByProcess(cluster: ClusterHarness): Map<ServiceProcess | 'nats', number> {
  const totals = new Map<ServiceProcess | 'nats', number>();
  const nats = cluster.nats.process.pid;
  if (nats !== undefined) totals.set('nats', processCpuSeconds(nats));
  for (const p of cluster.processes) if (p.child.pid !== undefined && p.child.exitCode === null) totals.set(p, processCpuSeconds(p.child.pid));
  return totals;
}

type Timeline = Omit<JobRun, 'id' | 'summary' | 'cpuSeconds' | 'cpuPhases'>;

function timeline(processes: readonly ServiceProcess[], id: string, summary: JobSummary): Timeline {
  const submitted = Date.parse(summary.job.submitted_at);
  const finished = Date.parse(summary.job.finished_at);
  const lines = (role: string, msg: string) =>
    processes.filter((p) => p.role === role).flatMap((p) => p.lines.filter((l) => l.msg === msg && l.job === id)) as Array<{ time: number; ms?: number }>;
  const anchors = lines('coordinator', 'anchor features stored');
  const ready = lines('worker', 'job model ready');
  const scored = lines('worker', 'batch scored');
  if (anchors.length === 0 || ready.length === 0 || scored.length === 0) throw new Error(`job ${id}: the processes' logs miss its timeline (log level must be info or lower)`);
  const anchored = Math.max(...anchors.map((l) => l.time));
  const lastReady = Math.max(...ready.map((l) => l.time));
  const lastScored = Math.max(...scored.map((l) => l.time));
  return {
    wallSeconds: (finished - submitted) / 1000,
    anchorsSeconds: (anchored - submitted) / 1000,
    modelOpenSeconds: (lastReady - anchored) / 1000,
    scoringSeconds: (lastScored - lastReady) / 1000,
    finishSeconds: (finished - lastScored) / 1000,
    batchSecondsTotal: scored.reduce((s, l) => s + (l.ms ?? 0), 0) / 1000,
    batches: scored.length,
  };
}
