import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseJobSpec } from '../../shared/src/distributed/job-spec.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { startFakeKubeApi, type FakeKubeApi, type RecordedRequest } from '../helpers/fake-kube-api.ts';
import { CLI, runCli, type CliResult } from '../helpers/run-cli.ts';

const NIGHTLY = [
  'k8s', 'submit', '--name', 'nightly', '--data', 's3://bkt/corpus/*.jsonl', '--model', 's3://bkt/models/m',
  '--harmful', 's3://bkt/a/h.jsonl', '--safe', 's3://bkt/a/s.jsonl', '--out', 's3://bkt/runs/nightly',
  '--namespace', 'audits', '--image', 'example/safesift:1', '--json',
];

let fake: FakeKubeApi;
let env: Record<string, string>;
let dir: string;

before(async () => {
  fake = await startFakeKubeApi();
  dir = tempDir('k8s');
  // The context's namespace is the default when --namespace is not given.
  env = { KUBECONFIG: await fake.writeKubeconfig(dir, { namespace: 'team-ns', token: 'test-token' }) };
});
after(() => fake.close());

const k8s = (args: string[]) => runCli(args, env);
const since = (start: number) => fake.requests.slice(start).map((r) => `${r.method} ${r.path}`);

/** A Job in the fake API, as `k8s submit` would have created it (status and logs need no real submit). */
async function createJob(name: string): Promise<string> {
  const response = await fetch(`${fake.url}/apis/batch/v1/namespaces/audits/jobs`, { method: 'POST', body: JSON.stringify(expectedJob(name, `${name}-spec`)) });
  assert.equal(response.status, 201);
  return name;
}

/** The audit Job of issue 5, written out by hand (not computed by auditJobManifest). */
function expectedJob(job: string, configMap: string) {
  const labels = {
    'app.kubernetes.io/name': 'safesift',
    'app.kubernetes.io/component': 'submit',
    'app.kubernetes.io/part-of': 'safesift',
    'safesift.dev/audit': job,
  };
  const securityContext = { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: job, namespace: 'audits', labels },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: 7 * 24 * 3600,
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: 'safesift',
          automountServiceAccountToken: false,
          restartPolicy: 'Never',
          securityContext: { ...securityContext, fsGroup: 10001 },
          containers: [{
            name: 'submit',
            image: 'example/safesift:1',
            imagePullPolicy: 'IfNotPresent',
            command: ['safesift'],
            args: ['submit', '/spec/job.yaml', '--wait', '--json'],
            env: [{ name: 'HOME', value: '/tmp' }],
            envFrom: [
              { configMapRef: { name: 'safesift-config' } },
              { secretRef: { name: 'safesift-s3', optional: true } },
              { secretRef: { name: 'safesift-nats' } },
            ],
            resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
            securityContext: { ...securityContext, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            volumeMounts: [{ name: 'spec', mountPath: '/spec', readOnly: true }, { name: 'tmp', mountPath: '/tmp' }, { name: 'nats-tls', mountPath: '/etc/safesift/nats-tls', readOnly: true }],
          }],
          volumes: [
            { name: 'spec', configMap: { name: configMap, items: [{ key: 'job.yaml', path: 'job.yaml' }] } },
            { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
            { name: 'nats-tls', secret: { secretName: 'safesift-nats-tls', optional: true, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          ],
        },
      },
    },
  };
}

test('k8s submit creates the spec ConfigMap, then the audit Job, then makes the Job own the ConfigMap', async () => {
  const start = fake.requests.length;
  const result = await k8s(NIGHTLY);
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout) as Record<string, string>;
  const job = printed.job!;
  assert.match(job, /^nightly-[0-9a-f]{6}$/);
  const configMap = `${job}-spec`;
  assert.deepEqual(printed, { job, namespace: 'audits', context: 'fake', configMap, image: 'example/safesift:1', name: 'nightly', out: 's3://bkt/runs/nightly', state: 'submitted' });

  assert.deepEqual(since(start), [
    'POST /api/v1/namespaces/audits/configmaps',
    'POST /apis/batch/v1/namespaces/audits/jobs',
    `PATCH /api/v1/namespaces/audits/configmaps/${configMap}`,
  ]);
  const [cmRequest, jobRequest, patch] = fake.requests.slice(start) as [RecordedRequest, RecordedRequest, RecordedRequest];
  for (const request of [cmRequest, jobRequest, patch]) assert.equal(request.authorization, 'Bearer test-token');

  assert.deepEqual(jobRequest.body, expectedJob(job, configMap));

  const cm = cmRequest.body as { metadata: unknown; data: Record<string, string> };
  assert.deepEqual(cm.metadata, {
    name: configMap,
    namespace: 'audits',
    labels: { 'app.kubernetes.io/name': 'safesift', 'app.kubernetes.io/component': 'submit', 'app.kubernetes.io/part-of': 'safesift' },
  });
  assert.deepEqual(Object.keys(cm.data), ['job.yaml']);
  // What the pod's `safesift submit /spec/job.yaml` will read: the flags, globs unexpanded.
  assert.deepEqual(parseJobSpec(cm.data['job.yaml']!, '/spec/job.yaml'), {
    name: 'nightly',
    data: ['s3://bkt/corpus/*.jsonl'],
    model: 's3://bkt/models/m',
    harmful: ['s3://bkt/a/h.jsonl'],
    safe: ['s3://bkt/a/s.jsonl'],
    out: 's3://bkt/runs/nightly',
  });

  const uid = fake.jobs.get(`audits/${job}`)!.metadata.uid;
  assert.equal(patch.contentType, 'application/json-patch+json');
  assert.deepEqual(patch.body, [{ op: 'add', path: '/metadata/ownerReferences', value: [{ apiVersion: 'batch/v1', kind: 'Job', name: job, uid }] }]);
  assert.deepEqual(fake.configMaps.get(`audits/${configMap}`)!.metadata.ownerReferences, [{ apiVersion: 'batch/v1', kind: 'Job', name: job, uid }]);
});

