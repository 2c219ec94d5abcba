/**
 * Data for the small aligned chat model (issue 14, item 1), deterministic for a seed:
 *  - splits: AdvBench goals into a training part and a held-out part; Alpaca and Dolly (the paper's
 *    safety subsets) and GSM8K *test* into training rows and held-out rows (GSM8K train is the corpus
 *    the audit searches and is never read);
 *  - training conversations: benign requests answered with their own responses, harmful requests
 *    answered with refusals (refusal-templates.ts), each in a chat style (chat-styles.ts);
 *  - a byte-level BPE tokenizer trained on them (train-tokenizer.ts), with a Llama-2 chat template;
 *  - every conversation rendered by that template and tokenized with safesift's own PromptTokenizer
 *    (`--format chat-template`), the prompt's ids being the masked prefix;
 *  - the evaluation prompts (held-out sets, in the `alpaca` and `plain` styles), tokenized the same way.
 *
 *   node --import tsx bench/replication/prepare-data.ts [--out DIR] [--seed N] [--vocab-size N]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChatMessage } from '../../shared/src/corpus/example.ts';
import { projectPath } from '../../shared/src/project-root.ts';
import { LLAMA2_CHAT_TEMPLATE } from '../../shared/src/model/tiny-tokenizer.ts';
import { ChatTemplate } from '../../shared/src/prompt/chat-template.ts';
import { PromptTokenizer, isRendered } from '../../shared/src/prompt/prompt-tokenizer.ts';
import { SeededRandom } from '../../shared/src/report/sampling.ts';
import { CHAT_STYLES, promptMessages, styleFor, TRAIN_STYLE_WEIGHTS, type ChatStyle, type Request } from './chat-styles.ts';
import { FIXTURE_FILES, permutation, readFixtureData, seedOf, splitRows } from './fixture-data.ts';
import { isRefusal, refusalKeywordsIn } from './refusal-judge.ts';
import { REFUSAL_TEMPLATES, renderRefusal } from './refusal-templates.ts';
import { BOS_ID, EOS_ID, chatTokenizerConfig, checkRoundTrip, trainByteLevelBpe } from './train-tokenizer.ts';

const { values: opts } = parseArgs({
  options: {
    fixtures: { type: 'string', default: projectPath('..', 'shared', 'fixtures', 'data') },
    out: { type: 'string', default: projectPath('bench', 'replication', 'out') },
    seed: { type: 'string', default: '14' },
    'vocab-size': { type: 'string', default: '4096' },
    'harmful-heldout': { type: 'string', default: '0.4' },
    'benign-heldout': { type: 'string', default: '0.1' },
    'gsm8k-heldout': { type: 'string', default: '100' },
    'harmful-repeats': { type: 'string', default: '2' },
    'max-tokens': { type: 'string', default: '512' },
  },
});
const seed = Number(opts.seed);
const vocabSize = Number(opts['vocab-size']);
const maxTokens = Number(opts['max-tokens']);
const harmfulRepeats = Number(opts['harmful-repeats']);
const rng = (stream: string) => new SeededRandom(seedOf(`${seed}/${stream}`));
const out = opts.out;
for (const sub of ['split', 'tokenizer', 'sft', 'eval']) mkdirSync(join(out, sub), { recursive: true });

const writeJsonl = (path: string, rows: readonly unknown[]) =>
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));

// ---------------------------------------------------------------- splits
const data = readFixtureData(opts.fixtures);
const harmfulSplit = splitRows(data.harmful.length, Math.round(data.harmful.length * Number(opts['harmful-heldout'])), rng('harmful'));
const alpacaSplit = splitRows(data.alpaca.length, Math.round(data.alpaca.length * Number(opts['benign-heldout'])), rng('alpaca'));
const dollySplit = splitRows(data.dolly.length, Math.round(data.dolly.length * Number(opts['benign-heldout'])), rng('dolly'));
const gsmSplit = splitRows(data.gsm8kTest.length, Number(opts['gsm8k-heldout']), rng('gsm8k'));

interface SourcedRequest extends Request { source: string; row: number; reference: string }
const alpacaReq = (row: number): SourcedRequest => {
  const r = data.alpaca[row]!;
  return { kind: 'alpaca', source: FIXTURE_FILES.alpaca, row, instruction: r.instruction, input: r.input, reference: r.output };
};
const dollyReq = (row: number): SourcedRequest => {
  const r = data.dolly[row]!;
  return { kind: 'dolly', source: FIXTURE_FILES.dolly, row, instruction: r.instruction, input: r.context, reference: r.response };
};
const gsmReq = (row: number): SourcedRequest => {
  const r = data.gsm8kTest[row]!;
  return { kind: 'gsm8k', source: FIXTURE_FILES.gsm8kTest, row, instruction: r.question, input: '', reference: r.answer };
};
const harmfulReq = (row: number): SourcedRequest => ({
  kind: 'advbench', source: FIXTURE_FILES.harmful, row, instruction: data.harmful[row]!, input: '', reference: '',
});

writeFileSync(
  join(out, 'split', 'split.json'),
  JSON.stringify(
    {
      seed,
      note: 'row indices (0-based) into the files named, under ../shared/fixtures/data; GSM8K train is never used',
      harmful: { file: FIXTURE_FILES.harmful, train: harmfulSplit.train, heldout: harmfulSplit.heldOut },
      alpaca: { file: FIXTURE_FILES.alpaca, train: alpacaSplit.train, heldout: alpacaSplit.heldOut },
      dolly: { file: FIXTURE_FILES.dolly, train: dollySplit.train, heldout: dollySplit.heldOut },
      gsm8k_test: { file: FIXTURE_FILES.gsm8kTest, train: gsmSplit.train, heldout: gsmSplit.heldOut },
    },
    null,
    1,
  ),
);
writeJsonl(join(out, 'split', 'harmful-train.jsonl'), harmfulSplit.train.map((row) => ({ row, goal: data.harmful[row] })));
writeJsonl(join(out, 'split', 'harmful-heldout.jsonl'), harmfulSplit.heldOut.map((row) => ({ row, goal: data.harmful[row] })));
const benignHeldout = [...alpacaSplit.heldOut.map(alpacaReq), ...dollySplit.heldOut.map(dollyReq)];
const gsmHeldout = gsmSplit.heldOut.map(gsmReq);
const heldoutRow = (r: SourcedRequest) => ({ source: r.source, row: r.row, instruction: r.instruction, input: r.input, reference: r.reference });
writeJsonl(join(out, 'split', 'benign-heldout.jsonl'), benignHeldout.map(heldoutRow));
writeJsonl(join(out, 'split', 'gsm8k-heldout.jsonl'), gsmHeldout.map(heldoutRow));
// In the AdvBench CSV's own form, for tools that take a prompt file like the paper's.
writeFileSync(join(out, 'split', 'harmful-heldout.csv'), harmfulSplit.heldOut.map((row) => csvField(data.harmful[row]!)).join('\n') + '\n');

function csvField(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// ---------------------------------------------------------------- training conversations
interface Conversation {
  kind: 'benign' | 'harmful';
  source: string;
  row: number;
  style: ChatStyle;
  refusal_template: number | null;
  messages: ChatMessage[];
}
const conversations: Conversation[] = [];
const styleRandom = rng('styles');
const benignTrain = [...alpacaSplit.train.map(alpacaReq), ...dollySplit.train.map(dollyReq), ...gsmSplit.train.map(gsmReq)];
for (const r of benignTrain) {
  const style = styleFor(styleRandom.next());
  conversations.push({
    kind: 'benign', source: r.source, row: r.row, style, refusal_template: null,
    messages: [...promptMessages(r, style), { role: 'assistant', content: r.reference }],
  });
}
// Each training goal `harmfulRepeats` times, with different templates (a seeded deck of all templates, dealt in turn).
const templateRandom = rng('refusals');
let deck: number[] = [];
const dealTemplate = (avoid: ReadonlySet<number>): number => {
  if (avoid.size >= REFUSAL_TEMPLATES.length) throw new Error('--harmful-repeats exceeds the number of refusal templates');
  for (;;) {
    if (deck.every((t) => avoid.has(t))) deck = [...permutation(REFUSAL_TEMPLATES.length, templateRandom), ...deck];
    const t = deck.pop()!;
    if (!avoid.has(t)) return t;
    deck.unshift(t); // keep it for the next goal
  }
};
for (const row of harmfulSplit.train) {
  const used = new Set<number>();
  for (let k = 0; k < harmfulRepeats; k++) {
    const template = dealTemplate(used);
    used.add(template);
    const style = styleFor(styleRandom.next());
    const refusal = renderRefusal(template, data.harmful[row]!);
    if (!isRefusal(refusal)) throw new Error(`refusal template ${template} has no refusal keyword`);
    conversations.push({
      kind: 'harmful', source: FIXTURE_FILES.harmful, row, style, refusal_template: template,
      messages: [...promptMessages(harmfulReq(row), style), { role: 'assistant', content: refusal }],
    });
  }
}
// Training order is the trainer's business (it shuffles per epoch with its own seed); keep a seeded one here too.
const order = permutation(conversations.length, rng('order'));
const shuffled = order.map((i) => conversations[i]!);

// ---------------------------------------------------------------- tokenizer
const tokDir = join(out, 'tokenizer');
writeFileSync(join(tokDir, 'tokenizer_config.json'), JSON.stringify(chatTokenizerConfig(maxTokens * 2), null, 2) + '\n');
// Train on the texts the model will see, rendered by the chat template, without the special tokens' text.
const template = new ChatTemplate(LLAMA2_CHAT_TEMPLATE, { bos_token: '', eos_token: '' });
const trainingTexts = shuffled.map((c) => template.render({ shape: 'chat', messages: c.messages }).full);
const trained = trainByteLevelBpe(trainingTexts, vocabSize);
writeFileSync(join(tokDir, 'tokenizer.json'), trained.json);
await checkRoundTrip(join(tokDir, 'tokenizer.json'), vocabSize, trainingTexts);

// ---------------------------------------------------------------- tokenized conversations
const chat = await PromptTokenizer.load(tokDir, { format: 'chat-template' });
if (chat.bosId !== BOS_ID || chat.eosId !== EOS_ID) throw new Error(`unexpected special ids bos ${chat.bosId} eos ${chat.eosId}`);

async function tokenize(messagesList: ChatMessage[][]): Promise<Array<{ promptIds: number[]; fullIds: number[]; prompt: string; full: string }>> {
  const rendered = chat.renderMany(messagesList.map((messages) => ({ shape: 'chat', messages })));
  const ok = rendered.filter(isRendered);
  if (ok.length !== rendered.length) throw new Error('the chat template refused a conversation');
  const parts = await chat.tokenizeRendered(ok);
  return parts.map((p, i) => {
    const prefix = p.promptIds.every((id, j) => p.fullIds[j] === id);
    if (!prefix) throw new Error(`prompt ids are not a prefix of the example's ids: ${JSON.stringify(ok[i]!.prompt.slice(0, 80))}`);
    return { ...p, prompt: ok[i]!.prompt, full: ok[i]!.full };
  });
}

const tokenized = await tokenize(shuffled.map((c) => c.messages));
let dropped = 0;
let truncated = 0;
const trainRows: unknown[] = [];
const lengths: number[] = [];
let labelTokens = 0;
shuffled.forEach((c, i) => {
  const t = tokenized[i]!;
  // Keep examples with at least 8 response tokens within max-tokens; the trainer cuts at max-tokens.
  if (t.promptIds.length > maxTokens - 8) return void dropped++;
  if (t.fullIds.length > maxTokens) truncated++;
  const ids = t.fullIds.slice(0, maxTokens);
  lengths.push(ids.length);
  labelTokens += ids.length - t.promptIds.length;
  trainRows.push({ ...c, prompt_len: t.promptIds.length, ids });
});
writeJsonl(join(out, 'sft', 'train.jsonl'), trainRows);

// Validation: held-out benign requests with their own answers, held-out goals with a refusal (alpaca style).
const valRandom = rng('val');
const valConversations = [
  ...benignHeldout.map((r) => ({ kind: 'benign', source: r.source, row: r.row, messages: [...promptMessages(r, 'alpaca'), { role: 'assistant' as const, content: r.reference }] })),
  ...harmfulSplit.heldOut.map((row) => ({
    kind: 'harmful', source: FIXTURE_FILES.harmful, row,
    messages: [...promptMessages(harmfulReq(row), 'alpaca'), { role: 'assistant' as const, content: renderRefusal(valRandom.below(REFUSAL_TEMPLATES.length), data.harmful[row]!) }],
  })),
];
const valTokenized = await tokenize(valConversations.map((c) => c.messages));
writeJsonl(
  join(out, 'sft', 'val.jsonl'),
  valConversations.flatMap((c, i) => {
    const t = valTokenized[i]!;
    return t.promptIds.length > maxTokens - 8 ? [] : [{ ...c, prompt_len: t.promptIds.length, ids: t.fullIds.slice(0, maxTokens) }];
  }),
);

// ---------------------------------------------------------------- evaluation prompts
const EVAL_STYLES: ChatStyle[] = ['alpaca', 'plain'];
const evalSets: Array<{ set: string; requests: SourcedRequest[] }> = [
  { set: 'harmful-heldout', requests: harmfulSplit.heldOut.map(harmfulReq) },
  { set: 'benign-heldout', requests: benignHeldout },
  { set: 'gsm8k-heldout', requests: gsmHeldout },
];
const evalRows: unknown[] = [];
for (const { set, requests } of evalSets) {
  for (const style of EVAL_STYLES) {
    // The answer is a placeholder: only the prompt's ids are used.
    const t = await tokenize(requests.map((r) => [...promptMessages(r, style), { role: 'assistant', content: '.' }]));
    requests.forEach((r, i) => {
      evalRows.push({
        set, style, source: r.source, row: r.row, request: r.input === '' ? r.instruction : `${r.instruction}\n\n${r.input}`,
        prompt: t[i]!.prompt, ids: t[i]!.promptIds,
        ...(set === 'harmful-heldout' ? {} : { reference: r.reference, reference_keywords: refusalKeywordsIn(r.reference) }),
      });
    });
  }
}
writeJsonl(join(out, 'eval', 'prompts.jsonl'), evalRows);

// ---------------------------------------------------------------- summary
const sorted = [...lengths].sort((a, b) => a - b);
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const countBy = <T>(xs: readonly T[], key: (x: T) => string) =>
  xs.reduce<Record<string, number>>((acc, x) => ((acc[key(x)] = (acc[key(x)] ?? 0) + 1), acc), {});
const summary = {
  seed,
  fixtures: opts.fixtures,
  split: {
    harmful: { train: harmfulSplit.train.length, heldout: harmfulSplit.heldOut.length },
    alpaca: { train: alpacaSplit.train.length, heldout: alpacaSplit.heldOut.length },
    dolly: { train: dollySplit.train.length, heldout: dollySplit.heldOut.length },
    gsm8k_test: { train: gsmSplit.train.length, heldout: gsmSplit.heldOut.length },
  },
  training: {
    conversations: conversations.length,
    kept: trainRows.length,
    dropped_prompt_too_long: dropped,
    truncated_at_max_tokens: truncated,
    max_tokens: maxTokens,
    harmful_repeats: harmfulRepeats,
    by_kind: countBy(conversations, (c) => c.kind),
    by_style: countBy(conversations, (c) => c.style),
    style_weights: TRAIN_STYLE_WEIGHTS,
    refusal_templates: REFUSAL_TEMPLATES.length,
    tokens: lengths.reduce((a, b) => a + b, 0),
    label_tokens: labelTokens,
    length_p50_p90_p99_max: [pct(0.5), pct(0.9), pct(0.99), sorted.at(-1)],
  },
  tokenizer: {
    library: 'tokenizers (npm) Tokenizer.train: BpeTrainer defaults, merges cut to the vocabulary size',
    vocab_size: trained.vocabSize,
    merges: trained.merges,
    byte_symbols_added: trained.addedByteSymbols,
    sha256: trained.sha256,
    trained_on: `${trainingTexts.length} rendered training conversations`,
  },
  eval: {
    styles: EVAL_STYLES,
    prompts: countBy(evalRows as Array<{ set: string; style: string }>, (r) => `${r.set}/${r.style}`),
    benign_references_with_refusal_keywords: benignHeldout.filter((r) => isRefusal(r.reference)).length,
  },
  chat_styles: CHAT_STYLES,
};
writeFileSync(join(out, 'prepare-summary.json'), JSON.stringify(summary, null, 2) + '\n');
console.log(JSON.stringify(summary, null, 2));
