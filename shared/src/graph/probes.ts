import { ConfigError } from '../errors.ts';
import type { LlamaConfig } from '../model/llama-config.ts';
import { expectedLlamaTensors, LM_HEAD } from '../model/llama-tensors.ts';

export const PROBES = ['lm_head', 'attn-qv', 'all-linear', 'all'] as const;
export type Probe = (typeof PROBES)[number];

/** One parameter whose per-example gradient is a feature: HF name and logical shape [rows, cols] or [cols]. */
export interface ProbedParam {
  key: string;
  shape: number[];
}

/**
 * Parameters each probe covers, in checkpoint order (so features from different runs line up):
 * - lm_head: the LM-head weight, classifier path only (tied embeddings: the head's use of them);
 * - attn-qv: q_proj and v_proj of every block (as LESS);
 * - all-linear: every linear weight, lm_head included;
 * - all: every parameter tensor (the paper's full gradient; tied embeddings counted once).
 */
export function probedParams(config: LlamaConfig, probe: Probe): ProbedParam[] {
  const tensors = expectedLlamaTensors(config);
  const head: ProbedParam = { key: LM_HEAD, shape: [config.vocabSize, config.hiddenSize] };
  switch (probe) {
    case 'lm_head':
      return [head];
    case 'attn-qv':
      return tensors.filter((t) => /\.self_attn\.[qv]_proj\.weight$/.test(t.name)).map((t) => ({ key: t.name, shape: t.shape }));
    case 'all-linear': {
      const linear = tensors.filter((t) => t.role === 'matrix' && t.name !== LM_HEAD).map((t) => ({ key: t.name, shape: t.shape }));
      return [...linear, head];
    }
    case 'all':
      return tensors.map((t) => ({ key: t.name, shape: t.shape }));
  }
}

export function parseProbe(text: string): Probe {
  if ((PROBES as readonly string[]).includes(text)) return text as Probe;
  throw new ConfigError(`--probes: expected one of ${PROBES.join(', ')}, got '${text}'`);
}

/**
 * Which parameter a use of the tied embedding feeds. With `all` the shared tensor gets both uses
 * (summed, as autograd does); otherwise the head is probed as its own classifier weight.
 */
export function headParamKey(config: LlamaConfig, probe: Probe): string {
  return config.tieWordEmbeddings && probe === 'all' ? 'model.embed_tokens.weight' : LM_HEAD;
}
