import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Tokenizer } from 'tokenizers';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import { OnnxFeatureModel } from '../../shared/src/features/onnx-feature-model.ts';
import { gradientLayout, type GradientLayout } from '../../shared/src/graph/gradient-features.ts';
import { probedParams } from '../../shared/src/graph/probes.ts';
import { openCheckpoint, type Checkpoint } from '../../shared/src/model/checkpoint.ts';
import { toMessages } from '../../shared/src/prompt/chat-template.ts';
import { PromptTokenizer } from '../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import {
  independentTokenizer,
  LLAMA3_BOS,
  LLAMA3_EOT,
  writeChatModelCheckpoint,
  type ChatModelKind,
  type IndependentTokenizer,
} from '../helpers/chat-model-checkpoint.ts';
import { demoRecord } from '../helpers/demo-records.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { assertMatchesReference } from '../helpers/reference-parity.ts';
import { runTorchReference, type ReferenceResult } from '../helpers/torch-reference.ts';

// Checkpoints shaped like Llama-3.2-1B-Instruct (128,256 ids, GQA, llama3 RoPE, tied, eos list) and
// Llama-2-7b-chat (32,000 ids, untied) with real tokenizers: demo records rendered with the model's
// chat template must tokenize as an independent tokenizer does, and their features (representation,
// loss, exact full gradient) must match PyTorch autograd in float64.
const TOLERANCE = 1e-4;
const ANCHOR_TOKENS = 10;

interface Case {
  name: string;
  content: ExampleContent;
  /** Scored like an anchor: only the first ANCHOR_TOKENS response tokens count. */
  anchor?: boolean;
}

const CASES: Case[] = [
  { name: 'chat, one turn', content: demoRecord('corpus-chat.jsonl', 0) },
  { name: 'chat, two turns', content: demoRecord('corpus-chat.jsonl', 4) },
  { name: 'alpaca with input (French answer)', content: demoRecord('corpus.jsonl', 36) },
  {
    name: 'chat with a system message',
    content: {
      shape: 'chat',
      messages: [
        { role: 'system', content: 'You are a concise assistant.' },
        { role: 'user', content: 'Name two primary colours.' },
        { role: 'assistant', content: 'Red and blue.' },
      ],
    },
  },
  { name: 'harmful anchor (first 10 response tokens)', content: demoRecord('anchors/harmful.jsonl', 0), anchor: true },
];

/** What ends an answer in each template: Llama-3's <|eot_id|>, Llama-2's </s>. */
const ANSWER_END: Record<ChatModelKind, number> = { llama3: LLAMA3_EOT, llama2: 2 };
const BOS: Record<ChatModelKind, number> = { llama3: LLAMA3_BOS, llama2: 1 };

interface Prepared {
  dir: string;
  tokenizer: PromptTokenizer;
  independent: IndependentTokenizer;
  examples: TokenizedExample[];
  checkpoint: Checkpoint;
  model: OnnxFeatureModel;
  layout: GradientLayout[];
  reference: ReferenceResult;
}

let root: string;
const prepared = new Map<ChatModelKind, Promise<Prepared>>();

async function encodeCases(tokenizer: PromptTokenizer): Promise<TokenizedExample[]> {
  const out: TokenizedExample[] = [];
  for (const c of CASES) {
    out.push(await tokenizer.encode(c.content, { maxTokens: 512, ...(c.anchor ? { responseTokenLimit: ANCHOR_TOKENS } : {}) }));
  }
  return out;
}

async function prepare(kind: ChatModelKind): Promise<Prepared> {
  const dir = join(root, kind);
  await writeChatModelCheckpoint(dir, kind);
  const tokenizer = await PromptTokenizer.load(dir, { format: 'chat-template' });
  const examples = await encodeCases(tokenizer);
  const reference = runTorchReference({
    model_dir: dir,
    dtype: 'float64',
    examples: examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) })),
    want: ['representation', 'loss', 'grad_all'],
  });
  reference.catch(() => {}); // awaited below; reported by the tests
  const checkpoint = await openCheckpoint(dir);
  const model = await OnnxFeatureModel.open(checkpoint, { probe: 'all', projection: { kind: 'none' } });
  const layout = gradientLayout(probedParams(checkpoint.config, 'all'), { kind: 'none' });
  return { dir, tokenizer, independent: independentTokenizer(dir), examples, checkpoint, model, layout, reference: await reference };
}

before(() => {
  root = tempDir('chat-shapes');
  process.env.SAFESIFT_CACHE_DIR = join(root, 'cache');
  for (const kind of ['llama3', 'llama2'] as const) {
    const p = prepare(kind);
    p.catch(() => {}); // reported by the kind's own tests
    prepared.set(kind, p);
  }
});

