/**
 * The Kubernetes connection of the `safesift k8s` commands: a kubeconfig (--kubeconfig, else
 * $KUBECONFIG or ~/.kube/config), an optional context, the namespace, and the typed API clients.
 * Import this module lazily (`await import(...)`): @kubernetes/client-node takes about 2 s to load,
 * which every other command would otherwise pay.
 */
import { ApiException, BatchV1Api, CoreV1Api, KubeConfig, Log, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { ConfigError, SafesiftError } from '../errors.ts';

/** Used when neither --namespace nor the kubeconfig context names one. */
export const DEFAULT_NAMESPACE = 'safesift';

export interface KubeTarget {
  /** A kubeconfig file; default $KUBECONFIG, else ~/.kube/config. */
  kubeconfig?: string | undefined;
  /** A context of that kubeconfig; default its current-context. */
  context?: string | undefined;
  /** Default: the context's namespace, else DEFAULT_NAMESPACE. */
  namespace?: string | undefined;
}

export interface KubeClient {
  config: KubeConfig;
  context: string;
  namespace: string;
  /** The API server's URL, for messages. */
  server: string;
  batch: BatchV1Api;
  core: CoreV1Api;
  log: Log;
}

/** A request the API server refused, or could not be sent; `status` is 0 when no answer came. */
export class KubeApiError extends SafesiftError {
  constructor(readonly status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function connectKube(target: KubeTarget): KubeClient {
  const config = new KubeConfig();
  try {
    if (target.kubeconfig !== undefined) config.loadFromFile(target.kubeconfig);
    else config.loadFromDefault();
  } catch (error) {
    throw new ConfigError(`cannot load kubeconfig ${target.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config'}: ${(error as Error).message}`);
  }
  if (target.context !== undefined) {
    if (config.getContextObject(target.context) === null) {
      const known = config.getContexts().map((c) => c.name);
      throw new ConfigError(`--context ${target.context}: no such context in the kubeconfig (it has: ${known.join(', ') || 'none'})`);
    }
    config.setCurrentContext(target.context);
  }
  const context = config.getCurrentContext();
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new ConfigError(`kubeconfig context '${context}' names no cluster`);
  const namespace = target.namespace ?? config.getContextObject(context)?.namespace ?? DEFAULT_NAMESPACE;
  return {
    config,
    context,
    namespace,
    server: cluster.server,
    batch: config.makeApiClient(BatchV1Api),
    core: config.makeApiClient(CoreV1Api),
    log: new Log(config),
  };
}

/**
 * Runs one API call, turning the client's errors (whose messages dump headers and raw bodies) into
 * a KubeApiError that says what was attempted and what the server answered.
 */
export async function kubeCall<T>(kube: KubeClient, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toKubeError(kube, what, error);
  }
}

export function toKubeError(kube: KubeClient, what: string, error: unknown): KubeApiError {
  if (error instanceof KubeApiError) return error;
  if (error instanceof ApiException) {
    const code = (error as ApiException<unknown>).code;
    const status = statusOf((error as ApiException<unknown>).body);
    const reason = status?.reason ?? (code === 401 ? 'Unauthorized' : undefined);
    const detail = status?.message ?? (code === 401 ? 'check the credentials of the kubeconfig user' : 'no details');
    return new KubeApiError(code, `${what}: the Kubernetes API answered ${code}${reason ? ` ${reason}` : ''}: ${detail}`, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new KubeApiError(0, `${what}: no answer from the Kubernetes API at ${kube.server} (context ${kube.context}): ${message}`, { cause: error });
}

/** The v1 Status object of an error answer, which the client hands over as text or parsed. */
function statusOf(body: unknown): { reason?: string; message?: string } | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.trim() === '' ? undefined : { message: body.trim().slice(0, 500) };
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { reason, message } = value as { reason?: unknown; message?: unknown };
  return {
    ...(typeof reason === 'string' && reason !== '' ? { reason } : {}),
    ...(typeof message === 'string' && message !== '' ? { message } : {}),
  };
}

export interface JobAndPods {
  job: V1Job;
  /** Oldest first (a Job retried after a failure has one pod per attempt). */
  pods: V1Pod[];
}

/** Reads a Job and the pods its controller made (matched by the Job's own selector). */
export async function readJobAndPods(kube: KubeClient, name: string): Promise<JobAndPods> {
  const { namespace } = kube;
  let job: V1Job;
  try {
    job = await kubeCall(kube, `reading job ${name}`, () => kube.batch.readNamespacedJob({ name, namespace }));
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) {
      throw new ConfigError(`job ${name}: not found in namespace ${namespace} (context ${kube.context})`);
    }
    throw error;
  }
  // The API server fills spec.selector (a controller-uid label); job-name is the older label.
  const labels = job.spec?.selector?.matchLabels ?? { 'job-name': name };
  const labelSelector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  const list = await kubeCall(kube, `listing the pods of job ${name}`, () => kube.core.listNamespacedPod({ namespace, labelSelector }));
  const created = (pod: V1Pod) => pod.metadata?.creationTimestamp?.getTime() ?? 0;
  return { job, pods: [...list.items].sort((a, b) => created(a) - created(b)) };
}
