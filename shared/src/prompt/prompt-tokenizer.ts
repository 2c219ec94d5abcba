import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer } from 'tokenizers';
import type { ExampleContent } from '../corpus/example.ts';
import { ModelError, SafesiftError } from '../errors.ts';
import { ChatTemplate } from './chat-template.ts';
import { buildTokenizedExample, checkEncodeOptions, type EncodeOptions } from './loss-mask.ts';
import { readTokenizerFiles } from './model-tokenizer-files.ts';
import { paperExample, renderPaperLlama2 } from './paper-llama2.ts';
import { NoLabelsError, PromptShapeError } from './prompt-errors.ts';
import type { TokenizedExample } from './tokenized.ts';

export type PromptFormat = 'paper-llama2' | 'chat-template';

/**
 * Version of how rendered texts become ids and loss weights here (BOS/EOS handling, truncation,
 * loss masks). Cached features are found by the rendered texts, so bump this whenever the same
 * texts would give other tokens (the golden digests in tokenization-version.test.ts catch a change).
 * 2: a chat-template example ends at its answer's last end token (any eos id), not at the text's end.
 */
export const TOKENIZATION_VERSION = 2;

/** The tokenizer library and its version: its encodings are part of what cached features depend on. */
export const TOKENIZER_LIBRARY = `tokenizers@${(createRequire(import.meta.url)('tokenizers/package.json') as { version: string }).version}`;
export type { EncodeOptions } from './loss-mask.ts';

/** Errors that concern one record only; encodeMany returns them in place of that record's result. */
export type PromptRecordError = NoLabelsError | PromptShapeError;

/** The two texts of an example: the prompt (masked out) and the full example text. */
export interface RenderedTexts {
  prompt: string;
  full: string;
}

/** Ids before truncation: the prompt's, and the full example's ending with EOS (a template's: its answer's end token). */
export interface TokenizedParts {
  promptIds: number[];
  fullIds: number[];
}

