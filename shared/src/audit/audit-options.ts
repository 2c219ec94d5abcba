import { z } from 'zod';
import { RECORD_SHAPES, type RecordShape } from '../corpus/example.ts';
import { corpusFormat } from '../corpus/read-corpus.ts';
import { ConfigError } from '../errors.ts';
import { DEMO_INPUTS } from './demo-inputs.ts';
import { PROBES } from '../graph/probes.ts';
import { parseLocation } from '../storage/location.ts';
import { parseByteSize } from '../features/memory-budget.ts';
import { parseDirectionLayers, type DirectionLayerChoice } from '../scoring/direction-layers.ts';
import { RANKING_METHODS } from '../scoring/ranking-method.ts';
import { DEFAULT_PROJECTION_SEED, parseProjectionChoice, resolveProjection, type ProjectionChoice, type ProjectionSpec, type SketchSpec } from '../graph/projection.ts';

/**
 * Default gradient features: the paper's full gradient (every parameter), each parameter's gradient
 * projected in-graph: `auto` is `kron:64x128` below a hidden size of 2048 (on stories260k and a 58M
 * model it keeps ≥ 0.9 of the exact top-100) and `kron:128x256` from there on, where the narrower one
 * loses rank agreement (BENCHMARKS.md, fidelity-large). Exact full gradients cannot be stored at
 * those sizes.
 */
export const DEFAULT_PROBE = 'all';
export const DEFAULT_PROJECTION = 'auto';

const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Options of one audit, field by field with defaults. The CLI, and later job specs, produce the
 * raw form; `compileAuditOptions` fills defaults and rejects bad combinations once, up front.
 */
const rawAuditOptions = z.object({
  /** Corpus files (JSONL, JSON array, Parquet). None: the shipped demo corpus. */
  data: z.array(z.string()).default([]),
  /** Hugging Face checkpoint folder, or `tiny` (deterministic random-weight demo model). */
  model: z.string().default('tiny'),
  /** Harmful anchor files (compliant answers to harmful requests). None (and no --safe): the shipped demo anchors. */
  harmful: z.array(z.string()).default([]),
  /** Safe anchor files (refusals of the same requests). */
  safe: z.array(z.string()).default([]),
  /** Weight per anchor set, harmful sets first then safe sets; default +1 / -1 each. */
  weights: z.array(z.number()).optional(),
  /** Prompt preset: `paper-llama2` (method.md §1) or `chat-template` (the model's template). */
  format: z.enum(['paper-llama2', 'chat-template']).default('paper-llama2'),
  /** Force a record shape instead of detecting it per file. */
  recordShape: z.enum(RECORD_SHAPES).optional(),
  /** Ranking score: gradient matching (the paper's strongest), representation matching, self-influence or the compliance direction (ranking-method.ts). */
  method: z.enum(RANKING_METHODS).default('grad'),
  k: z.number().int().min(1).default(100),
  bottomK: z.number().int().min(0).default(0),
  /** Representation aggregate: mean of the top-n anchor similarities. */
  topN: z.number().int().min(1).default(1),
  maxTokens: z.number().int().min(2).default(512),
  /** Anchors count only their first N response tokens (the paper: 10). */
  anchorTokens: z.number().int().min(1).default(10),
  /** Decoder layers of the compliance-direction scorer: `middle`, `none` or e.g. `8,16` (direction-layers.ts). */
  directionLayers: z.string().default('middle'),
  /** Parameters whose per-example gradients are the gradient features. */
  probes: z.enum(PROBES).default(DEFAULT_PROBE),
  /** `auto` (sized for the model), `none` or `kron:OUTxIN`. */
  proj: z.string().default(DEFAULT_PROJECTION),
  projSeed: z.number().int().min(0).default(DEFAULT_PROJECTION_SEED),
  /** Optional CountSketch of the (projected) gradient to this many dimensions. */
  projDim: z.number().int().min(1).optional(),
  /**
   * Examples per model call. Default from the memory model: 1 on the CPU (no padding; threads work
   * inside the call), on a GPU as many as fit beside the weights (at most 32).
   */
  batchSize: z.number().int().min(1).optional(),
  /** Padded tokens per model call (examples × the longest); default from the memory model. */
  batchTokens: z.number().int().min(2).optional(),
  /** Memory to plan sessions and batches for (e.g. "20GiB"); default the host's or pod's limit, or the GPU's. */
  memoryBudget: z.union([z.number().int().positive(), z.string()]).optional(),
  /** Keep pre-packed weight copies (faster CPU MatMuls, up to ~1.6× the weights more); default: when they fit the budget. */
  prepack: z.boolean().optional(),
  /** First N records of each input file. */
  limit: z.number().int().min(1).optional(),
  maxRecordBytes: z.number().int().min(1).default(4 * 1024 * 1024),
  /**
   * Usable anchors each anchor set needs. Default: all of its records. Anchor sets are small and
   * curated, so a broken anchor stops the audit (exit 4) rather than silently shifting every score.
   */
  minAnchors: z.number().int().min(1).optional(),
  /** Finish with exit 0 even when a corpus file gave no usable record (default: exit 4 after writing the outputs). */
  allowUnusableInputs: z.boolean().default(false),
  /** Graph compute type: float16 halves weights and activations (norms, softmax statistics and the loss stay float32). */
  dtype: z.enum(['float32', 'float16']).default('float32'),
  /** Feature threads (default: all cores): intra-op threads of one session, or one session each for small models. */
  threads: z.number().int().min(1).optional(),
  out: z.string().default('safesift-out'),
  /** Feature cache (local folder or s3://bucket/prefix): a re-audit featurizes only new or changed examples. */
  cache: z.string().min(1).optional(),
  /** Run name: the cache keeps each name's last top-k to diff against. Default: --out's last segment. */
  name: z.string().regex(RUN_NAME, 'expected letters, digits, ".", "_" or "-", starting with a letter or digit').max(128).optional(),
});

