import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeAnchorFeatures } from '../../../shared/src/audit/anchor-features.ts';
import { openAuditModel } from '../../../shared/src/audit/audit-model.ts';
import { jobContext } from '../../../shared/src/cluster/job-context.ts';
import { workKeys } from '../../../shared/src/cluster/work-layout.ts';
import type { CorpusItem } from '../../../shared/src/corpus/example.ts';
import { readCorpus } from '../../../shared/src/corpus/read-corpus.ts';
import { encodeAnchorFeatures } from '../../../shared/src/distributed/anchor-features-codec.ts';
import { compileJobSpec, fromStoredSpec, parseJobSpec, toStoredSpec } from '../../../shared/src/distributed/job-spec.ts';
import { nameAnchorSets } from '../../../shared/src/scoring/anchor-sets.ts';
import { JobScorer } from '../../../services/worker/src/job-scorer.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { GSM8K_SAMPLE } from '../../helpers/test-data.ts';

const noS3 = () => {
  throw new Error('no S3 here');
};

test('job specs take an optional cache location, kept through the stored form', () => {
  const spec = compileJobSpec(parseJobSpec('out: s3://results/run/\ncache: s3://caches/features\n', 'spec.yaml'));
  assert.equal(spec.audit.cache, 's3://caches/features');
  assert.equal(fromStoredSpec(JSON.parse(JSON.stringify(toStoredSpec(spec)))).audit.cache, 's3://caches/features');
  assert.equal(compileJobSpec(parseJobSpec('out: o\n', 'spec.yaml')).audit.cache, undefined);
  assert.throws(() => parseJobSpec('out: o\ncache: http://x/y\n', 'spec.yaml'), /spec.yaml: cache: unsupported URI scheme 'http'/);
});

test("a worker's second pass over a batch takes every feature from the job's cache, with the same rows", async () => {
  process.env.SAFESIFT_CACHE_DIR = tempDir('job-scorer-model-cache');
  const dir = tempDir('job-scorer-cache');
  const spec = compileJobSpec({ out: `${dir}/out`, cache: `${dir}/features`, data: [GSM8K_SAMPLE], model: 'tiny' });
  const job = jobContext({ id: 'job-1', name: spec.name, submittedAt: new Date().toISOString(), spec: toStoredSpec(spec) }, noS3);
  // What the coordinator does: anchor features computed once and stored for the workers.
  const opened = await openAuditModel('tiny', { ...job.audit, threads: 1 });
  try {
    const anchors = await computeAnchorFeatures(nameAnchorSets(job.audit.harmful, job.audit.safe, job.audit.weights), opened.tokenizer, opened.model, { ...job.audit, batch: opened.batch }, () => {});
    await job.out.store.put(workKeys.anchors(job.work), encodeAnchorFeatures(anchors));
  } finally {
    await opened.close();
  }
  const items: CorpusItem[] = [];
  for await (const item of readCorpus(GSM8K_SAMPLE, { limit: 6 })) items.push(item);

  const first = await JobScorer.open(job, { cacheDir: process.env.SAFESIFT_CACHE_DIR, s3: noS3, threads: 1 });
  const cold = await first.score(0, items, 'w1').finally(() => first.close());
  assert.deepEqual([first.cache?.stats.hits, first.cache?.stats.misses, first.cache?.stats.segmentsWritten], [0, 6, 1]);

  const second = await JobScorer.open(job, { cacheDir: process.env.SAFESIFT_CACHE_DIR, s3: noS3, threads: 1 });
  const warm = await second.score(0, items, 'w2').finally(() => second.close());
  assert.deepEqual([second.cache?.stats.hits, second.cache?.stats.misses], [6, 0]);
  assert.equal(warm.scored, 6);
  assert.deepEqual(warm.rows, cold.rows);
  assert.deepEqual(warm.top, cold.top);
});