/** Renders records in one prompt format and turns them into ids and loss weights with the model's tokenizer. */
export class PromptTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly format: PromptFormat,
    /** BOS id (config.json, else the tokenizer's bos_token); always set for paper-llama2. */
    readonly bosId: number | undefined,
    readonly eosId: number,
    /** Tokenizer vocabulary size including added tokens (the model's embedding may be larger). */
    readonly vocabSize: number,
    private readonly template: ChatTemplate | undefined,
    /** Ids that end a templated answer: every eos id of the model's configs and the tokenizer's eos_token. */
    readonly endIds: ReadonlySet<number>,
  ) {}

  static async load(modelDir: string, options: { format: PromptFormat }): Promise<PromptTokenizer> {
    const files = await readTokenizerFiles(modelDir);
    if (!existsSync(files.tokenizerPath)) {
      throw new ModelError(`${modelDir} has no tokenizer.json (only Hugging Face fast tokenizers are supported)`);
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = Tokenizer.fromFile(files.tokenizerPath);
    } catch (cause) {
      throw new ModelError(`cannot load ${files.tokenizerPath}: ${(cause as Error).message}`, { cause });
    }
    const idOf = (token: string | undefined): number | undefined =>
      token === undefined ? undefined : (tokenizer.tokenToId(token) ?? undefined);
    const bosId = files.bosTokenId ?? idOf(files.bosToken);
    const eosId = files.eosTokenId ?? idOf(files.eosToken);
    if (eosId === undefined) throw new ModelError(`${modelDir}: no eos_token_id in config.json and no eos_token`);
    if (bosId === undefined && options.format === 'paper-llama2') {
      throw new ModelError(`${modelDir}: paper-llama2 needs a BOS token, but config.json and tokenizer_config.json name none`);
    }
    const tokenText = (id: number | undefined, text: string | undefined): string =>
      text ?? (id === undefined ? null : tokenizer.idToToken(id)) ?? '';
    const template =
      options.format === 'chat-template'
        ? new ChatTemplate(
            files.chatTemplate,
            { bos_token: tokenText(bosId, files.bosToken), eos_token: tokenText(eosId, files.eosToken) },
            modelDir,
          )
        : undefined;
    const endIds = new Set([eosId, ...files.eosTokenIds, ...[idOf(files.eosToken)].filter((id) => id !== undefined)]);
    return new PromptTokenizer(tokenizer, options.format, bosId, eosId, tokenizer.getVocabSize(true), template, endIds);
  }

  /** The prompt and full example text in this tokenizer's format (throws PromptShapeError). */
  render(content: ExampleContent): RenderedTexts {
    if (this.template !== undefined) return this.template.render(content);
    const rendered = renderPaperLlama2(content);
    return { prompt: rendered.prompt, full: paperExample(rendered) };
  }

  /** The texts of each record, or the record's error. */
  renderMany(contents: readonly ExampleContent[]): Array<RenderedTexts | PromptShapeError> {
    return contents.map((c) => {
      try {
        return this.render(c);
      } catch (error) {
        if (error instanceof PromptShapeError) return error;
        throw error;
      }
    });
  }

  /** Prompt and full ids of each record, untruncated, or the record's error. */
  async tokenizeParts(contents: readonly ExampleContent[]): Promise<Array<TokenizedParts | PromptShapeError>> {
    const rendered = this.renderMany(contents);
    const parts = await this.tokenizeRendered(rendered.filter(isRendered));
    let next = 0;
    return rendered.map((r) => (r instanceof PromptShapeError ? r : parts[next++]!));
  }

  /** Prompt and full ids of rendered texts, untruncated, in one batched tokenizer call. */
  async tokenizeRendered(rendered: readonly RenderedTexts[]): Promise<TokenizedParts[]> {
    const texts = rendered.flatMap((r) => [r.prompt, r.full]);
    // paper-llama2 relies on the tokenizer's post-processor for BOS; a chat template writes its own.
    const addSpecialTokens = this.template === undefined;
    const encodings = texts.length === 0 ? [] : await this.tokenizer.encodeBatch(texts, { addSpecialTokens });
    return rendered.map((_, i) => {
      const promptIds = this.withBos(encodings[2 * i]!.getIds());
      const fullIds = this.withBos(encodings[2 * i + 1]!.getIds());
      if (this.template === undefined) fullIds.push(this.eosId);
      else this.endAtAnswerEnd(fullIds, promptIds.length);
      return { promptIds, fullIds };
    });
  }

  /** One record as ids and loss weights; throws NoLabelsError or PromptShapeError for a bad record. */
  async encode(content: ExampleContent, opts: EncodeOptions): Promise<TokenizedExample> {
    const [result] = await this.encodeMany([content], opts);
    if (result instanceof SafesiftError) throw result;
    return result!;
  }

  /** Many records in one batched tokenizer call; a record that cannot be encoded gets its error in its slot. */
  async encodeMany(
    contents: readonly ExampleContent[],
    opts: EncodeOptions,
  ): Promise<Array<TokenizedExample | PromptRecordError>> {
    checkEncodeOptions(opts);
    const rendered = this.renderMany(contents);
    const encoded = await this.encodeRendered(rendered.filter(isRendered), opts);
    let next = 0;
    return rendered.map((r) => (r instanceof PromptShapeError ? r : encoded[next++]!));
  }

  /** Rendered texts as ids and loss weights, batched; a record left with nothing to learn gets its error. */
  async encodeRendered(rendered: readonly RenderedTexts[], opts: EncodeOptions): Promise<Array<TokenizedExample | NoLabelsError>> {
    checkEncodeOptions(opts);
    const parts = await this.tokenizeRendered(rendered);
    return parts.map((p) => {
      try {
        return buildTokenizedExample(p.fullIds, p.promptIds.length, opts);
      } catch (error) {
        if (error instanceof NoLabelsError) return error;
        throw error;
      }
    });
  }

  /** Text of ids with special tokens shown, for logs and reports. */
  decodePreview(ids: ArrayLike<number>): Promise<string> {
    return this.tokenizer.decode(Array.from(ids), false);
  }

  /**
   * A templated example ends with the answer's end token (Llama-3: <|eot_id|>, Llama-2: </s>): what
   * a template writes after it (a newline, or the next turn's header from templates that add the
   * generation prompt unconditionally) is not the answer. The last end token counts, so one typed
   * inside the answer text does not cut it short. With none, the first eos id is appended.
   */
  private endAtAnswerEnd(fullIds: number[], promptLength: number): void {
    for (let i = fullIds.length - 1; i >= promptLength; i--) {
      if (this.endIds.has(fullIds[i]!)) {
        fullIds.length = i + 1;
        return;
      }
    }
    fullIds.push(this.eosId);
  }

  private withBos(ids: number[]): number[] {
    // A tokenizer.json whose post-processor adds no BOS still gets the paper's leading BOS.
    if (this.template === undefined && this.bosId !== undefined && ids[0] !== this.bosId) ids.unshift(this.bosId);
    return ids;
  }
}

/** Whether renderMany rendered this record (rather than reporting its error). */
export function isRendered(r: RenderedTexts | PromptShapeError): r is RenderedTexts {
  return !(r instanceof PromptShapeError);
}
