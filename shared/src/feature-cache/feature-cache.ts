/**
 * A persistent cache of example features, so a nightly re-audit featurizes only new or changed
 * examples. Layout under the cache folder (local path or s3://bucket/prefix):
 *
 *   features/<namespace>/key.json            the FeatureCacheKey the namespace hashes (for people)
 *   features/<namespace>/segments/<name>.bin entries written together (segment-codec.ts)
 *   features/<namespace>/index/<name>.json   {"segment", "ids", "digests"} of that segment
 *   runs/<run name>/latest.json              top-k and score summary of the last run (run-history.ts)
 *
 * The namespace is the hash of everything that changes a feature except the content (cache-key.ts);
 * within it an entry is found by example id (a content hash) and used only if its token digest
 * matches. Objects are only ever added, each atomically: the segment first, then its index, which
 * commits it, so readers never see a half-written segment, and concurrent writers (several workers)
 * never touch the same object. Names start with the time of writing, so when two segments hold one
 * id the later one wins. Opening reads the indexes only (memory: ids and digests); segments are
 * read when a lookup needs them, and the last few decoded ones stay in a small LRU. A segment is
 * read in two parts (segment-codec.ts): the head, and the gradients only when the lookup cannot
 * use the gradient projections the head stores.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { ObjectNotFoundError } from '../storage/object-store.ts';
import { cacheNamespace, type FeatureCacheKey } from './cache-key.ts';
import { cacheKey, openCacheRoot, type CacheRoot } from './cache-root.ts';
import {
  CorruptSegmentError,
  decodeSegmentHead,
  encodeSegment,
  SEGMENT_PREFIX_BYTES,
  segmentHeadLength,
  type CacheEntry,
  type NewCacheEntry,
  type SegmentHead,
} from './segment-codec.ts';

export type { CacheEntry, CachedFeatures, GradientProjection, NewCacheEntry } from './segment-codec.ts';

export interface FeatureCacheOptions {
  /** Buffered entries are written as a segment once they hold this many bytes (default 32 MiB). */
  segmentBytes?: number;
  /** Decoded segments kept in memory (default 256 MiB; the newest is always kept). */
  lruBytes?: number;
}

export interface FeatureCacheStats {
  /** Examples whose features came from the cache. */
  hits: number;
  /** Examples whose features had to be computed. */
  misses: number;
  /** Segment heads read from the store. */
  segmentsRead: number;
  /** Segments whose gradients were read too (the lookup could not use their projections). */
  gradientsRead: number;
  /** Segments written to the store. */
  segmentsWritten: number;
}

interface Located {
  segment: number;
  index: number;
  digest: string;
}

interface IndexFile {
  segment: string;
  ids: string[];
  digests: string[];
}

const DEFAULT_SEGMENT_BYTES = 32 * 2 ** 20;
const DEFAULT_LRU_BYTES = 256 * 2 ** 20;
/** Index objects read at once when opening (they are small; S3 latency dominates). */
const OPEN_CONCURRENCY = 16;

