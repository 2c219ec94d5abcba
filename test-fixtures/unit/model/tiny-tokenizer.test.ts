import '../../guard.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTinyTokenizer, buildTinyTokenizerConfig } from '../../../shared/src/model/tiny-tokenizer.ts';
import { STORIES260K } from '../../fixture-paths.ts';

// The tiny tokenizer (the tests' own models use it) is built to the structure of the real stories260k
// tokenizer: these checks hold it to that.
interface BpeModel {
  vocab: Record<string, number>;
  merges: string[];
}

const obj = buildTinyTokenizer();
const model = obj['model'] as BpeModel;

test('same normalizer, post-processor, decoder and added tokens as the stories260k tokenizer.json', async () => {
  const fixture = JSON.parse(await readFile(join(STORIES260K, 'tokenizer.json'), 'utf8'));
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'added_tokens']) {
    assert.deepEqual(obj[key], fixture[key], key);
  }
  const { vocab: _v, merges: _m, ...ours } = model as unknown as Record<string, unknown>;
  const { vocab: _fv, merges: _fm, ...theirs } = fixture.model;
  assert.deepEqual(ours, theirs);
});

test('chat template is the one the stories260k fixture ships', async () => {
  const fixture = JSON.parse(await readFile(join(STORIES260K, 'tokenizer_config.json'), 'utf8'));
  assert.equal(buildTinyTokenizerConfig()['chat_template'], fixture.chat_template);
});
