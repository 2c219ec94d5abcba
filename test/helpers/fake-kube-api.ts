/**
 * A small real HTTP server speaking the part of the Kubernetes API that `safesift k8s` uses:
 * create/patch/delete ConfigMaps, create/read Jobs, list pods by label selector, read a pod's log
 * (with follow). Every request is recorded. Jobs come back as the API server returns them: uid,
 * resourceVersion, creationTimestamp, and a controller-uid selector copied onto the pod template.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The parsed JSON body, if any. */
  body: unknown;
  authorization: string | undefined;
  contentType: string | undefined;
}

type KubeObject = { metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; [key: string]: unknown }; [key: string]: unknown };

/** A pod's log; with follow, `text` is sent, then `then.text` once `then.after` settles, then the stream ends. */
export interface FakeLog {
  text: string;
  then?: { after: Promise<unknown>; text: string };
}

export interface FakeKubeApi {
  url: string;
  requests: RecordedRequest[];
  /** Stored objects by `namespace/name`. */
  configMaps: Map<string, KubeObject>;
  jobs: Map<string, KubeObject>;
  pods: Map<string, KubeObject>;
  /** Adds a pod of a stored Job (labelled with its selector), in the given phase, with a log. */
  addJobPod(namespace: string, jobName: string, podName: string, phase: string, log?: FakeLog): KubeObject;
  setPodPhase(namespace: string, podName: string, phase: string): void;
  /** The next request matching method and path is answered with this error (a v1 Status). */
  failNext(method: string, path: RegExp, code: number, reason: string, message: string): void;
  /** Writes a kubeconfig pointing at this server; returns its path. */
  writeKubeconfig(dir: string, options?: { namespace?: string; token?: string }): Promise<string>;
  close(): Promise<void>;
}