export class FeatureCache {
  readonly stats: FeatureCacheStats = { hits: 0, misses: 0, segmentsRead: 0, gradientsRead: 0, segmentsWritten: 0 };
  /** Segment names by number (Located.segment). */
  private readonly segments: string[] = [];
  private readonly located = new Map<string, Located>();
  /** Put but not yet written (or being written): served by lookups like stored entries. */
  private readonly pending = new Map<string, NewCacheEntry>();
  private pendingBytes = 0;
  private readonly lru = new Map<number, LoadedSegment>();
  private lruBytes = 0;
  private keyWritten = false;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly root: CacheRoot,
    readonly key: FeatureCacheKey,
    readonly namespace: string,
    private readonly options: Required<FeatureCacheOptions>,
  ) {}

  /** Opens the cache at `uri` (a local folder or s3://bucket/prefix) for features of `key`. */
  static open(uri: string, key: FeatureCacheKey, s3: () => S3Client, options: FeatureCacheOptions = {}): Promise<FeatureCache> {
    return FeatureCache.openAt(openCacheRoot(uri, s3), key, options);
  }

  static async openAt(root: CacheRoot, key: FeatureCacheKey, options: FeatureCacheOptions = {}): Promise<FeatureCache> {
    const cache = new FeatureCache(root, key, cacheNamespace(key), {
      segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      lruBytes: options.lruBytes ?? DEFAULT_LRU_BYTES,
    });
    await cache.loadIndexes();
    return cache;
  }

  /** The URI the cache was opened with. */
  get uri(): string {
    return this.root.uri;
  }

  /** Distinct ids the cache can serve (stored or pending). */
  get size(): number {
    let n = this.located.size;
    for (const id of this.pending.keys()) if (!this.located.has(id)) n++;
    return n;
  }

  /** Whether a lookup of `id` (with this token digest, if given) would hit, without reading or counting. */
  has(id: string, digest?: string): boolean {
    const matches = (at: { digest: string } | undefined) => at !== undefined && (digest === undefined || at.digest === digest);
    return matches(this.pending.get(id)) || matches(this.located.get(id));
  }

  /**
   * Cached entries for `ids`, in order (undefined: a miss). With `digests`, an entry counts only if
   * its token digest matches. Each position counts as one hit or one miss. Reads only the segments
   * that hold hits; the vectors are views of the decoded segment: read them, do not modify them.
   * With `projection` (a target name), entries stored with that target's projection come without
   * their gradient (null), which is then never read; every other entry comes with its gradient.
   */
  async lookup(ids: readonly string[], digests?: readonly (string | undefined)[], options: { projection?: string } = {}): Promise<(CacheEntry | undefined)[]> {
    const out: (CacheEntry | undefined)[] = ids.map(() => undefined);
    const wanted = (i: number, digest: string) => digests?.[i] === undefined || digests[i] === digest;
    const bySegment = new Map<number, number[]>();
    ids.forEach((id, i) => {
      const pending = this.pending.get(id);
      if (pending && wanted(i, pending.digest)) {
        out[i] = { ...pending, labels: pending.labels ?? null, features: { ...pending.features, projection: pending.projection ?? null } };
        return;
      }
      const at = this.located.get(id);
      if (at && wanted(i, at.digest)) {
        const list = bySegment.get(at.segment) ?? [];
        list.push(i);
        bySegment.set(at.segment, list);
      }
    });
    for (const [segment, positions] of bySegment) {
      const loaded = await this.readHead(segment);
      const projected = loaded !== null && options.projection !== undefined && loaded.head.projectionTarget === options.projection;
      const gradients = loaded === null || projected ? null : await this.readGradients(segment, loaded);
      if (loaded === null || (!projected && gradients === null)) continue; // gone or damaged: those entries are misses
      for (const i of positions) {
        const at = this.located.get(ids[i]!);
        if (at?.segment === segment) out[i] = loaded.head.entry(at.index, gradients);
      }
    }
    for (const entry of out) {
      if (entry) this.stats.hits++;
      else this.stats.misses++;
    }
    return out;
  }

  /** Adds entries; they are written as a new segment once enough bytes are buffered, or on flush(). */
  async put(entries: readonly NewCacheEntry[]): Promise<void> {
    for (const entry of entries) {
      const previous = this.pending.get(entry.id);
      if (previous) this.pendingBytes -= entryBytes(previous);
      this.pending.set(entry.id, entry);
      this.pendingBytes += entryBytes(entry);
      // Segments stay near segmentBytes however many entries one put brings (large models: MBs each).
      if (this.pendingBytes >= this.options.segmentBytes) await this.flush();
    }
  }

  /** Writes every buffered entry as one segment (nothing when none is buffered). */
  flush(): Promise<void> {
    // One write at a time, so segment names (and so which entry wins) follow the order of puts.
    const next = this.writing.then(() => this.writePending());
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async writePending(): Promise<void> {
    const entries = [...this.pending.values()];
    if (entries.length === 0) return;
    const name = `${Date.now().toString().padStart(13, '0')}-${randomBytes(6).toString('hex')}`;
    const bytes = encodeSegment(entries);
    if (!this.keyWritten) {
      const keyObject = this.objectKey('key.json');
      if ((await this.root.store.head(keyObject)) === null) await this.root.store.put(keyObject, `${JSON.stringify(this.key, null, 2)}\n`);
      this.keyWritten = true;
    }
    await this.root.store.put(this.objectKey('segments', `${name}.bin`), bytes);
    const index: IndexFile = { segment: `${name}.bin`, ids: entries.map((e) => e.id), digests: entries.map((e) => e.digest) };
    await this.root.store.put(this.objectKey('index', `${name}.json`), JSON.stringify(index));
    this.stats.segmentsWritten++;
    const segment = this.segments.push(index.segment) - 1;
    entries.forEach((entry, i) => {
      this.located.set(entry.id, { segment, index: i, digest: entry.digest });
      // A newer put of the same id stays pending.
      if (this.pending.get(entry.id) === entry) {
        this.pending.delete(entry.id);
        this.pendingBytes -= entryBytes(entry);
      }
    });
  }

  private objectKey(...parts: string[]): string {
    return cacheKey(this.root, 'features', this.namespace, ...parts);
  }

  private async loadIndexes(): Promise<void> {
    const names: string[] = [];
    for await (const info of this.root.store.list(`${this.objectKey('index')}/`)) {
      if (info.key.endsWith('.json')) names.push(info.key);
    }
    names.sort(); // time-ordered names: later segments override earlier ones
    const indexes = new Array<IndexFile | null>(names.length);
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const i = next++;
        indexes[i] = await this.readIndex(names[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, names.length) }, worker));
    for (const index of indexes) {
      if (index === null) continue;
      const segment = this.segments.push(index.segment) - 1;
      index.ids.forEach((id, i) => this.located.set(id, { segment, index: i, digest: index.digests[i]! }));
    }
  }

  /** An index object, or null when it is unreadable (a damaged cache only costs recomputation). */
  private async readIndex(key: string): Promise<IndexFile | null> {
    try {
      const value = JSON.parse(new TextDecoder().decode(await this.root.store.get(key))) as Partial<IndexFile>;
      const ok = typeof value.segment === 'string' && /^[\w.-]+\.bin$/.test(value.segment) && Array.isArray(value.ids) && Array.isArray(value.digests) &&
        value.ids.length === value.digests.length && value.ids.every((x) => typeof x === 'string') && value.digests.every((x) => typeof x === 'string');
      return ok ? (value as IndexFile) : null;
    } catch (error) {
      if (error instanceof SyntaxError || error instanceof ObjectNotFoundError) return null;
      throw error;
    }
  }

  /** A segment's head (LRU), or null after dropping the entries of a missing or damaged segment. */
  private async readHead(segment: number): Promise<LoadedSegment | null> {
    const cached = this.lru.get(segment);
    if (cached) {
      this.lru.delete(segment);
      this.lru.set(segment, cached);
      return cached;
    }
    const name = this.segments[segment]!;
    const key = this.objectKey('segments', name);
    let loaded: LoadedSegment;
    try {
      const headLength = segmentHeadLength(await this.root.store.getRange(key, 0, SEGMENT_PREFIX_BYTES), name);
      loaded = { head: decodeSegmentHead(await this.root.store.getRange(key, 0, headLength), name), gradients: null };
      this.stats.segmentsRead++;
    } catch (error) {
      return this.dropOnReadError(segment, error);
    }
    this.lru.set(segment, loaded);
    this.trimLru(segment, loaded.head.byteLength);
    return loaded;
  }

  /** The segment's gradients (kept with its head in the LRU), or null after dropping a damaged segment. */
  private async readGradients(segment: number, loaded: LoadedSegment): Promise<Float32Array | null> {
    if (loaded.gradients !== null) return loaded.gradients;
    const { head } = loaded;
    try {
      const key = this.objectKey('segments', this.segments[segment]!);
      loaded.gradients = head.checkGradients(await this.root.store.getRange(key, head.headLength, head.headLength + head.gradientBytes));
      this.stats.gradientsRead++;
    } catch (error) {
      this.lru.delete(segment);
      this.lruBytes -= head.byteLength;
      return this.dropOnReadError(segment, error);
    }
    this.trimLru(segment, loaded.gradients.byteLength);
    return loaded.gradients;
  }

  private dropOnReadError(segment: number, error: unknown): null {
    if (!(error instanceof ObjectNotFoundError || error instanceof CorruptSegmentError)) throw error;
    for (const [id, at] of this.located) if (at.segment === segment) this.located.delete(id);
    return null;
  }

  /** Counts `added` bytes of `segment`, then drops the least recently used others while over budget. */
  private trimLru(segment: number, added: number): void {
    this.lruBytes += added;
    for (const [old, value] of this.lru) {
      if (this.lruBytes <= this.options.lruBytes || old === segment) break;
      this.lru.delete(old);
      this.lruBytes -= value.head.byteLength + (value.gradients?.byteLength ?? 0);
    }
  }
}

/** A segment as read so far: its head, and its gradients once a lookup needed them. */
interface LoadedSegment {
  head: SegmentHead;
  gradients: Float32Array | null;
}

function entryBytes(entry: NewCacheEntry): number {
  const f = entry.features;
  return (f.representation.length + f.layerStates.length + f.gradient.length) * 4 + (entry.projection?.values.length ?? 0) * 8 + 64;
}
