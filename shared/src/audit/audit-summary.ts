import { cpus, totalmem } from 'node:os';
import type { FeatureModelInfo } from '../features/feature-model.ts';
import type { FeaturePlan } from '../features/feature-plan.ts';
import { formatBytes, type FeatureMemoryModel } from '../features/memory-model.ts';
import { gradientLayout } from '../graph/gradient-features.ts';
import { probedParams } from '../graph/probes.ts';
import type { CacheSummary } from '../feature-cache/audit-cache.ts';
import type { RunDiff } from '../feature-cache/run-history.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import { writeJsonAtomic } from '../output/atomic-json.ts';
import type { AnchorSetSpec } from '../scoring/anchor-sets.ts';
import { nearestAnchorsFit } from '../scoring/gradient-score.ts';
import type { ResolvedAuditOptions } from './audit-options.ts';
import type { DirectionInfo } from '../scoring/direction-score.ts';
import { peakRssBytes } from './peak-memory.ts';
import { SAFESIFT_VERSION } from './version.ts';

export interface InputCounts {
  source: string;
  records: number;
  scored: number;
  errors: number;
  /** Scored examples cut at --max-tokens. */
  truncated?: number;
  /** Why records were rejected: reason → count (the most frequent first, at most TOP_REASONS). */
  top_reasons?: Record<string, number>;
}

/** Rejection reasons kept per input in summary.json (errors.jsonl has every record). */
export const TOP_REASONS = 5;

export interface AuditTimings {
  setupMs: number;
  anchorsMs: number;
  corpusMs: number;
  writeMs: number;
  totalMs: number;
}

export interface SummaryParts {
  options: ResolvedAuditOptions;
  modelDir: string;
  synthetic: boolean;
  checkpoint: Checkpoint;
  featureInfo: FeatureModelInfo;
  /** scores.parquet column the top-k ranks by (rankingColumnFor). */
  rankingColumn: string;
  /** Compliance directions, scored or degenerate (DirectionScorer.directions). */
  directions: readonly DirectionInfo[];
  specs: readonly AnchorSetSpec[];
  anchorCounts: readonly number[];
  inputs: InputCounts[];
  errors: number;
  topCount: number;
  timings: AuditTimings;
  outputs: Record<string, string>;
  /** With --cache: hits and misses, and the diff against the run name's previous run (null: none). */
  cache?: CacheSummary;
  diff?: RunDiff | null;
  /** Records read, used and rejected per anchor set (local audits and the coordinator). */
  anchorSets?: readonly { records: number; used: number; rejected: number; anchors?: readonly { row: number; request: string }[] }[];
  /** Things the user should know that did not stop the run (also printed by the CLI). */
  warnings?: readonly string[];
  /** How features were computed here (the coordinator's for a cluster job: each worker plans its own). */
  execution?: { plan: FeaturePlan; memory: FeatureMemoryModel };
}

const PROBE_NOTES: Record<string, string> = {
  lm_head:
    'gradient over the LM-head weight only (classifier path): a cheap probe, not the paper full-parameter gradient; ' +
    'on small models it ranks examples very differently from the full gradient (rank correlation 0.1-0.5)',
  'attn-qv': 'gradient over q_proj and v_proj of every block (as LESS): an approximation of the paper full gradient',
  'all-linear': 'gradient over every linear weight including the LM head: an approximation of the paper full gradient',
  all: 'gradient over every parameter tensor: the paper full gradient',
};

export type AuditSummary = ReturnType<typeof buildSummary>;

