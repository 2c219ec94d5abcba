/**
 * A JSON-lines corpus with bad records of every kind interleaved with good ones, and the
 * answer key. Shared by the corpus unit tests and the audit's end-to-end test.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface BadCorpus {
  path: string;
  /** Rows (0-based, blank lines not counted) that must become examples. */
  goodRows: number[];
  /** Rows that must become errors, with a fragment their reason must contain. */
  badRows: { row: number; reasonIncludes: string }[];
}

/** Size of the oversized record: 10 MiB, over the default 4 MiB limit. */
export const HUGE_RECORD_BYTES = 10 * 1024 * 1024;

const good = (n: number): string =>
  JSON.stringify({ instruction: `Give me fact number ${n}.`, input: '', output: `Fact ${n}: water is wet.` });

function hugeRecord(): Buffer {
  const head = '{"instruction":"Repeat the letter a.","input":"","output":"';
  const tail = '"}';
  return Buffer.from(head + 'a'.repeat(HUGE_RECORD_BYTES - head.length - tail.length) + tail, 'utf8');
}

export async function writeBadCorpus(dir: string): Promise<BadCorpus> {
  const lines: { bytes: Buffer; good?: true; reasonIncludes?: string; eol?: string }[] = [
    { bytes: Buffer.from(good(0)), good: true },
    { bytes: Buffer.from('{"instruction": "Say hi.", "input": "", "output": }'), reasonIncludes: 'malformed JSON' },
    { bytes: Buffer.from(good(2)), good: true },
    { bytes: Buffer.from(JSON.stringify({ instruction: 'Name a colour.', input: '' })), reasonIncludes: "missing field 'output'" },
    {
      bytes: Buffer.from(JSON.stringify({ instruction: 'Say nothing.', input: '', output: ' \n\t ' })),
      reasonIncludes: "empty response field 'output'",
    },
    { bytes: hugeRecord(), reasonIncludes: `record is ${HUGE_RECORD_BYTES} bytes, over the 4194304-byte limit` },
    { bytes: Buffer.from(good(6)), good: true },
    {
      // 0xC3 0x28 is an invalid two-byte sequence; 0xFF never occurs in UTF-8.
      bytes: Buffer.concat([Buffer.from('{"instruction":"Spell caf'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","output":"ok"}')]),
      reasonIncludes: 'invalid UTF-8',
    },
    {
      bytes: Buffer.from(JSON.stringify({ instruction: 'Count to three.', input: '', output: 123 })),
      reasonIncludes: "field 'output' must be a string, got number",
    },
    { bytes: Buffer.from('["instruction", "output"]'), reasonIncludes: 'not a JSON object' },
    { bytes: Buffer.from(good(10)), good: true, eol: '\r\n' },
    {
      bytes: Buffer.from(JSON.stringify({ instruction: ['Explain', 'this'], input: '', output: 'Done.' })),
      reasonIncludes: "field 'instruction' must be a string, got array",
    },
    { bytes: Buffer.from(JSON.stringify({ instruction: '   ', input: '', output: 'Something.' })), reasonIncludes: "empty instruction field 'instruction'" },
    { bytes: Buffer.from(good(13)), good: true, eol: '' },
  ];

  const parts: Buffer[] = [];
  const goodRows: number[] = [];
  const badRows: BadCorpus['badRows'] = [];
  lines.forEach((line, row) => {
    parts.push(line.bytes, Buffer.from(line.eol ?? '\n'));
    if (row === 4) parts.push(Buffer.from('\n   \n')); // blank lines: not records, rows do not advance
    if (line.good) goodRows.push(row);
    else badRows.push({ row, reasonIncludes: line.reasonIncludes ?? '' });
  });
  const path = join(dir, 'bad-corpus.jsonl');
  await writeFile(path, Buffer.concat(parts));
  return { path, goodRows, badRows };
}
