/**
 * What a feature cache holds, and removing what no run uses any more. A namespace (features of one
 * model and feature options) goes stale when the model or the options change: nothing reads it
 * again, but it keeps its size. It is in use while the last run of some run name (or the run that
 * one replaced) scored in it; an anchors namespace goes with the corpus namespace of the same key.
 */
import { ObjectNotFoundError } from '../storage/object-store.ts';
import type { CacheRoot } from './cache-root.ts';
import { cacheKey } from './cache-root.ts';
import type { FeatureCacheKey } from './cache-key.ts';
import { readRunRecord, type RunRecord } from './run-history.ts';

export interface NamespaceInventory {
  namespace: string;
  /** The stored key.json (null when missing or unreadable). */
  key: FeatureCacheKey | null;
  kind: 'corpus' | 'anchors' | 'unknown';
  segments: number;
  bytes: number;
  /** When the newest segment was written (segment names start with the time), or null without segments. */
  newest_write: string | null;
  /** Run names whose last run (or the run it replaced) uses it. */
  used_by: string[];
}

export interface RunInventory {
  name: string;
  finished_at: string;
  namespace: string;
  method: RunRecord['method'];
  scored: number;
}

export interface CacheInventory {
  uri: string;
  bytes: number;
  namespaces: NamespaceInventory[];
  runs: RunInventory[];
}

export interface PruneOptions {
  /** Unused namespaces written to within this long are kept: an audit may be filling one now. */
  minAgeMs: number;
  /** Report what would go without removing anything. */
  dryRun: boolean;
  now?: Date;
}

export interface PruneReport {
  dry_run: boolean;
  removed: NamespaceInventory[];
  kept: NamespaceInventory[];
  bytes_freed: number;
}

export async function inventoryCache(root: CacheRoot): Promise<CacheInventory> {
  const byNamespace = new Map<string, { segments: number; bytes: number; newest: number | null }>();
  const featuresPrefix = `${cacheKey(root, 'features')}/`;
  for await (const info of root.store.list(featuresPrefix)) {
    const [namespace, folder, name] = info.key.slice(featuresPrefix.length).split('/');
    if (namespace === undefined) continue;
    const entry = byNamespace.get(namespace) ?? { segments: 0, bytes: 0, newest: null };
    entry.bytes += info.size;
    if (folder === 'segments' && name !== undefined) {
      entry.segments++;
      const written = Number(name.split('-')[0]);
      if (Number.isFinite(written)) entry.newest = Math.max(entry.newest ?? 0, written);
    }
    byNamespace.set(namespace, entry);
  }

  const runs: RunRecord[] = [];
  const runsPrefix = `${cacheKey(root, 'runs')}/`;
  for await (const info of root.store.list(runsPrefix)) {
    const [name, file] = info.key.slice(runsPrefix.length).split('/');
    if (name === undefined || file !== 'latest.json') continue;
    const record = await readRunRecord(root, name);
    if (record !== null) runs.push(record);
  }

  const keys = new Map<string, FeatureCacheKey | null>();
  for (const namespace of byNamespace.keys()) keys.set(namespace, await readKey(root, namespace));
  // A corpus namespace is used by the runs that scored in it; its anchors twin (the same key but
  // for the anchors' response token limit) by the same runs.
  const usedBy = new Map<string, Set<string>>();
  const use = (namespace: string, run: string) => usedBy.set(namespace, (usedBy.get(namespace) ?? new Set()).add(run));
  for (const run of runs) {
    for (const record of [run, run.replaces ?? null]) {
      if (record === null) continue;
      use(record.namespace, run.name);
      const corpusKey = keys.get(record.namespace);
      if (!corpusKey) continue;
      for (const [namespace, key] of keys) {
        if (key !== null && key.responseTokenLimit !== null && sameExceptResponseLimit(key, corpusKey)) use(namespace, run.name);
      }
    }
  }

  const namespaces = [...byNamespace].map(([namespace, entry]): NamespaceInventory => {
    const key = keys.get(namespace) ?? null;
    return {
      namespace,
      key,
      kind: key === null ? 'unknown' : key.responseTokenLimit === null ? 'corpus' : 'anchors',
      segments: entry.segments,
      bytes: entry.bytes,
      newest_write: entry.newest === null ? null : new Date(entry.newest).toISOString(),
      used_by: [...(usedBy.get(namespace) ?? [])].sort(),
    };
  });
  return {
    uri: root.uri,
    bytes: namespaces.reduce((n, ns) => n + ns.bytes, 0),
    namespaces,
    runs: runs.map((r) => ({ name: r.name, finished_at: r.finished_at, namespace: r.namespace, method: r.method, scored: r.counts.scored })),
  };
}

/**
 * Removes the namespaces no run uses that were last written to more than `minAgeMs` ago: their
 * indexes first (new readers stop seeing the entries), then segments and key. An audit still
 * holding a removed index finds the segments gone and recomputes those features.
 */
export async function pruneCache(root: CacheRoot, options: PruneOptions): Promise<PruneReport> {
  const inventory = await inventoryCache(root);
  const now = (options.now ?? new Date()).getTime();
  const removable = (ns: NamespaceInventory) =>
    ns.used_by.length === 0 && (ns.newest_write === null || now - Date.parse(ns.newest_write) >= options.minAgeMs);
  const removed = inventory.namespaces.filter(removable);
  if (!options.dryRun) {
    for (const ns of removed) {
      for (const folder of ['index', 'segments']) {
        for await (const info of root.store.list(`${cacheKey(root, 'features', ns.namespace, folder)}/`)) await root.store.delete(info.key);
      }
      for await (const info of root.store.list(`${cacheKey(root, 'features', ns.namespace)}/`)) await root.store.delete(info.key);
    }
  }
  return {
    dry_run: options.dryRun,
    removed,
    kept: inventory.namespaces.filter((ns) => !removable(ns)),
    bytes_freed: removed.reduce((n, ns) => n + ns.bytes, 0),
  };
}

async function readKey(root: CacheRoot, namespace: string): Promise<FeatureCacheKey | null> {
  try {
    const value = JSON.parse(new TextDecoder().decode(await root.store.get(cacheKey(root, 'features', namespace, 'key.json')))) as FeatureCacheKey;
    return typeof value === 'object' && value !== null && 'model' in value ? value : null;
  } catch (error) {
    if (error instanceof ObjectNotFoundError || error instanceof SyntaxError) return null;
    throw error;
  }
}

function sameExceptResponseLimit(a: FeatureCacheKey, b: FeatureCacheKey): boolean {
  const strip = (k: FeatureCacheKey) => JSON.stringify(Object.entries({ ...k, responseTokenLimit: null }).sort(([x], [y]) => (x < y ? -1 : 1)));
  return strip(a) === strip(b);
}
