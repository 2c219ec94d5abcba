/**
 * A byte-level BPE tokenizer.json trained with Hugging Face `tokenizers` (the npm bindings), and the
 * tokenizer_config.json of a Llama-2 chat model around it.
 *
 * The npm bindings train only with the model's default trainer (`Tokenizer.train(files)` calls
 * `BpeTrainer::default()`: vocab_size 30000, no special tokens, no initial alphabet) and expose no
 * trainer options. So the library trains, and we keep the prefix of its merges that the same trainer
 * with a smaller vocab_size stops at (it merges in the same order and stops once the vocabulary is
 * full), then add the byte alphabet (all 256 byte symbols, like a Python `initial_alphabet`) and the
 * special tokens, and re-number: <unk> 0, <s> 1, </s> 2 (as Llama-2), the 256 bytes, the merges.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BPE, Tokenizer, byteLevelPreTokenizer } from 'tokenizers';
import { BOS, EOS, LLAMA2_CHAT_TEMPLATE, UNK } from '../../shared/src/model/tiny-tokenizer.ts';

export const SPECIAL_TOKENS = [UNK, BOS, EOS] as const;
export const BOS_ID = 1;
export const EOS_ID = 2;

/** GPT-2's byte-to-symbol table (what the ByteLevel pre-tokenizer maps each byte of the text to). */
export function byteSymbols(): string[] {
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const symbols: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) symbols.push(String.fromCodePoint(printable(b) ? b : 256 + extra++));
  return symbols;
}

interface SavedTokenizer {
  pre_tokenizer: unknown;
  model: { vocab: Record<string, number>; merges: Array<[string, string] | string> } & Record<string, unknown>;
}

export interface TrainedTokenizer {
  /** tokenizer.json, as text. */
  json: string;
  vocabSize: number;
  merges: number;
  /** Byte symbols the training texts did not contain (added to the alphabet). */
  addedByteSymbols: number;
  sha256: string;
}

/** Trains on `texts` and returns a tokenizer.json of exactly `vocabSize` ids (specials included). */
export function trainByteLevelBpe(texts: readonly string[], vocabSize: number): TrainedTokenizer {
  const bytes = byteSymbols();
  const wantMerges = vocabSize - SPECIAL_TOKENS.length - bytes.length;
  if (wantMerges < 1) throw new Error(`vocab size ${vocabSize} leaves no room for merges`);
  const dir = mkdtempSync(join(tmpdir(), 'safesift-bpe-'));
  let saved: SavedTokenizer;
  try {
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, texts.join('\n'));
    const trainer = new Tokenizer(BPE.empty());
    // Llama-3 style: GPT-2's regex split, no prefix space (the chat template writes its own spaces).
    trainer.setPreTokenizer(byteLevelPreTokenizer(false, true));
    trainer.train([corpus]);
    trainer.save(join(dir, 'trained.json'));
    saved = JSON.parse(readFileSync(join(dir, 'trained.json'), 'utf8')) as SavedTokenizer;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // The trained alphabet is every id below the first merge's result; merges come in training order.
  const trainedIds = saved.model.vocab;
  const pairs = saved.model.merges.map((m) => (typeof m === 'string' ? (m.split(' ') as [string, string]) : m));
  const vocab: Record<string, number> = {};
  let next = 0;
  for (const special of SPECIAL_TOKENS) vocab[special] = next++;
  const alphabet = new Set(Object.keys(trainedIds).filter((t) => [...t].length === 1));
  for (const symbol of bytes) vocab[symbol] = next++;
  const unknownAlphabet = [...alphabet].filter((s) => !(s in vocab));
  if (unknownAlphabet.length > 0) throw new Error(`trained alphabet has non-byte symbols: ${unknownAlphabet.join(' ')}`);
  const kept: Array<[string, string]> = [];
  for (const [a, b] of pairs) {
    if (next >= vocabSize) break;
    const merged = a + b;
    if (trainedIds[merged] === undefined) throw new Error(`merge ${a} ${b} has no vocabulary entry`);
    kept.push([a, b]);
    if (!(merged in vocab)) vocab[merged] = next++;
  }
  if (next < vocabSize) throw new Error(`the trainer made only ${kept.length} merges; vocab size ${vocabSize} needs ${wantMerges}`);

  const special = (id: number, content: string) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((t, i) => special(i, t)),
    normalizer: null,
    pre_tokenizer: saved.pre_tokenizer,
    // As Llama-2: encoding with special tokens prepends <s> (safesift's paper-llama2 relies on it).
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: BOS, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: BOS, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [BOS]: { id: BOS, ids: [BOS_ID], tokens: [BOS] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { ...saved.model, unk_token: UNK, vocab, merges: kept },
  };
  const json = JSON.stringify(tokenizer, null, 1);
  return {
    json,
    vocabSize: next,
    merges: kept.length,
    addedByteSymbols: bytes.filter((s) => !alphabet.has(s)).length,
    sha256: createHash('sha256').update(json).digest('hex'),
  };
}

/** tokenizer_config.json of a Llama-2 chat model (fast tokenizer, Meta's chat template). */
export function chatTokenizerConfig(modelMaxLength: number): Record<string, unknown> {
  const decoder = (content: string) => ({
    content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true,
  });
  return {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(SPECIAL_TOKENS.map((t, i) => [String(i), decoder(t)])),
    bos_token: BOS,
    eos_token: EOS,
    unk_token: UNK,
    pad_token: null,
    chat_template: LLAMA2_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    model_max_length: modelMaxLength,
    padding_side: 'right',
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
}

/** Checks the saved tokenizer: loads, has `vocabSize` ids, and decodes each text's ids back to the text. */
export async function checkRoundTrip(path: string, vocabSize: number, texts: readonly string[]): Promise<void> {
  const tokenizer = Tokenizer.fromFile(path);
  const size = tokenizer.getVocabSize(true);
  if (size !== vocabSize) throw new Error(`${path}: vocabulary of ${size}, expected ${vocabSize}`);
  for (const [token, id] of SPECIAL_TOKENS.map((t, i) => [t, i] as const)) {
    if (tokenizer.tokenToId(token) !== id) throw new Error(`${path}: ${token} is not id ${id}`);
  }
  const encodings = await tokenizer.encodeBatch([...texts], { addSpecialTokens: false });
  const decoded = await tokenizer.decodeBatch(encodings.map((e) => e.getIds()), false);
  decoded.forEach((text, i) => {
    if (text !== texts[i]) throw new Error(`${path}: text ${i} does not survive encode/decode: ${JSON.stringify(texts[i]?.slice(0, 80))}`);
  });
}
