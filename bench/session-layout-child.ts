// One configuration of the session-layout benchmark, in its own process so VmHWM is its own.
// argv: MODEL_DIR CORPUS EXAMPLES MAX_TOKENS CONFIG_JSON; prints one JSON line.
import { featurizeInBatches } from '../shared/src/features/featurize-batches.ts';
import { peakRssBytes } from '../shared/src/audit/peak-memory.ts';
import { PooledFeatureModel } from '../shared/src/features/pooled-feature-model.ts';
import { parseProjection } from '../shared/src/graph/projection.ts';
import { openCheckpoint } from '../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import { tokenizeCorpus } from './bench-models.ts';

export interface SessionLayoutConfig {
  sessions: number;
  threads: number;
  batchSize: number;
  prepack: boolean;
  dtype: 'float32' | 'float16';
}

const [modelDir, corpus, examplesText, maxTokensText, configText] = process.argv.slice(2);
if (!modelDir || !corpus || !examplesText || !maxTokensText || !configText) throw new Error('usage: session-layout-child MODEL CORPUS EXAMPLES MAX_TOKENS CONFIG_JSON');
const config = JSON.parse(configText) as SessionLayoutConfig;
const checkpoint = await openCheckpoint(modelDir);
const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
const examples = await tokenizeCorpus(tokenizer, corpus, Number(examplesText), { maxTokens: Number(maxTokensText) });
const model = await PooledFeatureModel.open(checkpoint, {
  probe: 'all',
  projection: parseProjection('kron:64x128', 1),
  dtype: config.dtype,
  workers: config.sessions,
  threads: config.threads,
  prepack: config.prepack,
});
const afterOpen = peakRssBytes();
// One warm-up batch per session, then the timed pass over every example.
await featurizeInBatches(model, examples.slice(0, config.sessions * config.batchSize), { examples: config.batchSize, tokens: Infinity });
const start = performance.now();
await featurizeInBatches(model, examples, { examples: config.batchSize, tokens: Infinity });
const seconds = (performance.now() - start) / 1000;
await model.close();
await checkpoint.close();
console.log(JSON.stringify({ examplesPerSecond: examples.length / seconds, peakRssBytes: peakRssBytes(), openRssBytes: afterOpen, tokens: examples.reduce((n, e) => n + e.ids.length, 0) }));
