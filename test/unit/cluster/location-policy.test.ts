import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileAuditOptions } from '../../../shared/src/audit/audit-options.ts';
import { checkJobLocations, DEFAULT_LOCATION_POLICY, parseLocationPolicy } from '../../../shared/src/cluster/location-policy.ts';
import { ConfigError } from '../../../shared/src/errors.ts';

const job = (raw: Parameters<typeof compileAuditOptions>[0]) => compileAuditOptions(raw);
const refused = (fn: () => void, pattern: RegExp) => assert.throws(fn, (e: unknown) => e instanceof ConfigError && pattern.test(e.message));

test('default policy: any S3 location, no local path; the shipped demo files and the tiny model always pass', () => {
  checkJobLocations('j', job({ data: ['s3://any/corpus.jsonl'], harmful: ['s3://b/h.jsonl'], model: 's3://m/llama/', out: 's3://o/run' }), DEFAULT_LOCATION_POLICY);
  checkJobLocations('j', job({ out: 's3://o/run' }), DEFAULT_LOCATION_POLICY); // demo corpus and anchors, tiny model
  refused(() => checkJobLocations('j', job({ data: ['/etc/passwd.jsonl'], out: 's3://o/run' }), DEFAULT_LOCATION_POLICY), /^job j: data \/etc\/passwd\.jsonl refused: cluster services take no local paths/);
  refused(() => checkJobLocations('j', job({ model: '/var/run/secrets/model', out: 's3://o/run' }), DEFAULT_LOCATION_POLICY), /model \/var\/run\/secrets\/model refused/);
  refused(() => checkJobLocations('j', job({ out: '/tmp/x' }), DEFAULT_LOCATION_POLICY), /out \/tmp\/x refused/);
  refused(() => checkJobLocations('j', job({ out: 's3://o/run', cache: '/cache' }), DEFAULT_LOCATION_POLICY), /cache \/cache refused/);
});

test('listed folders and prefixes: inside passes, a sibling with the same prefix or a climb out does not', () => {
  const policy = parseLocationPolicy('s3://corpora/team-a, /data/corpora ,s3://results');
  assert.deepEqual(policy, { localFolders: ['/data/corpora'], s3Prefixes: [{ bucket: 'corpora', key: 'team-a' }, { bucket: 'results', key: '' }] });
  checkJobLocations('j', job({ data: ['s3://corpora/team-a/x.jsonl', '/data/corpora/y.jsonl'], out: 's3://results/any/where' }), policy);
  refused(() => checkJobLocations('j', job({ data: ['s3://corpora/team-ab/x.jsonl'], out: 's3://results/r' }), policy), /data s3:\/\/corpora\/team-ab\/x\.jsonl refused: not under an allowed S3 prefix/);
  refused(() => checkJobLocations('j', job({ data: ['s3://other/x.jsonl'], out: 's3://results/r' }), policy), /not under an allowed S3 prefix/);
  refused(() => checkJobLocations('j', job({ data: ['/data/corpora/../secrets/x.jsonl'], out: 's3://results/r' }), policy), /not under an allowed folder \(\/data\/corpora\)/);
  refused(() => checkJobLocations('j', job({ data: ['/data/corpora-old/x.jsonl'], out: 's3://results/r' }), policy), /not under an allowed folder/);
  // Only local folders listed: S3 stays open.
  checkJobLocations('j', job({ data: ['s3://anything/x.jsonl'], out: '/data/corpora/out' }), parseLocationPolicy('/data/corpora'));
});

test('a bad list entry is a usage error', () => {
  assert.throws(() => parseLocationPolicy('relative/folder'), /neither an s3:\/\/ prefix nor an absolute folder/);
  assert.deepEqual(parseLocationPolicy(' '), DEFAULT_LOCATION_POLICY);
});