after(async () => {
  for (const p of prepared.values()) {
    const ready = await p.catch(() => null);
    await ready?.model.close();
    await ready?.checkpoint.close();
  }
});

/** The last assistant message: the answer whose tokens are the labels. */
function answerOf(content: ExampleContent): string {
  return toMessages(content).at(-1)!.content;
}

function labelPositions(e: TokenizedExample): number[] {
  return Array.from(e.lossWeights.keys()).filter((t) => e.lossWeights[t]! > 0);
}

for (const kind of ['llama3', 'llama2'] as const) {
  describe(`${kind}-shaped checkpoint, --format chat-template`, () => {
    test('checkpoint has the real shape: vocabulary, special ids, attention heads, embeddings', async () => {
      const { checkpoint, tokenizer } = await prepared.get(kind)!;
      const c = checkpoint.config;
      if (kind === 'llama3') {
        assert.deepEqual([c.vocabSize, tokenizer.vocabSize, c.numHeads, c.numKvHeads, c.tieWordEmbeddings], [128_256, 128_256, 8, 2, true]);
        assert.deepEqual([c.bosTokenId, c.eosTokenIds], [128_000, [128_001, 128_008, 128_009]]);
        assert.equal(c.ropeScaling?.factor, 32);
        assert.ok(tokenizer.endIds.has(LLAMA3_EOT), 'every eos id of the list ends an answer');
      } else {
        assert.deepEqual([c.vocabSize, tokenizer.vocabSize, c.numHeads, c.numKvHeads, c.tieWordEmbeddings], [32_000, 32_000, 4, 4, false]);
        assert.deepEqual([c.bosTokenId, c.eosTokenIds], [1, [2]]);
      }
    });

    test('templated texts and their ids equal an independent tokenizer; labels are exactly the answer and its end token', async () => {
      const p = await prepared.get(kind)!;
      const rust = Tokenizer.fromFile(join(p.dir, 'tokenizer.json'));
      for (const [i, c] of CASES.entries()) {
        const messages = toMessages(c.content);
        const rendered = p.tokenizer.render(c.content);
        assert.equal(rendered.prompt, p.independent.render(messages.slice(0, -1), true), `${c.name}: prompt text`);
        assert.equal(rendered.full, p.independent.render(messages, false), `${c.name}: full text`);
        // The template writes BOS and the special tokens itself: no tokenizer-added specials.
        const promptIds = p.independent.encode(rendered.prompt);
        const fullIds = p.independent.encode(rendered.full);
        assert.deepEqual((await rust.encode(rendered.full, null, { addSpecialTokens: false })).getIds(), fullIds, `${c.name}: two tokenizers agree`);
        assert.deepEqual(fullIds.slice(0, promptIds.length), promptIds, `${c.name}: prompt ids are a prefix`);

        const end = fullIds.indexOf(ANSWER_END[kind], promptIds.length);
        assert.ok(end > promptIds.length, `${c.name}: the answer ends with its end token`);
        const ex = p.examples[i]!;
        assert.deepEqual(Array.from(ex.ids), fullIds.slice(0, end + 1), `${c.name}: example = template ids up to the answer's end token`);
        // Llama-2's template opens every [INST] with <s>; the tokenizer must not add another in front.
        assert.deepEqual([ex.ids[0], ex.ids[1] === BOS[kind]], [BOS[kind], false], `${c.name}: BOS first, not doubled`);
        const labelEnd = c.anchor ? promptIds.length + ANCHOR_TOKENS : end + 1;
        const labels = labelPositions(ex);
        assert.deepEqual(labels, Array.from({ length: labelEnd - promptIds.length }, (_, k) => promptIds.length + k), `${c.name}: label positions`);
        assert.ok(labels.every((t) => Math.abs(ex.lossWeights[t]! - 1 / labels.length) < 1e-7), `${c.name}: labels weigh 1/n`);
        if (!c.anchor) {
          assert.equal(ex.ids.at(-1), ANSWER_END[kind]);
          const answer = p.independent.decode(labels.map((t) => ex.ids[t]!));
          assert.equal(answer.trim(), answerOf(c.content).trim(), `${c.name}: the labels are the answer`);
        }
      }
    });

    test('representation, loss and the exact full gradient (probe all, no projection) match PyTorch in a right-padded batch', async () => {
      const p = await prepared.get(kind)!;
      const outputs = await p.model.run(p.examples);
      p.examples.forEach((e, i) => {
        const ref = p.reference.examples[i]!;
        const ours = outputs.features[i]!;
        const what = `${CASES[i]!.name} (${e.ids.length} tokens)`;
        assertMatchesReference(ours, ref, p.layout, what, TOLERANCE);
      });
    });
  });
}
