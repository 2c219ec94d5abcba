import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PromptTokenizer } from '../../shared/src/prompt/prompt-tokenizer.ts';
import { writeChatModelCheckpoint } from '../helpers/chat-model-checkpoint.ts';
import { DEMO, demoRecord } from '../helpers/demo-records.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { duckRows, runCli } from '../helpers/run-cli.ts';

// The real `safesift audit --format chat-template` on checkpoints shaped like Llama-3.2-1B-Instruct
// and Llama-2-7b-chat with their real tokenizers: the demo corpora (chat and alpaca) and demo anchors.
const env = { SAFESIFT_CACHE_DIR: tempDir('chat-audit-cache') };
const LIMIT = 10;
const K = 5;

interface Summary {
  model: { path: string; synthetic: boolean; architecture: { vocab_size: number; kv_heads: number; tied_embeddings: boolean } };
  options: { format: string; model: string };
  features: { probe: string; projection: string };
  inputs: Array<{ source: string; records: number; scored: number; errors: number }>;
  counts: { records: number; scored: number; errors: number; top_k: number };
}

const SHAPES = {
  llama3: { vocab: 128_256, kvHeads: 2, tied: true },
  llama2: { vocab: 32_000, kvHeads: 4, tied: false },
} as const;

for (const kind of ['llama3', 'llama2'] as const) {
  test(`${kind}-shaped checkpoint: the audit CLI with --format chat-template writes scores, top-k and a summary naming model and format`, async () => {
    const model = join(tempDir(`${kind}-model`), 'checkpoint');
    await writeChatModelCheckpoint(model, kind);
    const out = tempDir(`${kind}-audit`);
    const data = [join(DEMO, 'corpus-chat.jsonl'), join(DEMO, 'corpus.jsonl')];
    const args = ['audit', '--model', model, '--format', 'chat-template', '--data', data[0]!, '--data', data[1]!];
    const result = await runCli([...args, '--limit', String(LIMIT), '--k', String(K), '--out', out, '--json'], env);
    assert.equal(result.code, 0, result.stderr);

    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
    assert.deepEqual(JSON.parse(result.stdout), summary, 'stdout carries summary.json');
    assert.deepEqual([summary.model.path, summary.options.model, summary.model.synthetic], [model, model, false]);
    assert.deepEqual(summary.model.architecture.vocab_size, SHAPES[kind].vocab);
    assert.deepEqual([summary.model.architecture.kv_heads, summary.model.architecture.tied_embeddings], [SHAPES[kind].kvHeads, SHAPES[kind].tied]);
    assert.equal(summary.options.format, 'chat-template');
    assert.deepEqual([summary.features.probe, summary.features.projection], ['all', 'kron:64x128']);
    assert.deepEqual(summary.counts, { records: 2 * LIMIT, scored: 2 * LIMIT, errors: 0, truncated: 0, top_k: K });
    assert.deepEqual(summary.inputs.map((i) => [i.records, i.scored, i.errors]), [[LIMIT, LIMIT, 0], [LIMIT, LIMIT, 0]]);
    assert.equal(readFileSync(join(out, 'errors.jsonl'), 'utf8'), '');

    const scores = join(out, 'scores.parquet');
    const [stats] = await duckRows(
      `select count(*)::int n, count(distinct id)::int ids, count(grad_score)::int graded, count(rep_score)::int rep, ` +
        `min(loss) > 0 and max(loss) < 100 sane_loss from read_parquet('${scores}')`,
    );
    assert.deepEqual(stats, { n: 2 * LIMIT, ids: 2 * LIMIT, graded: 2 * LIMIT, rep: 2 * LIMIT, sane_loss: true });
    // The CLI tokenized with the model's template: a record's token count is what the prompt tokenizer gives.
    const tokenizer = await PromptTokenizer.load(model, { format: 'chat-template' });
    const expected = (await tokenizer.encode(demoRecord('corpus-chat.jsonl', 0), { maxTokens: 512 })).ids.length;
    const [first] = await duckRows(`select tokens::int tokens from read_parquet('${scores}') where source = '${data[0]}' and "row" = 0`);
    assert.equal(first!.tokens, expected);

    const best = await duckRows(`select id from read_parquet('${scores}') order by grad_score desc, id asc limit ${K}`);
    const top = await duckRows(`select rank::int rank, id from read_parquet('${join(out, 'topk.parquet')}') order by rank`);
    assert.deepEqual(top.map((r) => r.rank), Array.from({ length: K }, (_, i) => i + 1));
    assert.deepEqual(top.map((r) => ({ id: r.id })), best);
  });
}
