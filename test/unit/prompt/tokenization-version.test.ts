import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { ExampleContent } from '../../../shared/src/corpus/example.ts';
import { PromptTokenizer, TOKENIZATION_VERSION, TOKENIZER_LIBRARY, type PromptFormat } from '../../../shared/src/prompt/prompt-tokenizer.ts';
import type { EncodeOptions } from '../../../shared/src/prompt/loss-mask.ts';
import { gsm8kContents } from '../../helpers/test-data.ts';
import { testModel } from '../../helpers/test-model.ts';

/**
 * The feature cache finds examples by their rendered texts, trusting that the same texts give the
 * same tokens (cache-key.ts). These digests pin what our tokenization makes of fixed texts (with the
 * test model's tiny tokenizer; test-fixtures/unit/prompt/tokenization-version.test.ts pins the same
 * with the real stories260k tokenizer): if this test fails, tokenization changed, so bump
 * TOKENIZATION_VERSION in prompt-tokenizer.ts (old cache entries are then not used) and update the
 * digests here and there.
 */
const GOLDEN: Record<PromptFormat, string> = {
  'paper-llama2': 'aa710d7a4289114109327813e1ae850c',
  'chat-template': '7ca1bf3bf1f04ef78cea20d5a12083e2',
};

const CONTENTS: ExampleContent[] = [
  ...gsm8kContents([0, 1, 2]),
  { shape: 'alpaca', instruction: 'Name three colours.', input: 'Warm ones, please.', output: 'Red, orange and yellow.' },
  { shape: 'dolly', instruction: 'Who met whom?', context: 'Ann met Bob at noon.', response: 'Ann met Bob.' },
  {
    shape: 'chat',
    messages: [
      { role: 'user', content: 'Hi there.' },
      { role: 'assistant', content: 'Hello! How can I help?' },
      { role: 'user', content: 'List two fruits.' },
      { role: 'assistant', content: '- apple\n- pear' },
    ],
  },
];
const OPTIONS: EncodeOptions[] = [{ maxTokens: 512 }, { maxTokens: 96 }, { maxTokens: 512, responseTokenLimit: 10 }];

for (const format of Object.keys(GOLDEN) as PromptFormat[]) {
  test(`${format}: the tokens of fixed texts match tokenization version ${TOKENIZATION_VERSION} (${TOKENIZER_LIBRARY})`, async () => {
    const tokenizer = await PromptTokenizer.load(await testModel(), { format });
    const hash = createHash('sha256');
    for (const options of OPTIONS) {
      for (const result of await tokenizer.encodeMany(CONTENTS, options)) {
        if (result instanceof Error) {
          hash.update(`error:${result.name}\n`);
          continue;
        }
        hash.update(new Uint8Array(result.ids.buffer, result.ids.byteOffset, result.ids.byteLength));
        hash.update(new Uint8Array(result.lossWeights.buffer, result.lossWeights.byteOffset, result.lossWeights.byteLength));
        hash.update(`${result.labelCount}|${result.truncated}\n`);
      }
    }
    assert.equal(hash.digest('hex').slice(0, 32), GOLDEN[format], 'tokenization changed: bump TOKENIZATION_VERSION and update GOLDEN');
  });
}
