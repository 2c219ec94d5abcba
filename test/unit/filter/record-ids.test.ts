import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readJsonLines } from '../../../shared/src/corpus/json-lines-reader.ts';
import { readCorpus } from '../../../shared/src/corpus/read-corpus.ts';
import type { RecordShape } from '../../../shared/src/corpus/example.ts';
import { RecordIdentifier } from '../../../shared/src/filter/record-ids.ts';
import { chunked, collectAll, withTempDir } from './helpers.ts';

/** The ids readCorpus gives each row (null for a rejected row), as the audit computes them. */
async function auditIds(path: string, rows: number, shape?: RecordShape): Promise<(string | null)[]> {
  const ids: (string | null)[] = Array.from({ length: rows }, () => null);
  for await (const item of readCorpus(path, shape ? { shape } : {})) if (item.kind === 'example') ids[item.example.row] = item.example.id;
  return ids;
}

async function filterIds(text: string, shape?: RecordShape): Promise<(string | null)[]> {
  const identifier = new RecordIdentifier(shape);
  const records = await collectAll(readJsonLines(chunked(new TextEncoder().encode(text), 64), { source: 'x', maxRecordBytes: 1 << 20 }));
  return records.map((r) => identifier.idOf(r));
}

const files: Record<string, { lines: unknown[]; shape?: RecordShape }> = {
  'junk before the first detectable record': {
    lines: [{ foo: 1 }, 'a string', { instruction: 'I', input: '', output: 'O' }, { instruction: 'J', output: 'P', response: 'R' }],
  },
  // Detected as alpaca from the first record, so a later dolly-looking record is read as alpaca (as the audit does).
  'a file whose later record looks like another shape': {
    lines: [{ instruction: 'I', output: 'O' }, { instruction: 'J', response: 'R', output: 'P' }, { instruction: 'K', context: 'C', response: 'R' }],
  },
  'a forced shape': {
    lines: [{ instruction: 'I', context: '', response: 'R', output: 'O' }, { question: 'Q', answer: 'A' }],
    shape: 'dolly',
  },
  'chat and invalid chats': {
    lines: [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }] }, { messages: [] }, { messages: [{ role: 'user', content: 'x' }] }],
  },
};

for (const [name, { lines, shape }] of Object.entries(files)) {
  test(`ids equal the audit's: ${name}`, async () => {
    await withTempDir(async (dir) => {
      const text = `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
      const path = join(dir, 'corpus.jsonl');
      await writeFile(path, text);
      const expected = await auditIds(path, lines.length, shape);
      assert.ok(expected.some((id) => id !== null), 'the case has valid records');
      assert.deepEqual(await filterIds(text, shape), expected);
    });
  });
}