const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const requests: RecordedRequest[] = [];
  const configMaps = new Map<string, KubeObject>();
  const jobs = new Map<string, KubeObject>();
  const pods = new Map<string, KubeObject>();
  const logs = new Map<string, FakeLog>();
  const failures: { method: string; path: RegExp; code: number; reason: string; message: string }[] = [];
  let version = 1000;

  const send = (res: ServerResponse, code: number, value: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  };
  const created = (namespace: string, body: KubeObject): KubeObject => ({
    ...body,
    metadata: { ...body.metadata, namespace, uid: randomUUID(), resourceVersion: String(++version), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
  });
  const create = (res: ServerResponse, store: Map<string, KubeObject>, kind: string, namespace: string, body: unknown, extend = (o: KubeObject) => o) => {
    const object = body as KubeObject;
    const name = object?.metadata?.name;
    if (typeof name !== 'string') return send(res, 422, status(422, 'Invalid', `${kind}: metadata.name: Required value`));
    if (object.metadata.namespace !== undefined && object.metadata.namespace !== namespace) {
      return send(res, 400, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    }
    if (store.has(`${namespace}/${name}`)) return send(res, 409, status(409, 'AlreadyExists', `${kind} "${name}" already exists`));
    const stored = extend(created(namespace, object));
    store.set(`${namespace}/${name}`, stored);
    return send(res, 201, stored);
  };
  const notFound = (res: ServerResponse, kind: string, name: string) => send(res, 404, status(404, 'NotFound', `${kind} "${name}" not found`));

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const body = text === '' ? undefined : JSON.parse(text);
    requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), body, authorization: req.headers.authorization, contentType: req.headers['content-type'] });

    const failure = failures.findIndex((f) => f.method === method && f.path.test(url.pathname));
    if (failure !== -1) {
      const [f] = failures.splice(failure, 1);
      return send(res, f!.code, status(f!.code, f!.reason, f!.message));
    }
    let m: RegExpExecArray | null;
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps$/.exec(url.pathname)) && method === 'POST') {
      return create(res, configMaps, 'configmaps', m[1]!, body);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/.exec(url.pathname))) {
      const key = `${m[1]}/${m[2]}`;
      const object = configMaps.get(key);
      if (object === undefined) return notFound(res, 'configmaps', m[2]!);
      if (method === 'DELETE') {
        configMaps.delete(key);
        return send(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      }
      if (method === 'PATCH') {
        if (req.headers['content-type'] !== 'application/json-patch+json') return send(res, 415, status(415, 'UnsupportedMediaType', `unsupported patch type ${req.headers['content-type']}`));
        for (const op of body as { op: string; path: string; value: unknown }[]) {
          const [, top, field] = op.path.split('/');
          if (op.op !== 'add' || top === undefined || field === undefined) return send(res, 422, status(422, 'Invalid', `fake: unsupported patch ${JSON.stringify(op)}`));
          (object[top] as Record<string, unknown>)[field] = op.value;
        }
        return send(res, 200, object);
      }
    }
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/.exec(url.pathname)) && method === 'POST') {
      return create(res, jobs, 'jobs.batch', m[1]!, body, (job) => {
        // As the API server does: a selector on the controller uid, copied onto the pod template.
        const labels = { 'batch.kubernetes.io/controller-uid': job.metadata.uid as string, 'batch.kubernetes.io/job-name': job.metadata.name, 'controller-uid': job.metadata.uid as string, 'job-name': job.metadata.name };
        const spec = job.spec as { template: { metadata?: { labels?: Record<string, string> } } };
        return {
          ...job,
          spec: { ...spec, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': job.metadata.uid } }, template: { ...spec.template, metadata: { ...spec.template.metadata, labels: { ...spec.template.metadata?.labels, ...labels } } } },
          status: {},
        };
      });
    }
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/]+)$/.exec(url.pathname)) && method === 'GET') {
      const job = jobs.get(`${m[1]}/${m[2]}`);
      return job === undefined ? notFound(res, 'jobs.batch', m[2]!) : send(res, 200, job);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname)) && method === 'GET') {
      const selector = (url.searchParams.get('labelSelector') ?? '').split(',').filter((s) => s !== '').map((s) => s.split('=') as [string, string]);
      const items = [...pods.entries()].filter(([key]) => key.startsWith(`${m![1]}/`)).map(([, pod]) => pod)
        .filter((pod) => selector.every(([k, v]) => pod.metadata.labels?.[k] === v));
      return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(version) }, items });
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(url.pathname)) && method === 'GET') {
      const key = `${m[1]}/${m[2]}`;
      const pod = pods.get(key);
      if (pod === undefined) return notFound(res, 'pods', m[2]!);
      const container = (pod.spec as { containers: { name: string }[] }).containers[0]?.name;
      if (url.searchParams.get('container') !== container) return send(res, 400, status(400, 'BadRequest', `container ${url.searchParams.get('container')} is not valid for pod ${m[2]}`));
      const log = logs.get(key) ?? { text: '' };
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(log.text);
      if (url.searchParams.get('follow') === 'true' && log.then) {
        await log.then.after;
        res.write(log.then.text);
      }
      return res.end();
    }
    return send(res, 404, status(404, 'NotFound', `fake: no route for ${method} ${url.pathname}`));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, status(500, 'InternalError', String(error))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    configMaps,
    jobs,
    pods,
    addJobPod(namespace, jobName, podName, phase, log) {
      const job = jobs.get(`${namespace}/${jobName}`);
      if (job === undefined) throw new Error(`fake: no job ${namespace}/${jobName}`);
      const template = (job.spec as { template: { metadata: { labels: Record<string, string> }; spec: unknown } }).template;
      const pod: KubeObject = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: podName, namespace, labels: { ...template.metadata.labels }, uid: randomUUID(), creationTimestamp: new Date(Date.now() + pods.size * 1000).toISOString().replace(/\.\d+Z$/, 'Z') },
        spec: template.spec,
        status: { phase, ...(phase === 'Pending' ? {} : { startTime: '2026-11-28T09:00:00Z' }) },
      };
      pods.set(`${namespace}/${podName}`, pod);
      if (log !== undefined) logs.set(`${namespace}/${podName}`, log);
      return pod;
    },
    setPodPhase(namespace, podName, phase) {
      const pod = pods.get(`${namespace}/${podName}`);
      if (pod === undefined) throw new Error(`fake: no pod ${namespace}/${podName}`);
      pod.status = { phase, startTime: '2026-11-28T09:00:00Z' };
    },
    failNext(method, path, code, reason, message) {
      failures.push({ method, path, code, reason, message });
    },
    async writeKubeconfig(dir, options = {}) {
      const file = join(dir, 'kubeconfig.yaml');
      await writeFile(file, stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'fake-user', user: { token: options.token ?? 'fake-token' } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake-user', ...(options.namespace ? { namespace: options.namespace } : {}) } }],
        'current-context': 'fake',
      }));
      return file;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
