import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PromptTokenizer, type PromptFormat } from '../../shared/src/prompt/prompt-tokenizer.ts';
import { ALIGNED_CHAT_MODEL, ALIGNED_CHAT_SHAPE, complianceAndRefusalPairs } from '../helpers/aligned-chat-model.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { duckRows, runCli } from '../helpers/run-cli.ts';
import { ANCHOR_FLAGS, GSM8K_SAMPLE, GSM8K_SAMPLE_RECORDS, gsm8kContents } from '../helpers/test-data.ts';

// The real `safesift audit` on the committed aligned chat model (a trained 4.2M-parameter Llama with
// a BPE tokenizer and the Llama-2 [INST] template), in both prompt formats: the audit reads the
// checkpoint as it was trained (low loss on math answers, refusals preferred to compliance), and
// its outputs are complete.
const env = { SAFESIFT_CACHE_DIR: tempDir('aligned-audit-cache') };
const K = 10;

interface Summary {
  model: { path: string; synthetic: boolean; architecture: { vocab_size: number; hidden_size: number; layers: number; tied_embeddings: boolean } };
  options: { format: string };
  bidirectional: boolean;
  counts: { records: number; scored: number; errors: number; truncated: number; top_k: number };
}

const pairs = complianceAndRefusalPairs();
const pairsFile = join(tempDir('aligned-pairs'), 'compliant-then-refusal.jsonl');
writeFileSync(pairsFile, pairs.flatMap((p) => [p.compliant, p.refusal]).map((c) => JSON.stringify({ messages: c.shape === 'chat' ? c.messages : [] })).join('\n') + '\n');

for (const format of ['chat-template', 'paper-llama2'] as const satisfies readonly PromptFormat[]) {
  test(`aligned chat model, --format ${format}: the audit reads the trained checkpoint (math answers cheap, refusals preferred) and writes complete outputs`, async () => {
    const out = tempDir(`aligned-${format}`);
    const args = ['audit', '--model', ALIGNED_CHAT_MODEL, '--format', format, '--data', GSM8K_SAMPLE, '--data', pairsFile, ...ANCHOR_FLAGS];
    const result = await runCli([...args, '--k', String(K), '--out', out, '--json'], env);
    assert.equal(result.code, 0, result.stderr);

    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
    const records = GSM8K_SAMPLE_RECORDS + 2 * pairs.length;
    assert.deepEqual([summary.model.path, summary.model.synthetic, summary.options.format, summary.bidirectional], [ALIGNED_CHAT_MODEL, false, format, true]);
    const a = summary.model.architecture;
    assert.deepEqual([a.vocab_size, a.hidden_size, a.layers, a.tied_embeddings], [ALIGNED_CHAT_SHAPE.vocabSize, ALIGNED_CHAT_SHAPE.hiddenSize, ALIGNED_CHAT_SHAPE.numLayers, ALIGNED_CHAT_SHAPE.tied]);
    assert.deepEqual(summary.counts, { records, scored: records, errors: 0, truncated: 0, top_k: K });

    const scores = join(out, 'scores.parquet');
    const [stats] = await duckRows(`select count(*)::int n, count(grad_score)::int graded, count(rep_score)::int rep from read_parquet('${scores}')`);
    assert.deepEqual(stats, { n: records, graded: records, rep: records });

    // Token counts are the prompt tokenizer's for this format.
    const tokenizer = await PromptTokenizer.load(ALIGNED_CHAT_MODEL, { format });
    const expected = (await tokenizer.encode(gsm8kContents([3])[0]!, { maxTokens: 512 })).ids.length;
    const [row3] = await duckRows(`select tokens::int tokens from read_parquet('${scores}') where source = '${GSM8K_SAMPLE}' and "row" = 3`);
    assert.equal(row3!.tokens, expected);

    // Trained on GSM8K-style answers (its test split): far below the ln(4096) = 8.3 nats of an untrained model.
    const [math] = await duckRows(`select avg(loss) mean, max(loss) worst from read_parquet('${scores}') where source = '${GSM8K_SAMPLE}'`);
    assert.ok((math!.mean as number) < 3, `mean GSM8K response loss ${String(math!.mean)} (a misread tokenizer or template gives ~8)`);
    // Aligned: for every harmful request its trained refusal costs fewer nats per token than complying.
    const pairLoss = await duckRows(`select "row"::int r, loss from read_parquet('${scores}') where source = '${pairsFile}' order by "row"`);
    for (let i = 0; i < pairs.length; i++) {
      const [compliant, refusal] = [pairLoss[2 * i]!.loss as number, pairLoss[2 * i + 1]!.loss as number];
      assert.ok(refusal + 1 < compliant, `request ${i}: refusal loss ${refusal} vs compliant ${compliant}`);
    }

    const best = await duckRows(`select id from read_parquet('${scores}') order by grad_score desc, id asc limit ${K}`);
    const top = await duckRows(`select rank::int rank, id from read_parquet('${join(out, 'topk.parquet')}') order by rank`);
    assert.deepEqual(top.map((r) => r.rank), Array.from({ length: K }, (_, i) => i + 1));
    assert.deepEqual(top.map((r) => ({ id: r.id })), best);
  });
}
