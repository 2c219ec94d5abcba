// Models, fixture paths and tokenized inputs the benchmarks share.
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExampleContent } from '../shared/src/corpus/example.ts';
import { readCorpus } from '../shared/src/corpus/read-corpus.ts';
import { defaultCacheDir } from '../shared/src/model/cache-dir.ts';
import { BENCH_50M_SPEC, writeRandomLlamaCheckpoint } from '../shared/src/model/synthetic-checkpoint.ts';
import type { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import { nameAnchorSets, type AnchorSetSpec } from '../shared/src/scoring/anchor-sets.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Read-only fixtures beside the checkout (never copied into the repo). */
export const FIXTURES = join(REPO_ROOT, '..', 'shared', 'fixtures');
export const STORIES260K = join(FIXTURES, 'models', 'stories260k');
export const GSM8K_TRAIN = join(FIXTURES, 'data', 'gsm8k', 'gsm8k_train.jsonl');
const ANCHOR_DIR = join(FIXTURES, 'data', 'anchors');
/** The paper's illegal-activities anchors: one harmful set, two safe sets (weights +1, -1, -1). */
export const ILLEGAL_ACTIVITIES_ANCHORS: readonly AnchorSetSpec[] = nameAnchorSets(
  [join(ANCHOR_DIR, 'pure-bad-illegal-activities-selected10.jsonl')],
  [join(ANCHOR_DIR, 'pure-bad-illegal-acticities-selected-10-anchor1.jsonl'), join(ANCHOR_DIR, 'pure-bad-illegal-activities-selected-10-anchor2.jsonl')],
  [1, -1, -1],
);

/**
 * The ~50M random Llama, with stories260k's tokenizer (its 512 ids fit the 32000-id vocabulary):
 * realistic token counts for GSM8K, where our character-level tiny tokenizer would triple them.
 */
export async function benchModel50m(): Promise<string> {
  const dir = join(defaultCacheDir(), 'models', 'bench-50m-v2');
  if (!existsSync(join(dir, 'model.safetensors'))) {
    await writeRandomLlamaCheckpoint(dir, BENCH_50M_SPEC);
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(STORIES260K, file), join(dir, file));
  }
  return dir;
}

/** Examples of a corpus file's first `limit` records; records that cannot be encoded are left out. */
export async function tokenizeCorpus(
  tokenizer: PromptTokenizer,
  path: string,
  limit: number | undefined,
  options: { maxTokens: number; responseTokenLimit?: number },
): Promise<TokenizedExample[]> {
  const contents: ExampleContent[] = [];
  for await (const item of readCorpus(path, limit === undefined ? {} : { limit })) {
    if (item.kind === 'example') contents.push(item.example.content);
  }
  const encoded = await tokenizer.encodeMany(contents, options);
  return encoded.filter((e): e is TokenizedExample => !(e instanceof Error));
}

/** Anchor sets tokenized as the paper does: only the first `anchorTokens` response tokens count. */
export async function tokenizeAnchorSets(
  tokenizer: PromptTokenizer,
  specs: readonly AnchorSetSpec[],
  options: { maxTokens: number; anchorTokens: number },
): Promise<Array<{ spec: AnchorSetSpec; examples: TokenizedExample[] }>> {
  const sets = [];
  for (const spec of specs) {
    const examples = await tokenizeCorpus(tokenizer, spec.source, undefined, { maxTokens: options.maxTokens, responseTokenLimit: options.anchorTokens });
    if (examples.length === 0) throw new Error(`anchor set ${spec.name} (${spec.source}) has no usable record`);
    sets.push({ spec, examples });
  }
  return sets;
}
