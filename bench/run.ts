// `npm run bench`: measures what the issues set targets for and rewrites BENCHMARKS.md.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCacheDir } from '../shared/src/model/cache-dir.ts';
import { BENCH_50M_SPEC, writeRandomLlamaCheckpoint } from '../shared/src/model/synthetic-checkpoint.ts';
import { measureAuditMemory, type AuditMemoryRow } from './audit-memory.ts';
import { measureFeatureCost, type FeatureCostRow } from './feature-cost.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, '..', 'shared', 'fixtures');
const stories = join(fixtures, 'models', 'stories260k');
const gsm8k = join(fixtures, 'data', 'gsm8k', 'gsm8k_train.jsonl');
const demoCorpus = join(root, 'demo', 'corpus.jsonl');

/**
 * The ~50M random Llama, with stories260k's tokenizer (its 512 ids fit the 32000-id vocabulary):
 * realistic token counts for GSM8K, where our character-level tiny tokenizer would triple them.
 */
async function benchModel50m(): Promise<string> {
  const dir = join(defaultCacheDir(), 'models', 'bench-50m-v2');
  if (!existsSync(join(dir, 'model.safetensors'))) {
    await writeRandomLlamaCheckpoint(dir, BENCH_50M_SPEC);
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(stories, file), join(dir, file));
  }
  return dir;
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);

function featureTable(rows: FeatureCostRow[]): string {
  const lines = ['| model | projection | batch | forward ex/s | features ex/s | features / forward time |', '|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.model} | ${r.projection} | ${r.batchSize} | ${fmt(r.forwardPerSecond)} | ${fmt(r.featuresPerSecond)} | ${fmt(r.ratio, 2)}× |`);
  return lines.join('\n');
}

function memoryTable(rows: AuditMemoryRow[]): string {
  const lines = ['| corpus | records | peak RSS (MiB) | examples/s |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| demo corpus × ${r.copies} | ${r.records} | ${fmt(r.peakRssMiB)} | ${fmt(r.examplesPerSecond)} |`);
  return lines.join('\n');
}

const started = new Date();
console.error('feature graph vs plain forward…');
const featureRows = [
  ...(await measureFeatureCost({ label: 'stories260k', modelDir: stories, corpusPath: gsm8k, projections: [{ kind: 'none' }], maxTokens: 512, examples: 32, repeats: 3 })),
  ...(await measureFeatureCost({
    label: 'random Llama 58M (vocab 32000)',
    modelDir: await benchModel50m(),
    corpusPath: gsm8k,
    projections: [{ kind: 'kron', outDim: 64, inDim: 128, seed: 1 }, { kind: 'none' }],
    maxTokens: 256,
    examples: 32,
    repeats: 2,
  })),
];
console.error('audit peak memory…');
const memoryRows = await measureAuditMemory(demoCorpus, [10, 100], mkdtempSync(join(tmpdir(), 'safesift-bench-')), {});

const ortVersion = (JSON.parse(readFileSync(join(root, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
const worst = Math.max(...featureRows.map((r) => r.ratio));
const rss = memoryRows.map((r) => r.peakRssMiB);
const report = `# Benchmarks

Written by \`npm run bench\` on ${started.toISOString()}; every ratio below was measured side by side in one run.

Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${fmt(totalmem() / 2 ** 30)} GiB; Node ${process.version}; onnxruntime-node ${ortVersion} (CPU, all cores, graph optimisation 'all').

## Feature graph vs plain forward (issue: local audit)

32 GSM8K examples in paper-llama2 format (stories260k: up to 512 tokens, best of 3 alternating runs; the 58M model, with stories260k's tokenizer, up to 256 tokens, best of 2), fed in batches of 1, 8 and 32. The feature graph computes the representation, the mean response loss and the per-example LM-head gradient; the forward computes logits only. Target: features cost at most 1.25× a plain forward.

${featureTable(featureRows)}

Worst ratio: ${fmt(worst, 2)}×.

## Peak memory of \`safesift audit\` as the corpus grows

The tiny demo model on the demo corpus repeated 10 and 100 times (streaming: memory should not grow with the corpus).

${memoryTable(memoryRows)}

Peak RSS grows ${fmt((rss[1]! / rss[0]!), 2)}× for 10× the records.
`;
writeFileSync(join(root, 'BENCHMARKS.md'), report);
console.error('wrote BENCHMARKS.md');
