// One point of the memory-model benchmark, in its own process so VmHWM is this point's alone:
// opens the model as `safesift audit` does (plan from the memory model), featurizes one batch of
// EXAMPLES synthetic examples of exactly TOKENS tokens twice, and prints measured vs estimated peak.
// argv: MODEL_DIR DTYPE TOKENS EXAMPLES THREADS
import { openAuditModel } from '../shared/src/audit/audit-model.ts';
import { peakRssBytes } from '../shared/src/audit/peak-memory.ts';
import { DEFAULT_PROJECTION_SEED, parseProjection } from '../shared/src/graph/projection.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';

const [modelDir, dtype, tokensText, examplesText, threadsText] = process.argv.slice(2);
if (!modelDir || (dtype !== 'float32' && dtype !== 'float16') || !tokensText || !examplesText || !threadsText) {
  throw new Error('usage: memory-model-child MODEL_DIR float32|float16 TOKENS EXAMPLES THREADS');
}
const tokens = Number(tokensText);
const examples = Number(examplesText);
const opened = await openAuditModel(modelDir, {
  format: 'paper-llama2',
  probes: 'all',
  projection: parseProjection('kron:64x128', DEFAULT_PROJECTION_SEED),
  sketch: null,
  dtype,
  maxTokens: tokens,
  threads: Number(threadsText),
  batchSize: examples,
});
const vocab = opened.checkpoint.config.vocabSize;
// Ids spread over the vocabulary; the second half of each example is its response.
const batch: TokenizedExample[] = Array.from({ length: examples }, (_, e) => {
  const ids = Int32Array.from({ length: tokens }, (_, t) => (1 + ((t * 7919 + e * 104729) % (vocab - 1))));
  const lossWeights = new Float32Array(tokens);
  const labels = tokens - Math.floor(tokens / 2);
  lossWeights.fill(1 / labels, tokens - labels);
  return { ids, lossWeights, labelCount: labels, truncated: false };
});
const started = performance.now();
await opened.model.featurize(batch);
const firstMs = performance.now() - started;
await opened.model.featurize(batch);
const plan = opened.plan;
console.log(JSON.stringify({
  peakRssBytes: peakRssBytes(),
  estimatedPeakBytes: plan.estimatedPeakBytes,
  memory: opened.memory,
  sessions: plan.sessions,
  threadsPerSession: plan.threadsPerSession,
  prepack: plan.prepack,
  secondsPerBatch: (performance.now() - started - firstMs) / 1000,
}));
await opened.close();