/** summary.json: what was audited, with what, how it went and how fast. */
export function buildSummary(p: SummaryParts) {
  const c = p.checkpoint.config;
  const scored = p.inputs.reduce((n, i) => n + i.scored, 0);
  const records = p.inputs.reduce((n, i) => n + i.records, 0);
  const { projection, sketch: _sketch, ...options } = p.options; // the sketch is reported under features
  return {
    safesift: SAFESIFT_VERSION,
    status: 'complete' as const,
    demo: p.options.demo,
    model: {
      path: p.synthetic ? 'tiny' : p.modelDir,
      fingerprint: p.checkpoint.fingerprint,
      synthetic: p.synthetic,
      ...(p.synthetic
        ? { warning: 'random-weight demo model built by safesift: its scores carry no meaning' }
        : {}),
      architecture: {
        model_type: c.modelType,
        hidden_size: c.hiddenSize,
        layers: c.numLayers,
        heads: c.numHeads,
        kv_heads: c.numKvHeads,
        vocab_size: c.vocabSize,
        tied_embeddings: c.tieWordEmbeddings,
      },
    },
    features: {
      probe: p.featureInfo.probe,
      probe_note: PROBE_NOTES[p.featureInfo.probe] ?? null,
      projection: p.featureInfo.projection,
      projection_seed: projection.kind === 'kron' ? projection.seed : null,
      sketch: p.options.sketch,
      // The compute type the graph was built and run with (there is no silent fallback).
      dtype: p.options.dtype,
      // Where each parameter's block sits in the gradient feature: needed to compare runs and workers.
      blocks: gradientLayout(probedParams(c, p.options.probes), projection),
      gradient_dim: p.featureInfo.gradientDim,
      // Whether the near_grad_<set> columns are filled (the anchors' gradients fit the memory budget).
      nearest_by_gradient: nearestAnchorsFit(p.specs.length, p.anchorCounts.reduce((a, b) => a + b, 0), p.featureInfo.gradientDim),
      representation_dim: p.featureInfo.representationDim,
      // Compliance directions (dir_<layer>_<position> columns): layer, position, length before normalising, why empty.
      direction_layers: p.directions.filter((d) => d.position === 'response').map((d) => d.layer),
      directions: p.directions.map((d) => ({ column: d.column, layer: d.layer, position: d.position, norm: d.norm, degenerate: d.degenerate })),
    },
    ranking: { method: p.options.method, column: p.rankingColumn, k: p.options.k, bottom_k: p.options.bottomK },
    anchor_sets: p.specs.map((s, i) => {
      const read = p.anchorSets?.[i];
      return {
        ...s,
        anchors: p.anchorCounts[i] ?? 0,
        ...(read ? { records: read.records, rejected: read.rejected } : {}),
        columns: [`rep_${s.name}`, `grad_${s.name}`],
        // What the near_rep_<set> / near_grad_<set> columns point at: file row → request.
        ...(read?.anchors ? { anchor_requests: read.anchors } : {}),
      };
    }),
    // Bi-directional anchoring needs a safe set; without one the score is similarity to harmful anchors only.
    bidirectional: p.specs.some((s) => s.role === 'safe'),
    options: { ...options, projection: p.featureInfo.projection },
    inputs: p.inputs,
    counts: { records, scored, errors: p.errors, truncated: p.inputs.reduce((n, i) => n + (i.truncated ?? 0), 0), top_k: p.topCount },
    // Inputs none of whose records could be scored: the CLI exits 4 unless --allow-unusable-inputs.
    unusable_inputs: p.inputs.filter((i) => i.scored === 0).map((i) => i.source),
    warnings: p.warnings ?? [],
    outputs: p.outputs,
    ...(p.cache ? { cache: p.cache, diff: p.diff ?? null } : {}),
    timings_ms: Object.fromEntries(Object.entries(p.timings).map(([k, v]) => [k.replace(/Ms$/, ''), Math.round(v)])),
    throughput: { examples_per_s: p.timings.corpusMs > 0 ? round((scored * 1000) / p.timings.corpusMs) : null },
    peak_rss_mib: round(peakRssBytes() / 2 ** 20),
    ...(p.execution ? { execution: executionSummary(p.execution.plan, p.execution.memory) } : {}),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', memory_gib: round(totalmem() / 2 ** 30), node: process.version },
  };
}

export function writeSummary(path: string, summary: AuditSummary): Promise<void> {
  return writeJsonAtomic(path, summary);
}

/** The plan and the memory model behind it, in bytes and as text (README: memory model). */
function executionSummary(plan: FeaturePlan, memory: FeatureMemoryModel) {
  return {
    device: plan.device,
    sessions: plan.sessions,
    threads_per_session: plan.threadsPerSession,
    prepacked_weights: plan.prepack,
    batch_examples: plan.batchExamples,
    batch_tokens: Number.isFinite(plan.batchTokens) ? plan.batchTokens : null,
    memory_budget_bytes: plan.budgetBytes,
    estimated_peak_bytes: Math.round(plan.estimatedPeakBytes),
    estimated_peak: formatBytes(plan.estimatedPeakBytes),
    memory_model: { weight_bytes: memory.weightBytes, per_token_bytes: memory.perTokenBytes, attention: memory.attention, attention_pair_bytes: memory.attentionPairBytes, per_example_bytes: memory.perExampleBytes },
    notes: plan.notes,
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
