import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ModelError } from '../errors.ts';

// tokenizer_config.json writes special tokens either as strings or as serialized AddedTokens.
const tokenString = z.union([z.string(), z.object({ content: z.string() }).transform((t) => t.content)]);
const tokenId = z.union([z.number().int(), z.array(z.number().int())]);

const tokenizerConfigSchema = z.looseObject({
  bos_token: tokenString.nullish(),
  eos_token: tokenString.nullish(),
  chat_template: z
    .union([z.string(), z.array(z.object({ name: z.string(), template: z.string() }))])
    .nullish(),
});

const modelConfigSchema = z.looseObject({
  bos_token_id: tokenId.nullish(),
  eos_token_id: tokenId.nullish(),
});

export interface TokenizerFiles {
  tokenizerPath: string;
  bosToken: string | undefined;
  eosToken: string | undefined;
  chatTemplate: string | undefined;
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
  /**
   * Every eos id of config.json and generation_config.json: the tokens that end an answer (Llama-3
   * instruct lists end-of-text, end-of-message and end-of-turn; early ones only in generation_config).
   */
  eosTokenIds: number[];
}

async function readJson<T>(path: string, schema: z.ZodType<T>, required: boolean): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if (!required && (cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return schema.parse(JSON.parse(text));
  } catch (cause) {
    throw new ModelError(`invalid ${path}: ${(cause as Error).message}`, { cause });
  }
}

const firstId = (v: number | number[] | null | undefined): number | undefined => (Array.isArray(v) ? v[0] : (v ?? undefined));
const allIds = (v: number | number[] | null | undefined): number[] => (Array.isArray(v) ? v : v == null ? [] : [v]);

/** Reads what tokenization needs from a Hugging Face model folder (tokenizer_config.json, config.json, generation_config.json). */
export async function readTokenizerFiles(modelDir: string): Promise<TokenizerFiles> {
  const tokConfig = await readJson(join(modelDir, 'tokenizer_config.json'), tokenizerConfigSchema, false);
  const modelConfig = await readJson(join(modelDir, 'config.json'), modelConfigSchema, false);
  const generationConfig = await readJson(join(modelDir, 'generation_config.json'), modelConfigSchema, false);
  const template = tokConfig?.chat_template;
  // A list of named templates: the "default" one is what transformers uses.
  const chatTemplate = Array.isArray(template)
    ? (template.find((t) => t.name === 'default') ?? template[0])?.template
    : (template ?? undefined);
  return {
    tokenizerPath: join(modelDir, 'tokenizer.json'),
    bosToken: tokConfig?.bos_token ?? undefined,
    eosToken: tokConfig?.eos_token ?? undefined,
    chatTemplate,
    bosTokenId: firstId(modelConfig?.bos_token_id),
    eosTokenId: firstId(modelConfig?.eos_token_id),
    eosTokenIds: [...new Set([...allIds(modelConfig?.eos_token_id), ...allIds(generationConfig?.eos_token_id)])],
  };
}
