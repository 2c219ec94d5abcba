import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../shared/src/errors.ts';
import { compileFilterOptions, DEFAULT_FILTER_MAX_RECORD_BYTES } from '../../../shared/src/filter/filter-options.ts';

const base = { scores: '/audit', out: '/out', data: ['/data/a.jsonl'] };
const refused = (raw: Parameters<typeof compileFilterOptions>[0], pattern: RegExp) =>
  assert.throws(() => compileFilterOptions(raw), (err: unknown) => err instanceof ConfigError && pattern.test(err.message) && !err.message.includes('\n'));

test('defaults: the audit\'s top-k, everything but the flagged records, 64 MiB records; copies named after their inputs', () => {
  const options = compileFilterOptions({ ...base, data: ['/data/a.jsonl', 's3://bucket/corpus/b.parquet', 'c.json'] });
  assert.deepEqual(options.rule, { kind: 'top-k' });
  assert.equal(options.keepFlagged, false);
  assert.equal(options.maxRecordBytes, DEFAULT_FILTER_MAX_RECORD_BYTES);
  assert.deepEqual(options.inputs.map((i) => [i.name, i.format]), [['a.jsonl', 'jsonl'], ['b.parquet', 'parquet'], ['c.json', 'json']]);
  assert.deepEqual(compileFilterOptions({ ...base, threshold: '-0.25' }).rule, { kind: 'threshold', threshold: -0.25 });
  assert.deepEqual(compileFilterOptions({ ...base, topFraction: '0.1', keepFlagged: true }).rule, { kind: 'top-fraction', fraction: 0.1 });
});

test('bad values and combinations are refused with one line naming the flags', () => {
  refused({ ...base, threshold: '0.1', topFraction: '0.2' }, /--threshold and --top-fraction/);
  refused({ ...base, threshold: 'high' }, /--threshold: expected a number/);
  refused({ ...base, threshold: '' }, /--threshold/);
  refused({ ...base, topFraction: '0' }, /--top-fraction.*\(0, 1\]/);
  refused({ ...base, topFraction: '1.5' }, /--top-fraction/);
  refused({ ...base, data: [] }, /--data/);
  refused({ ...base, scores: undefined }, /--scores is required/);
  refused({ ...base, data: ['/data/a.csv'] }, /a\.csv.*\.jsonl/);
  refused({ ...base, maxRecordBytes: 0 }, /--max-record-bytes/);
});

test('copies that would collide, or replace an input or the audit\'s outputs, are refused', () => {
  refused({ ...base, data: ['/x/a.jsonl', 's3://b/y/a.jsonl'] }, /\/x\/a\.jsonl and s3:\/\/b\/y\/a\.jsonl have the same file name 'a\.jsonl'/);
  refused({ ...base, data: ['/data/flagged.jsonl'] }, /flagged\.jsonl/);
  refused({ ...base, data: ['/data/filter-summary.json'] }, /filter-summary\.json/);
  refused({ ...base, out: '/data/', data: ['/data/a.jsonl'] }, /would overwrite the input \/data\/a\.jsonl/);
  refused({ ...base, out: 's3://b/corpus', data: ['s3://b/corpus/a.jsonl'] }, /would overwrite the input/);
  refused({ ...base, out: '/audit/', data: ['/elsewhere/errors.jsonl'] }, /replace the audit's errors\.jsonl/);
  // Writing beside the audit is fine for other names.
  assert.equal(compileFilterOptions({ ...base, out: '/audit' }).inputs.length, 1);
});
