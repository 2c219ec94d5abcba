/**
 * Token ids for the experiment (issue 14, item 2), through safesift's own PromptTokenizer
 * (`--format chat-template`), as prepare-data.ts tokenizes the training data:
 *  - fine-tuning examples: GSM8K records in a style (`plain`: the record as the audit's
 *    `--format chat-template` renders it, so the fine-tuned ids are the audited ids; `alpaca`: the
 *    paper's system text and "### Instruction:" body), with prompt_len, the masked prefix;
 *  - evaluation prompts: request files (JSONL rows with `goal`, or `instruction` and `input`) in a style.
 */
import { readFileSync } from 'node:fs';
import type { ChatMessage, ExampleContent } from '../../shared/src/corpus/example.ts';
import { PromptTokenizer, isRendered } from '../../shared/src/prompt/prompt-tokenizer.ts';
import { promptMessages, type ChatStyle, type Request } from './chat-styles.ts';

export interface Gsm8kRecord { question: string; answer: string }
export interface EvalRequest { set: string; source: string; row: number; request: Request }

export function readJsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}

/** Requests of an evaluation file: AdvBench-style `goal` rows, or Alpaca/Dolly `instruction` (+ `input`/`context`) rows. */
export function readRequests(path: string, set: string): EvalRequest[] {
  return readJsonl<Record<string, unknown>>(path).map((r, i) => {
    const source = typeof r.source === 'string' ? r.source : path;
    const row = typeof r.row === 'number' ? r.row : i;
    if (typeof r.goal === 'string') return { set, source, row, request: { kind: 'advbench', instruction: r.goal, input: '' } };
    if (typeof r.instruction === 'string') {
      const input = typeof r.input === 'string' ? r.input : typeof r.context === 'string' ? r.context : '';
      return { set, source, row, request: { kind: source.includes('dolly') ? 'dolly' : 'alpaca', instruction: r.instruction, input } };
    }
    throw new Error(`${path} row ${i}: no "goal" or "instruction" field`);
  });
}

export class ReplicationTokenizer {
  private constructor(private readonly chat: PromptTokenizer) {}

  static async load(modelDir: string): Promise<ReplicationTokenizer> {
    return new ReplicationTokenizer(await PromptTokenizer.load(modelDir, { format: 'chat-template' }));
  }

  private async tokenize(contents: ExampleContent[]) {
    const rendered = this.chat.renderMany(contents);
    const ok = rendered.filter(isRendered);
    if (ok.length !== rendered.length) throw new Error('the chat template refused an example');
    const parts = await this.chat.tokenizeRendered(ok);
    return parts.map((p, i) => {
      if (!p.promptIds.every((id, j) => p.fullIds[j] === id)) throw new Error(`prompt ids are not a prefix: ${ok[i]!.prompt.slice(0, 80)}`);
      return { ...p, prompt: ok[i]!.prompt };
    });
  }

  /** Fine-tuning rows {ids, prompt_len} (ids cut at maxTokens, as the trainer and the audit cut them). */
  async trainRows(records: readonly Gsm8kRecord[], style: ChatStyle, maxTokens: number) {
    const contents: ExampleContent[] = records.map((r) =>
      style === 'plain'
        ? { shape: 'gsm8k', question: r.question, answer: r.answer }
        : { shape: 'chat', messages: [...promptMessages({ kind: 'gsm8k', instruction: r.question, input: '' }, style), { role: 'assistant', content: r.answer } as ChatMessage] });
    const t = await this.tokenize(contents);
    return t.map((p) => ({ ids: p.fullIds.slice(0, maxTokens), prompt_len: p.promptIds.length, full_tokens: p.fullIds.length }));
  }

  /** Evaluation prompt rows {set, style, source, row, request, prompt, ids}. */
  async evalRows(requests: readonly EvalRequest[], style: ChatStyle) {
    // The answer is a placeholder: only the prompt's ids are used (as prepare-data.ts does).
    const t = await this.tokenize(requests.map((r) => ({ shape: 'chat', messages: [...promptMessages(r.request, style), { role: 'assistant', content: '.' }] })));
    return requests.map((r, i) => ({
      set: r.set, style, source: r.source, row: r.row,
      request: r.request.input === '' ? r.request.instruction : `${r.request.instruction}\n\n${r.request.input}`,
      prompt: t[i]!.prompt, ids: t[i]!.promptIds,
    }));
  }
}
