/**
 * Our own small Llama-2-style tokenizer (sentencepiece BPE with byte fallback, in Hugging Face
 * tokenizer.json form), for synthetic checkpoints. Same structure as the stories260k fixture.
 */

export const UNK = '<unk>';
export const BOS = '<s>';
export const EOS = '</s>';
const SPACE = '\u2581'; // ▁, sentencepiece's word-start mark

/** Meta's Llama-2 chat template, as shipped in Llama-2 chat tokenizer_config.json files. */
export const LLAMA2_CHAT_TEMPLATE =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
  '{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}' +
  "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
  "{% else %}{% set content = message['content'] %}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

// Common English words and chat-format pieces; every prefix of each becomes a piece too (see below).
const WORDS = [
  '▁the', '▁and', '▁to', '▁of', '▁a', '▁in', '▁is', '▁it', '▁that', '▁you', '▁for', '▁was', '▁with',
  '▁on', '▁are', '▁be', '▁this', '▁have', '▁not', '▁can', '▁how', '▁what', '▁I', 'ing', 'ed', 'er',
  'tion', '▁help', '▁please', '▁write', '▁make', '▁[INST]', '▁[/INST]', '<<SYS>>', '<</SYS>>',
];

function byteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** Pieces after the bytes: ▁, printable ASCII, then the prefix-closed word pieces (a piece's prefix precedes it). */
function pieces(): { chars: string[]; merged: string[] } {
  const chars = [SPACE];
  for (let c = 0x21; c <= 0x7e; c++) chars.push(String.fromCharCode(c));
  const known = new Set(chars);
  const merged: string[] = [];
  const add = (piece: string): void => {
    if (known.has(piece)) return;
    const cps = Array.from(piece);
    add(cps.slice(0, -1).join(''));
    known.add(piece);
    merged.push(piece);
  };
  for (const w of WORDS) add(w);
  return { chars, merged };
}

export interface TinyTokenizer {
  tokenizer: Record<string, unknown>;
  vocabSize: number;
}

function build(): TinyTokenizer {
  const vocab: Record<string, number> = {};
  const ids = new Map<string, number>();
  const put = (piece: string): void => {
    ids.set(piece, ids.size);
    vocab[piece] = ids.get(piece)!;
  };
  for (const s of [UNK, BOS, EOS]) put(s);
  for (let b = 0; b < 256; b++) put(byteToken(b));
  const { chars, merged } = pieces();
  for (const p of chars) put(p);
  for (const p of merged) put(p);

  // As transformers' SentencePieceExtractor: for each merged piece in rank order, every split into two
  // in-vocabulary pieces, ordered by the halves' ids. So every merge's result is in the vocabulary.
  const merges: string[] = [];
  for (const piece of merged) {
    const cps = Array.from(piece);
    const splits: [string, string][] = [];
    for (let k = 1; k < cps.length; k++) {
      const left = cps.slice(0, k).join('');
      const right = cps.slice(k).join('');
      if (ids.has(left) && ids.has(right)) splits.push([left, right]);
    }
    splits.sort((a, b) => ids.get(a[0])! - ids.get(b[0])! || ids.get(a[1])! - ids.get(b[1])!);
    for (const [l, r] of splits) merges.push(`${l} ${r}`);
  }

  const special = (id: number, content: string) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, UNK), special(1, BOS), special(2, EOS)],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPACE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: BOS, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: BOS, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [BOS]: { id: BOS, ids: [1], tokens: [BOS] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: UNK,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  return { tokenizer, vocabSize: ids.size };
}

let cached: TinyTokenizer | undefined;

/** The tokenizer.json value (a fresh deep copy each call, safe to mutate). */
export function buildTinyTokenizer(): Record<string, unknown> {
  cached ??= build();
  return structuredClone(cached.tokenizer);
}

/** Number of ids the tiny tokenizer uses (specials, 256 bytes, characters, merged pieces). */
export const TINY_TOKENIZER_VOCAB_SIZE: number = (cached ??= build()).vocabSize;

/** A LlamaTokenizer-style tokenizer_config.json value with the Llama-2 chat template. */
export function buildTinyTokenizerConfig(options: { modelMaxLength?: number } = {}): Record<string, unknown> {
  const decoder = (content: string) => ({
    content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true,
  });
  return {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: { '0': decoder(UNK), '1': decoder(BOS), '2': decoder(EOS) },
    bos_token: BOS,
    eos_token: EOS,
    unk_token: UNK,
    pad_token: null,
    chat_template: LLAMA2_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: options.modelMaxLength ?? 2048,
    padding_side: 'right',
    sp_model_kwargs: {},
    spaces_between_special_tokens: false,
    tokenizer_class: 'LlamaTokenizer',
    use_default_system_prompt: false,
  };
}
