import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { estimateRecordCount } from '../../shared/src/audit/record-estimate.ts';
import { openParquetWriter } from '../../shared/src/output/parquet-table-writer.ts';
import { tempDir } from '../helpers/fixtures.ts';

test('record estimates: JSONL non-blank lines, Parquet footer rows, unknown for JSON arrays', async () => {
  const dir = tempDir('estimate');
  const jsonl = join(dir, 'a.jsonl');
  writeFileSync(jsonl, '{"a":1}\n\n  \n{"a":2}\r\n{"a":3}');
  assert.equal(await estimateRecordCount(jsonl), 3);

  const parquet = join(dir, 'b.parquet');
  const writer = await openParquetWriter(parquet, [{ name: 'x', type: 'int32' }], { rowGroupRows: 4 });
  await writer.append(Array.from({ length: 10 }, (_, x) => ({ x })));
  await writer.close();
  assert.equal(await estimateRecordCount(parquet), 10);

  const json = join(dir, 'c.json');
  writeFileSync(json, '[{"a":1}]');
  assert.equal(await estimateRecordCount(json), null);
});
