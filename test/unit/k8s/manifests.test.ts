/**
 * The manifests of k8s/ (base and both overlays) as renderManifests composes them: valid
 * Kubernetes objects, and the properties the deployment relies on.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { CONSUMERS, STREAMS } from '../../../shared/src/bus/topology.ts';
import { parseJobSpec } from '../../../shared/src/distributed/job-spec.ts';
import { auditJobManifest } from '../../../shared/src/k8s/audit-job.ts';
import type { K8sObject } from '../../../shared/src/k8s/k8s-object.ts';
import { OVERLAYS, renderManifests, type Overlay } from '../../../shared/src/k8s/render-manifests.ts';
import { validateK8sObject } from './k8s-schemas.ts';
import { containers, find, GPU, podSpec, selects, SERVICES } from './manifest-queries.ts';

const run = promisify(execFile);
const rendered = Object.fromEntries(await Promise.all(OVERLAYS.map(async (o) => [o, await renderManifests({ overlay: o })] as const))) as Record<Overlay, K8sObject[]>;
const scratch = await mkdtemp(join(tmpdir(), 'safesift-k8s-'));
after(() => rm(scratch, { recursive: true, force: true }));

for (const overlay of OVERLAYS) {
  const objects = rendered[overlay];

  test(`${overlay}: every object is a valid Kubernetes object (schemas, no unknown fields), in namespace safesift`, () => {
    assert.ok(objects.length >= 15);
    for (const o of objects) {
      validateK8sObject(o);
      assert.equal(o.metadata.namespace, 'safesift', `${o.kind}/${o.metadata.name}`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'safesift', `${o.kind}/${o.metadata.name} part-of label`);
    }
  });

  test(`${overlay}: every container is locked down, bounded and has a writable /tmp; images are pinned`, () => {
    const pods = objects.filter((o) => podSpec(o) !== undefined);
    assert.deepEqual(pods.map((o) => o.kind).sort(), ['CronJob', 'Deployment', 'Deployment', 'Deployment', 'StatefulSet']);
    for (const o of pods) {
      const pod = podSpec(o)!;
      assert.equal(pod.automountServiceAccountToken, false, `${o.metadata.name}: no API token`);
      assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
      assert.equal(pod.securityContext.runAsNonRoot, true);
      for (const c of containers(o)) {
        const where = `${o.metadata.name}/${c.name}`;
        const sc = c.securityContext;
        assert.equal(sc.runAsNonRoot, true, where);
        assert.equal(sc.runAsUser, 10001, where);
        assert.equal(sc.readOnlyRootFilesystem, true, where);
        assert.equal(sc.allowPrivilegeEscalation, false, where);
        assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, where);
        assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' }, where);
        for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) assert.ok(c.resources?.[kind]?.[r], `${where}: ${kind}.${r}`);
        const tmp = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/tmp');
        assert.ok(pod.volumes.find((v: { name: string }) => v.name === tmp?.name)?.emptyDir, `${where}: /tmp is an emptyDir`);
        assert.match(c.image, /^[^:@]+(:[\w][\w.-]*)(@sha256:[0-9a-f]{64})?$/, `${where}: image has a tag`);
        assert.doesNotMatch(c.image, /:latest$/, where);
        for (const e of c.env ?? []) assert.ok(!(/SECRET|PASSWORD|TOKEN|ACCESS_KEY/.test(e.name) && 'value' in e), `${where}: ${e.name} is a literal secret`);
      }
    }
  });

  test(`${overlay}: coordinator, worker and reducer take config from env, probe /healthz and /readyz on 9464, and cache on an emptyDir`, () => {
    for (const name of SERVICES) {
      const d = find(objects, 'Deployment', `safesift-${name}`);
      const [c] = containers(d);
      const port = c.ports.find((p: { containerPort: number }) => p.containerPort === 9464);
      assert.ok(port, `${name}: port 9464`);
      assert.deepEqual(c.command, ['safesift']);
      assert.equal(c.args[0], name);
      assert.equal(c.args[c.args.indexOf('--metrics-port') + 1], '9464', `${name}: serves metrics and probes on 9464`);
      for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
        assert.equal(c[probe].httpGet.path, path, `${name} ${probe}`);
        assert.ok(c[probe].httpGet.port === 9464 || c[probe].httpGet.port === port.name, `${name} ${probe} port`);
      }
      assert.deepEqual(c.envFrom, [
        { configMapRef: { name: 'safesift-config' } },
        { secretRef: { name: 'safesift-s3', optional: true } },
        { secretRef: { name: 'safesift-nats' } },
      ]);
      const cache = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/cache');
      assert.ok(podSpec(d)!.volumes.find((v: { name: string }) => v.name === cache?.name)?.emptyDir, `${name}: /cache`);
      assert.equal(c.env.find((e: { name: string }) => e.name === 'SAFESIFT_CACHE_DIR')?.value, '/cache');
    }
    const worker = find(objects, 'Deployment', 'safesift-worker');
    assert.ok(podSpec(worker)!.terminationGracePeriodSeconds >= 600, 'a worker may finish its batch');
    const threads = containers(worker)[0].env.find((e: { name: string }) => e.name === 'SAFESIFT_THREADS');
    assert.deepEqual(threads.valueFrom.resourceFieldRef, { containerName: 'worker', resource: 'limits.cpu', divisor: '1' });
  });

  test(`${overlay}: NATS runs JetStream on a volume with 8 MB payloads, behind a client and a headless Service`, async () => {
    const nats = find(objects, 'StatefulSet', 'safesift-nats');
    const config = find(objects, 'ConfigMap', 'safesift-nats-config').data['nats.conf'] as string;
    assert.match(config, /^max_payload: 8MB$/m);
    const storeDir = /store_dir: (\S+)/.exec(config)?.[1];
    const [claim] = nats.spec.volumeClaimTemplates;
    const [c] = containers(nats);
    const mount = c.volumeMounts.find((m: { name: string }) => m.name === claim.metadata.name);
    assert.ok(storeDir?.startsWith(`${mount.mountPath}/`), `store_dir ${storeDir} is on the claim's mount`);
    const headless = find(objects, 'Service', nats.spec.serviceName);
    assert.equal(headless.spec.clusterIP, 'None');
    const client = find(objects, 'Service', 'safesift-nats');
    assert.ok(selects(client.spec.selector, nats.spec.template.metadata.labels));
    const url = new URL(find(objects, 'ConfigMap', 'safesift-config').data.NATS_URL);
    assert.equal(url.hostname, client.metadata.name);
    assert.ok(client.spec.ports.some((p: { port: number }) => String(p.port) === url.port));
    // the Debian nats-server accepts the config as written (with a throwaway certificate where it wants TLS)
    const file = join(scratch, `${overlay}-nats.conf`);
    await writeFile(file, config.replace(storeDir!, join(scratch, 'js')).replaceAll('/etc/nats-tls/', `${await throwawayCertificate()}/`));
    await run('/usr/sbin/nats-server', ['-c', file, '-t'], { env: { ...process.env, POD_NAME: 'safesift-nats-0', SAFESIFT_NATS_TOKEN: 'test-token' } });
  });

  test(`${overlay}: NATS takes only clients with the token of the Secret safesift-nats, which every safesift pod requires`, () => {
    const config = find(objects, 'ConfigMap', 'safesift-nats-config').data['nats.conf'] as string;
    assert.match(config, /authorization \{\s*token: \$SAFESIFT_NATS_TOKEN\s*\}/);
    const [server] = containers(find(objects, 'StatefulSet', 'safesift-nats'));
    const token = server.env.find((e: { name: string }) => e.name === 'SAFESIFT_NATS_TOKEN');
    assert.deepEqual(token.valueFrom, { secretKeyRef: { name: 'safesift-nats', key: 'SAFESIFT_NATS_TOKEN' } });
    for (const o of objects.filter((x) => podSpec(x) !== undefined && x.metadata.name !== 'safesift-nats')) {
      for (const c of containers(o)) {
        const ref = (c.envFrom ?? []).find((e: { secretRef?: { name: string } }) => e.secretRef?.name === 'safesift-nats');
        assert.ok(ref && ref.secretRef.optional !== true, `${o.metadata.name}/${c.name}: the NATS Secret is required`);
      }
    }
  });

  test(`${overlay}: NetworkPolicies: workers reach only DNS, NATS and S3; NATS takes clients only from safesift pods`, () => {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as any[];
    const worker = find(objects, 'Deployment', 'safesift-worker').spec.template.metadata.labels;
    const natsPod = find(objects, 'StatefulSet', 'safesift-nats').spec.template.metadata.labels;
    const forWorker = policies.filter((p) => selects(p.spec.podSelector.matchLabels ?? {}, worker));
    assert.ok(forWorker.some((p) => p.spec.podSelector.matchLabels === undefined && p.spec.policyTypes.includes('Egress') && p.spec.egress === undefined), 'default deny');
    const egress = forWorker.flatMap((p) => p.spec.egress ?? []);
    const ports = egress.flatMap((rule: any) => rule.ports.map((p: any) => `${p.protocol}/${p.port}`)).sort();
    const s3Port = overlay === 'dev' ? ['TCP/443', 'TCP/9000'] : ['TCP/443'];
    assert.deepEqual(ports, ['TCP/4222', 'TCP/53', 'UDP/53', ...s3Port].sort());
    const toNats = egress.find((rule: any) => rule.ports.some((p: any) => p.port === 4222));
    assert.ok(toNats.to.every((peer: any) => selects(peer.podSelector.matchLabels, natsPod)), 'port 4222 only to the NATS pod');
    const natsPolicy = policies.find((p) => p.metadata.name === 'safesift-nats');
    assert.ok(selects(natsPolicy.spec.podSelector.matchLabels, natsPod));
    const clientRule = natsPolicy.spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 4222));
    assert.ok(selects(clientRule.from[0].podSelector.matchLabels, worker));
    assert.ok(!selects(clientRule.from[0].podSelector.matchLabels, { app: 'anything-else', 'app.kubernetes.io/part-of': 'safesift' }));
  });

  test(`${overlay}: accounts use no Kubernetes API; the submitter Role grants only what k8s submit needs`, () => {
    const bindings = objects.filter((o) => o.kind === 'RoleBinding') as any[];
    for (const b of bindings) assert.ok(!b.subjects.some((s: any) => s.kind === 'ServiceAccount'), `${b.metadata.name} binds no service account`);
    const role = find(objects, 'Role', 'safesift-submitter');
    const grants = role.rules.flatMap((r: any) => r.resources.flatMap((res: string) => r.verbs.map((v: string) => `${res}:${v}`))).sort();
    assert.deepEqual(grants, ['configmaps:create', 'configmaps:get', 'jobs:create', 'jobs:get', 'jobs:list', 'jobs:watch', 'pods/log:get', 'pods:get', 'pods:list', 'pods:watch']);
    for (const sa of objects.filter((o) => o.kind === 'ServiceAccount')) assert.equal(sa.automountServiceAccountToken, false);
  });

  test(`${overlay}: PodDisruptionBudgets cover the workers and NATS`, () => {
    const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget') as any[];
    for (const [kind, name] of [['Deployment', 'safesift-worker'], ['StatefulSet', 'safesift-nats']] as const) {
      const labels = find(objects, kind, name).spec.template.metadata.labels;
      assert.ok(pdbs.some((p) => selects(p.spec.selector.matchLabels, labels)), name);
    }
  });

  test(`${overlay}: the nightly CronJob submits the mounted spec and waits; the spec parses`, async () => {
    const cron = find(objects, 'CronJob', 'safesift-nightly');
    assert.equal(cron.spec.concurrencyPolicy, 'Forbid');
    assert.equal(cron.spec.jobTemplate.spec.backoffLimit, 0);
    const pod = podSpec(cron)!;
    const [c] = containers(cron);
    const specVolume = pod.volumes.find((v: any) => v.configMap?.name === 'safesift-nightly-spec');
    const mount = c.volumeMounts.find((m: any) => m.name === specVolume.name);
    const spec = find(objects, 'ConfigMap', 'safesift-nightly-spec').data;
    const raw = parseJobSpec(spec['nightly.yaml'], 'nightly.yaml');
    assert.equal(raw.name, 'nightly');
    assert.ok([raw.out, raw.model, ...(raw.data ?? []), ...(raw.harmful ?? []), ...(raw.safe ?? [])].every((l) => l?.startsWith('s3://')));
    // Run the script with a stand-in `safesift` that prints its arguments.
    const bin = join(scratch, `${overlay}-bin`);
    await run('mkdir', ['-p', bin]);
    await writeFile(join(bin, 'safesift'), '#!/bin/sh\nprintf "%s\\n" "$@"\n');
    await chmod(join(bin, 'safesift'), 0o755);
    const script = c.args[0].replaceAll('$$', '$'); // Kubernetes' escape of a literal $
    const env = { PATH: `${bin}:/usr/bin:/bin`, OUT_PREFIX: spec['out-prefix'] };
    const { stdout } = await run(c.command[0], [...c.command.slice(1), script], { env });
    const date = new Date().toISOString().slice(0, 10);
    assert.deepEqual(stdout.trim().split('\n'), ['submit', `${mount.mountPath}/nightly.yaml`, '--out', `${spec['out-prefix']}/${date}`, '--wait', '--json']);
    const fallback = await run(c.command[0], [...c.command.slice(1), script], { env: { PATH: env.PATH } });
    assert.deepEqual(fallback.stdout.trim().split('\n'), ['submit', `${mount.mountPath}/nightly.yaml`, '--wait', '--json']);
  });

  test(`${overlay}: an audit Job built in code is locked down like the manifests' pods`, () => {
    const job = auditJobManifest({ jobName: 'audit-x', namespace: 'safesift', image: 'img:1', specConfigMap: 'audit-x-spec' }) as unknown as K8sObject;
    validateK8sObject(job);
    const cron = find(objects, 'CronJob', 'safesift-nightly');
    assert.deepEqual(podSpec(job)!.securityContext, podSpec(cron)!.securityContext);
    assert.deepEqual(containers(job)[0].securityContext, containers(cron)[0].securityContext);
    assert.deepEqual(containers(job)[0].envFrom, containers(cron)[0].envFrom);
    assert.equal(podSpec(job)!.serviceAccountName, podSpec(cron)!.serviceAccountName);
    for (const key of ['app.kubernetes.io/name', 'app.kubernetes.io/part-of']) {
      assert.equal(job.metadata.labels?.[key], cron.spec.jobTemplate.spec.template.metadata.labels[key], `${key}: NetworkPolicies apply`);
    }
  });
}

test('prod workers request a GPU on GPU nodes with the CUDA image; dev and base request none', () => {
  const gpuContainers = (objects: K8sObject[]) => objects.flatMap((o) => containers(o).filter((c) => c.resources?.limits?.[GPU] !== undefined).map((c) => `${o.metadata.name}/${c.name}`));
  assert.deepEqual(gpuContainers(rendered.prod), ['safesift-worker/worker']);
  assert.deepEqual(gpuContainers(rendered.dev), []);
  assert.deepEqual(gpuContainers(rendered.base), []);
  const worker = find(rendered.prod, 'Deployment', 'safesift-worker');
  assert.equal(containers(worker)[0].resources.limits[GPU], '1');
  assert.ok(Object.keys(podSpec(worker)!.nodeSelector).some((k) => k.startsWith('nvidia.com/')));
  assert.ok(podSpec(worker)!.tolerations.some((t: any) => t.key === GPU));
  assert.match(containers(worker)[0].image, /cuda/);
  assert.doesNotMatch(containers(find(rendered.prod, 'Deployment', 'safesift-coordinator'))[0].image, /cuda/);
});

test('KEDA scales the workers on the lag of the workers consumer of the batch stream; dev has one fixed worker', () => {
  for (const overlay of ['base', 'prod'] as const) {
    const so = find(rendered[overlay], 'ScaledObject', 'safesift-worker');
    assert.equal(so.spec.scaleTargetRef.name, 'safesift-worker');
    assert.equal(so.spec.scaleTargetRef.kind, 'Deployment');
    const [trigger] = so.spec.triggers;
    assert.equal(trigger.type, 'nats-jetstream');
    assert.equal(trigger.metadata.stream, STREAMS.batches);
    assert.equal(trigger.metadata.consumer, CONSUMERS.workers);
    const [host, port] = trigger.metadata.natsServerMonitoringEndpoint.split(':');
    assert.equal(host, 'safesift-nats.safesift.svc.cluster.local');
    assert.ok(find(rendered[overlay], 'Service', 'safesift-nats').spec.ports.some((p: any) => String(p.port) === port));
    assert.equal(find(rendered[overlay], 'Deployment', 'safesift-worker').spec.replicas, undefined, 'KEDA owns the replica count');
  }
  assert.ok(find(rendered.prod, 'ScaledObject', 'safesift-worker').spec.maxReplicaCount > find(rendered.base, 'ScaledObject', 'safesift-worker').spec.maxReplicaCount);
  assert.equal(rendered.dev.find((o) => o.kind === 'ScaledObject'), undefined);
  assert.equal(find(rendered.dev, 'Deployment', 'safesift-worker').spec.replicas, 1);
  assert.match(find(rendered.dev, 'ConfigMap', 'safesift-config').data.AWS_ENDPOINT_URL, /^http:\/\//);
  assert.equal(find(rendered.base, 'ConfigMap', 'safesift-config').data.AWS_ENDPOINT_URL, undefined);
});

test('dev is smaller than prod for every service', () => {
  const memory = (objects: K8sObject[], kind: string, name: string) => parseQuantity(containers(find(objects, kind, name))[0].resources.limits.memory);
  for (const [kind, name] of [['Deployment', 'safesift-coordinator'], ['Deployment', 'safesift-worker'], ['Deployment', 'safesift-reducer'], ['StatefulSet', 'safesift-nats']]) {
    assert.ok(memory(rendered.dev, kind!, name!) < memory(rendered.prod, kind!, name!), name);
  }
});

test('--namespace and image overrides reach every object, the KEDA endpoint and only the right containers', async () => {
  const objects = await renderManifests({ overlay: 'prod', namespace: 'audits', image: 'ghcr.io/acme/safesift:9.9', gpuImage: 'ghcr.io/acme/safesift-cuda:9.9' });
  for (const o of objects) assert.equal(o.metadata.namespace, 'audits');
  const endpoint = find(objects, 'ScaledObject', 'safesift-worker').spec.triggers[0].metadata.natsServerMonitoringEndpoint;
  assert.equal(endpoint, 'safesift-nats.audits.svc.cluster.local:8222');
  const image = (kind: string, name: string) => containers(find(objects, kind, name))[0].image;
  assert.equal(image('Deployment', 'safesift-worker'), 'ghcr.io/acme/safesift-cuda:9.9');
  assert.equal(image('Deployment', 'safesift-coordinator'), 'ghcr.io/acme/safesift:9.9');
  assert.equal(image('CronJob', 'safesift-nightly'), 'ghcr.io/acme/safesift:9.9');
  assert.match(image('StatefulSet', 'safesift-nats'), /^nats:/);
});

function parseQuantity(q: string): number {
  const units: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  const m = /^(\d+)([KMGT]i)?$/.exec(q);
  assert.ok(m, `quantity ${q}`);
  return Number(m[1]) * units[m[2] ?? '']!;
}

test('every flag the manifests pass is an option of that safesift command', async () => {
  const { serviceCommands } = await import('../../../services/cli/src/cluster/service-commands.ts');
  const { submitCommand } = await import('../../../services/cli/src/cluster/submit-command.ts');
  const commands = new Map([...serviceCommands(), submitCommand()].map((c) => [c.name(), new Set(c.options.map((o) => o.long))]));
  let checked = 0;
  for (const overlay of OVERLAYS) {
    for (const o of rendered[overlay]) {
      for (const c of containers(o)) {
        if (c.command?.[0] !== 'safesift') continue;
        const [name, ...args] = c.args as string[];
        const known = commands.get(name!);
        assert.ok(known, `${o.metadata.name}: safesift ${name} exists`);
        for (const flag of args.filter((a) => a.startsWith('--'))) assert.ok(known.has(flag), `${o.metadata.name}: safesift ${name} ${flag}`);
        checked++;
      }
    }
    // the nightly script's command line
    const script = containers(find(rendered[overlay], 'CronJob', 'safesift-nightly'))[0].args[0] as string;
    for (const line of script.split('\n').filter((l) => l.includes('safesift submit'))) {
      for (const flag of line.match(/\s--[a-z-]+/g) ?? []) assert.ok(commands.get('submit')!.has(flag.trim()), flag);
    }
  }
  assert.equal(checked, 9);
  const job = auditJobManifest({ jobName: 'a', namespace: 'n', image: 'i:1', specConfigMap: 'c' }) as unknown as K8sObject;
  for (const flag of (containers(job)[0].args as string[]).filter((a) => a.startsWith('--'))) assert.ok(commands.get('submit')!.has(flag), flag);
});

test('prod: NATS serves TLS from the Secret safesift-nats-tls, and every client dials tls:// and checks its CA', () => {
  const objects = rendered.prod;
  const config = find(objects, 'ConfigMap', 'safesift-nats-config').data['nats.conf'] as string;
  const certFile = /cert_file: (\S+)/.exec(config)?.[1];
  const nats = find(objects, 'StatefulSet', 'safesift-nats');
  const tlsVolume = podSpec(nats)!.volumes.find((v: { secret?: { secretName: string } }) => v.secret?.secretName === 'safesift-nats-tls');
  const mount = containers(nats)[0].volumeMounts.find((m: { name: string }) => m.name === tlsVolume?.name);
  assert.ok(certFile?.startsWith(`${mount?.mountPath}/`), `cert_file ${certFile} is in the mounted Secret`);
  const settings = find(objects, 'ConfigMap', 'safesift-config').data;
  assert.equal(new URL(settings.NATS_URL).protocol, 'tls:');
  const ca = settings.SAFESIFT_NATS_TLS_CA as string;
  for (const o of objects.filter((x) => podSpec(x) !== undefined && x.metadata.name !== 'safesift-nats')) {
    const pod = podSpec(o)!;
    for (const c of containers(o)) {
      const m = c.volumeMounts.find((v: { mountPath: string }) => ca.startsWith(`${v.mountPath}/`));
      const volume = pod.volumes.find((v: { name: string }) => v.name === m?.name);
      assert.equal(volume?.secret?.secretName, 'safesift-nats-tls', `${o.metadata.name}/${c.name} mounts the CA at ${ca}`);
    }
  }
  for (const overlay of ['base', 'dev'] as const) {
    assert.doesNotMatch(find(rendered[overlay], 'ConfigMap', 'safesift-nats-config').data['nats.conf'], /tls \{/, `${overlay}: plain`);
  }
});

let certificateDir: string | undefined;
/** A self-signed certificate for nats-server's config test, made once with Debian's openssl. */
async function throwawayCertificate(): Promise<string> {
  if (certificateDir) return certificateDir;
  const dir = join(scratch, 'tls');
  await run('/usr/bin/mkdir', ['-p', dir]);
  await run('/usr/bin/openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=safesift-nats', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')]);
  certificateDir = dir;
  return dir;
}