test('k8s submit rejects local paths and bad specs before any request', async () => {
  const start = fake.requests.length;
  const local = await k8s(NIGHTLY.map((a) => ({ 's3://bkt/corpus/*.jsonl': 'corpus.jsonl', 's3://bkt/runs/nightly': 'runs/nightly' })[a] ?? a));
  assert.equal(local.code, 2);
  assert.match(local.stderr, /--data corpus\.jsonl: a Kubernetes job reads its inputs from S3; use s3:\/\/…\n--out runs\/nightly: a Kubernetes job writes its outputs to S3; use s3:\/\/…\n/);

  const spec = join(dir, 'local.yaml');
  writeFileSync(spec, 'out: s3://bkt/runs/x\nmodel: ./checkpoints/llama\n');
  const fromFile = await k8s(['k8s', 'submit', spec]);
  assert.equal(fromFile.code, 2);
  assert.ok(fromFile.stderr.includes(`${spec}: model ./checkpoints/llama: a Kubernetes job reads its model from S3`), fromFile.stderr);

  // Checked as the pod's `safesift submit` will check the spec: a bucket name has 3-63 characters.
  const invalid = await k8s(NIGHTLY.map((a) => (a === 'nightly' ? 'Nightly Run' : a.replace('s3://bkt/corpus/', 's3://b/corpus/'))));
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /job spec \(from the command line\): name: expected lower-case letters, digits and inner dashes/);
  assert.match(invalid.stderr, /job spec \(from the command line\): data\[0\]: expected s3:\/\/bucket\/key, got 's3:\/\/b\/corpus\/\*\.jsonl'/);

  // And compiled as it will compile it: each anchor set is one file.
  const anchorGlob = await k8s(NIGHTLY.map((a) => (a === 's3://bkt/a/h.jsonl' ? 's3://bkt/a/*.jsonl' : a)));
  assert.equal(anchorGlob.code, 2);
  assert.match(anchorGlob.stderr, /harmful: 's3:\/\/bkt\/a\/\*\.jsonl' must name one anchor file/);
  assert.deepEqual(since(start), []);
});

test('k8s submit from a spec file: flags override it, the context names the namespace, the Job name is printed', async () => {
  const spec = join(dir, 'weekly-audit.yaml');
  writeFileSync(spec, 'data: [s3://bkt/c/a.parquet]\nout: s3://bkt/runs/w\nk: 20\nmethod: rep\n');
  const start = fake.requests.length;
  const result = await k8s(['k8s', 'submit', spec, '--k', '7']);
  assert.equal(result.code, 0, result.stderr);
  const job = result.stdout.trim();
  assert.match(job, /^weekly-audit-[0-9a-f]{6}$/);
  assert.deepEqual(since(start).slice(0, 2), ['POST /api/v1/namespaces/team-ns/configmaps', 'POST /apis/batch/v1/namespaces/team-ns/jobs']);
  const cm = fake.configMaps.get(`team-ns/${job}-spec`)!;
  assert.deepEqual(parseJobSpec((cm.data as Record<string, string>)['job.yaml']!, 'job.yaml'), {
    name: 'weekly-audit', data: ['s3://bkt/c/a.parquet'], out: 's3://bkt/runs/w', k: 7, method: 'rep',
  });
  const image = ((fake.jobs.get(`team-ns/${job}`)!.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]!.image);
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(image, `ghcr.io/safesift/safesift:${version}`);
});

test('k8s submit: a refused Job is reported and its ConfigMap removed', async () => {
  fake.failNext('POST', /\/jobs$/, 403, 'Forbidden', 'jobs.batch is forbidden: User "dev" cannot create resource "jobs"');
  const start = fake.requests.length;
  const result = await k8s(NIGHTLY);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /creating Job nightly-[0-9a-f]{6} in namespace audits: the Kubernetes API answered 403 Forbidden: jobs\.batch is forbidden/);
  const requests = since(start);
  assert.equal(requests.length, 3);
  assert.match(requests[2]!, /^DELETE \/api\/v1\/namespaces\/audits\/configmaps\/nightly-[0-9a-f]{6}-spec$/);
  assert.ok(!fake.configMaps.has(requests[2]!.replace(/^DELETE \/api\/v1\/namespaces\/(.+)\/configmaps\/(.+)$/, '$1/$2')));
  assert.deepEqual(JSON.parse(result.stdout), { status: 'failed', error: { kind: 'KubeApiError', message: result.stderr.replace(/^safesift: /, '').trim(), exit_code: 1 } });
});