export type RawAuditOptions = z.input<typeof rawAuditOptions>;

/** Options once the model is open: the projection is the one in use. */
export type ResolvedAuditOptions = Omit<AuditOptions, 'projection'> & { projection: ProjectionSpec };

/** `options` for a model of this size (`auto` resolved). */
export function resolveAuditOptions<T extends Pick<AuditOptions, 'projection'>>(options: T, config: { hiddenSize: number }): Omit<T, 'projection'> & { projection: ProjectionSpec } {
  return { ...options, projection: resolveProjection(options.projection, config) };
}

export interface AuditOptions extends Omit<z.output<typeof rawAuditOptions>, 'proj' | 'projDim' | 'recordShape' | 'name' | 'memoryBudget' | 'directionLayers'> {
  /** Resolved against the model's layer count when it opens. */
  directionLayers: DirectionLayerChoice;
  name: string;
  /** Bytes; undefined: detected when the model opens. */
  memoryBudget: number | undefined;
  /** Resolved when the model opens (`openAuditModel`), which knows its size. */
  projection: ProjectionChoice;
  sketch: SketchSpec | null;
  recordShape: RecordShape | undefined;
  /** True when no data was given: the shipped demo corpus is audited. */
  demo: boolean;
}

export function compileAuditOptions(raw: RawAuditOptions): AuditOptions {
  const parsed = rawAuditOptions.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `--${kebab(issue.path.join('.'))}: ${issue.message}`);
    throw new ConfigError(`invalid options:\n  ${problems.join('\n  ')}`);
  }
  const { proj, projSeed, projDim, recordShape, name, memoryBudget, directionLayers, ...rest } = parsed.data;
  if (rest.cache !== undefined) checkCacheLocation(rest.cache);
  // Without data or anchors, the shipped demo inputs fill in (the README's first command).
  const demo = rest.data.length === 0;
  if (demo) rest.data = [DEMO_INPUTS.corpus];
  if (rest.harmful.length === 0 && rest.safe.length === 0) {
    rest.harmful = [DEMO_INPUTS.harmful];
    rest.safe = [...DEMO_INPUTS.safe];
  }
  if (rest.harmful.length === 0) throw new ConfigError('--harmful: at least one harmful anchor file is required when --safe is given');
  // Unknown file types fail now, not halfway through the corpus.
  for (const file of [...rest.data, ...rest.harmful, ...rest.safe]) corpusFormat(file);
  const sets = rest.harmful.length + rest.safe.length;
  if (rest.weights && rest.weights.length !== sets) {
    throw new ConfigError(`--weights: ${rest.weights.length} weights given for ${sets} anchor sets (harmful first, then safe)`);
  }
  const layers = parseDirectionLayers(directionLayers);
  if (rest.method === 'dir' && layers !== 'middle' && layers.length === 0) {
    throw new ConfigError('--method dir ranks by the compliance direction: it needs --direction-layers (default middle), not none');
  }
  if (rest.method === 'dir' && rest.safe.length === 0) throw new ConfigError('--method dir: the compliance direction is harmful minus safe anchors; give --safe');
  return {
    ...rest,
    recordShape,
    name: name ?? runNameOf(rest.out),
    memoryBudget: typeof memoryBudget === 'string' ? parseByteSize(memoryBudget, '--memory-budget') : memoryBudget,
    projSeed,
    directionLayers: layers,
    projection: parseProjectionChoice(proj, projSeed),
    sketch: projDim === undefined ? null : { dim: projDim, seed: projSeed },
    demo,
  };
}

/** A bad cache location fails now, not after the model is loaded. */
function checkCacheLocation(cache: string): void {
  try {
    parseLocation(cache);
  } catch (error) {
    throw new ConfigError(`--cache: ${(error as Error).message}`);
  }
}

/** A run name from an output location's last segment ("s3://b/nightly/" → "nightly"). */
export function runNameOf(out: string): string {
  const last = out.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split(/[\\/]/).filter((s) => s !== '' && s !== '.' && s !== '..').at(-1) ?? '';
  const cleaned = last.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128);
  return cleaned === '' ? 'audit' : cleaned;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