test('k8s status reads the Job and its pods', async () => {
  const job = await createJob('status-job');
  const stored = fake.jobs.get(`audits/${job}`)!;
  stored.status = { active: 1, startTime: '2026-11-28T09:00:00Z' };
  fake.addJobPod('audits', job, `${job}-x1`, 'Running');
  const start = fake.requests.length;
  const running = await k8s(['k8s', 'status', job, '--namespace', 'audits', '--json']);
  assert.equal(running.code, 0, running.stderr);
  assert.deepEqual(JSON.parse(running.stdout), {
    job, namespace: 'audits', state: 'active', active: 1, succeeded: 0, failed: 0,
    startTime: '2026-11-28T09:00:00.000Z', completionTime: null, reason: null, message: null,
    pods: [{ name: `${job}-x1`, phase: 'Running', startTime: '2026-11-28T09:00:00.000Z', reason: null }],
  });
  const uid = stored.metadata.uid;
  assert.deepEqual(fake.requests.slice(start).map((r) => [r.method, r.path, r.query]), [
    ['GET', `/apis/batch/v1/namespaces/audits/jobs/${job}`, {}],
    ['GET', '/api/v1/namespaces/audits/pods', { labelSelector: `batch.kubernetes.io/controller-uid=${uid}` }],
  ]);

  stored.status = {
    failed: 1, startTime: '2026-11-28T09:00:00Z',
    conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }],
  };
  fake.setPodPhase('audits', `${job}-x1`, 'Failed');
  const failed = await k8s(['k8s', 'status', job, '--namespace', 'audits']);
  assert.equal(failed.code, 0, failed.stderr);
  assert.match(failed.stdout, new RegExp(`^job ${job} \\(namespace audits\\): failed \\(BackoffLimitExceeded: Job has reached the specified backoff limit\\)\n`));
  assert.match(failed.stdout, /pods: 0 active, 0 succeeded, 1 failed/);
  assert.match(failed.stdout, new RegExp(`${job}-x1  Failed`));

  const missing = await k8s(['k8s', 'status', 'no-such-job', '--namespace', 'audits']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /job no-such-job: not found in namespace audits \(context fake\)/);
});

test('k8s logs prints the log of the newest pod', async () => {
  const job = await createJob('logs-job');
  fake.addJobPod('audits', job, `${job}-old`, 'Failed', { text: 'first attempt\n' });
  fake.addJobPod('audits', job, `${job}-new`, 'Succeeded', { text: 'submitted nightly\n{"state":"complete"}\n' });
  const start = fake.requests.length;
  const result = await k8s(['k8s', 'logs', job, '--namespace', 'audits']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'submitted nightly\n{"state":"complete"}\n');
  const log = fake.requests.slice(start).find((r) => r.path.endsWith('/log'))!;
  assert.equal(log.path, `/api/v1/namespaces/audits/pods/${job}-new/log`);
  assert.equal(log.query.container, 'submit');
  assert.equal(log.query.follow, 'false');
});

test('k8s logs --follow waits for a pending pod, then streams its log as it is written', async () => {
  const job = await createJob('follow-job');
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  fake.addJobPod('audits', job, `${job}-p`, 'Pending', { text: 'line 1\n', then: { after: released, text: 'line 2\n' } });
  const child = spawn(process.execPath, [CLI, 'k8s', 'logs', job, '--namespace', 'audits', '--follow'], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const logRequests = () => fake.requests.filter((r) => r.path === `/api/v1/namespaces/audits/pods/${job}-p/log`).length;
  const podLists = () => fake.requests.filter((r) => r.path === '/api/v1/namespaces/audits/pods').length;
  const listsBefore = podLists();
  await until(() => podLists() > listsBefore, () => stderr);
  assert.equal(logRequests(), 0); // still Pending: no log asked for yet
  fake.setPodPhase('audits', `${job}-p`, 'Running');
  // The first line arrives while the server still holds the stream open.
  await until(() => stdout === 'line 1\n', () => stderr);
  release();
  assert.equal(await exited, 0, stderr);
  assert.equal(stdout, 'line 1\nline 2\n');
  const log = fake.requests.find((r) => r.path === `/api/v1/namespaces/audits/pods/${job}-p/log`)!;
  assert.equal(log.query.follow, 'true');
});

test('k8s logs without --follow on a pending pod says so', async () => {
  const job = await createJob('pending-job');
  fake.addJobPod('audits', job, `${job}-w`, 'Pending');
  const result: CliResult = await k8s(['k8s', 'logs', job, '--namespace', 'audits']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, new RegExp(`job ${job} \\(pending\\): pod ${job}-w is Pending, so no log to show; --follow waits for it`));
});

async function until(condition: () => boolean, context: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out; stderr: ${context()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
