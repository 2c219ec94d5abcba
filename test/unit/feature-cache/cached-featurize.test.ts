import { examplesPerBatch } from '../../../shared/src/features/featurize-batches.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileAuditOptions, resolveAuditOptions } from '../../../shared/src/audit/audit-options.ts';
import type { ExampleFeatures, FeatureModel } from '../../../shared/src/features/feature-model.ts';
import { featurizeProjected, featurizeWithCache, type FeatureRequest, type GradientProjector } from '../../../shared/src/feature-cache/cached-featurize.ts';
import { cacheNamespace, featureCacheKey } from '../../../shared/src/feature-cache/cache-key.ts';
import { FeatureCache } from '../../../shared/src/feature-cache/feature-cache.ts';
import type { TokenizedExample } from '../../../shared/src/prompt/tokenized.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { sameBits } from './random-entries.ts';

/** A stand-in model (the model is not under test): features are a fixed function of the tokens; calls are counted. */
class CountingModel implements FeatureModel {
  // Two direction layers of hidden size 4: 16 layer-state values per example.
  readonly info = { fingerprint: 'c'.repeat(64), probe: 'all', projection: 'none', representationDim: 4, gradientDim: 6, directionLayers: [1, 3] };
  featurized = 0;
  async featurize(batch: readonly TokenizedExample[]): Promise<ExampleFeatures[]> {
    this.featurized += batch.length;
    return batch.map((t) => {
      const s = t.ids.reduce((a, b) => a + b, 0);
      return {
        loss: Math.fround(s / 7),
        representation: Float32Array.from({ length: 4 }, (_, i) => Math.sin(s + i)),
        gradient: Float32Array.from({ length: 6 }, (_, i) => Math.cos(s * (i + 1)) / 3),
        layerStates: Float32Array.from({ length: 16 }, (_, i) => Math.tan(s + i / 5)),
      };
    });
  }
  async close(): Promise<void> {}
}

/** A request whose digest (standing in for the rendered texts') follows its tokens. */
function request(id: string, ids: number[], truncated = false): FeatureRequest {
  const digest = createHash('sha256').update(`${ids.join(',')}|${truncated}`).digest('hex').slice(0, 32);
  return { id, digest, tokenized: { ids: Int32Array.from(ids), lossWeights: Float32Array.from(ids, (_, i) => (i === ids.length - 1 ? 1 : 0)), labelCount: 1, truncated } };
}

const KEY = featureCacheKey({ fingerprint: 'c'.repeat(64), probe: 'all' }, resolveAuditOptions(compileAuditOptions({ out: 'o' }), { hiddenSize: 64 }));
const noS3 = () => {
  throw new Error('no S3 here');
};
const corpus = Array.from({ length: 20 }, (_, i) => request(`ex${i}`, [1, 5 + i, 9, i * 3]));

function assertSameFeatures(actual: ExampleFeatures[], expected: ExampleFeatures[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    const same = Object.is(a.loss, e.loss) && sameBits(a.representation, e.representation) && sameBits(a.gradient, e.gradient) && sameBits(a.layerStates, e.layerStates);
    assert.ok(same && a.layerStates.length === 16, `features ${i} differ`);
  });
}

test('a re-run featurizes only new or changed examples and returns what an uncached run returns', async () => {
  const dir = tempDir('cached-featurize');
  const model = new CountingModel();
  const cold = await FeatureCache.open(dir, KEY, noS3);
  const first = await featurizeWithCache(model, corpus, examplesPerBatch(3), cold);
  await cold.flush();
  assert.equal(model.featurized, 20);
  assert.deepEqual([cold.stats.hits, cold.stats.misses], [0, 20]);

  // Night two: two examples changed content (new ids), one kept its id but tokenizes differently.
  const changed = corpus.map((r, i) => (i === 4 ? request('ex4-new', [1, 2, 3]) : i === 11 ? request('ex11-new', [7, 7]) : r));
  changed[15] = request('ex15', [...corpus[15]!.tokenized!.ids].slice(0, 3), true);
  model.featurized = 0;
  const warm = await FeatureCache.open(dir, KEY, noS3);
  const second = await featurizeWithCache(model, changed, examplesPerBatch(3), warm);
  assert.equal(model.featurized, 3);
  assert.deepEqual([warm.stats.hits, warm.stats.misses], [17, 3]);
  const uncached = await featurizeWithCache(new CountingModel(), changed, examplesPerBatch(3), undefined);
  assertSameFeatures(second, uncached);
  assertSameFeatures(second.filter((_, i) => ![4, 11, 15].includes(i)), first.filter((_, i) => ![4, 11, 15].includes(i)));
});

test('an id repeated in one call is featurized once; its repeats count as hits', async () => {
  const model = new CountingModel();
  const cache = await FeatureCache.open(tempDir('cached-dupes'), KEY, noS3);
  const requests = [corpus[0]!, corpus[1]!, corpus[0]!, corpus[0]!];
  const features = await featurizeWithCache(model, requests, examplesPerBatch(2), cache);
  assert.equal(model.featurized, 2);
  assert.deepEqual([cache.stats.hits, cache.stats.misses], [2, 2]);
  assertSameFeatures(features, await featurizeWithCache(new CountingModel(), requests, examplesPerBatch(2), undefined));
  // Later calls in the same session find them pending, before any segment is written.
  await featurizeWithCache(model, [corpus[1]!], examplesPerBatch(2), cache);
  assert.equal(model.featurized, 2);
  assert.equal(cache.stats.segmentsWritten, 0);
});

test('entries whose segment turns out to be missing are computed after all, with the same results', async () => {
  const dir = tempDir('cached-late');
  const model = new CountingModel();
  const cache = await FeatureCache.open(dir, KEY, noS3);
  const expected = await featurizeWithCache(model, corpus, examplesPerBatch(4), cache);
  await cache.flush();
  const reopened = await FeatureCache.open(dir, KEY, noS3); // its index lists the segment...
  const segments = join(dir, 'features', cacheNamespace(KEY), 'segments');
  for (const name of readdirSync(segments)) rmSync(join(segments, name)); // ...which is then lost
  model.featurized = 0;
  assertSameFeatures(await featurizeWithCache(model, corpus, examplesPerBatch(4), reopened), expected);
  assert.equal(model.featurized, corpus.length);
  assert.deepEqual([reopened.stats.hits, reopened.stats.misses], [0, corpus.length]);
  await reopened.flush();
  assert.equal((await FeatureCache.open(dir, KEY, noS3)).size, corpus.length); // put back
});

/** Projects onto fixed rows, like GradientScorer.project: |g|² and one dot per row. */
function projector(target: string, rows: number[][]): GradientProjector & { calls: number } {
  return {
    target,
    calls: 0,
    project(g: Float32Array): Float64Array {
      this.calls++;
      return Float64Array.from([g.reduce((a, v) => a + v * v, 0), ...rows.map((r) => r.reduce((a, v, j) => a + v * g[j]!, 0))]);
    },
  };
}

test('projected features: a re-run against the same targets reads no gradient and returns what an uncached run returns', async () => {
  const dir = tempDir('cached-projected');
  const targets = [[1, 0, 2, 0, 0, 1], [0, 3, 0, 0, 1, 0]];
  const uncached = await featurizeProjected(new CountingModel(), corpus, examplesPerBatch(4), undefined, projector('t', targets));
  const model = new CountingModel();
  const cold = await FeatureCache.open(dir, KEY, noS3);
  const first = await featurizeProjected(model, corpus, examplesPerBatch(4), cold, projector('t', targets));
  await cold.flush();

  const warm = await FeatureCache.open(dir, KEY, noS3);
  const same = projector('t', targets);
  const second = await featurizeProjected(model, corpus, examplesPerBatch(4), warm, same);
  assert.equal(model.featurized, 20); // nothing recomputed
  assert.deepEqual({ gradientsRead: warm.stats.gradientsRead, projected: same.calls }, { gradientsRead: 0, projected: 0 });
  for (const run of [first, second]) {
    run.forEach((f, i) => {
      const u = uncached[i]!;
      const same = Object.is(f.loss, u.loss) && sameBits(f.representation, u.representation) && sameBits(f.projection, u.projection);
      assert.ok(same && sameBits(f.layerStates, u.layerStates) && f.layerStates.length === 16, `features ${i} differ`);
    });
  }

  // New anchors: the stored projections do not apply, so the gradients are read and projected afresh.
  const other = projector('t2', [[0, 0, 0, 1, 1, 1]]);
  const reopened = await FeatureCache.open(dir, KEY, noS3);
  const third = await featurizeProjected(model, corpus, examplesPerBatch(4), reopened, other);
  assert.equal(model.featurized, 20);
  assert.ok(reopened.stats.gradientsRead > 0);
  assert.equal(other.calls, 20);
  const plain = await featurizeWithCache(new CountingModel(), corpus, examplesPerBatch(4), undefined);
  third.forEach((f, i) => assert.ok(sameBits(f.projection, projector('x', [[0, 0, 0, 1, 1, 1]]).project(plain[i]!.gradient)), `projection ${i}`));
});

test('expected hits need no tokens: counts come from the cache, and hits whose segment is lost are tokenized late', async () => {
  const dir = tempDir('cached-untokenized');
  const model = new CountingModel();
  const targets = projector('t', [[1, 1, 0, 0, 0, 0]]);
  const cache = await FeatureCache.open(dir, KEY, noS3);
  const expected = await featurizeProjected(model, corpus, examplesPerBatch(4), cache, targets);
  await cache.flush();
  const untokenized = corpus.map((r) => ({ ...r, tokenized: null }));

  const warm = await FeatureCache.open(dir, KEY, noS3);
  const noTokens = async () => assert.fail('no request should need tokenizing');
  const served = await featurizeProjected(model, untokenized, examplesPerBatch(4), warm, targets, noTokens);
  served.forEach((f, i) => {
    assert.deepEqual([f.tokens, f.truncated], [corpus[i]!.tokenized!.ids.length, corpus[i]!.tokenized!.truncated]);
    assert.ok(sameBits(f.projection, expected[i]!.projection));
  });

  const reopened = await FeatureCache.open(dir, KEY, noS3);
  const segments = join(dir, 'features', cacheNamespace(KEY), 'segments');
  for (const name of readdirSync(segments)) rmSync(join(segments, name));
  const asked: number[] = [];
  const late = await featurizeProjected(model, untokenized, examplesPerBatch(4), reopened, targets, async (positions) => {
    asked.push(...positions);
    return positions.map((p) => corpus[p]!.tokenized!);
  });
  assert.deepEqual([...asked].sort((a, b) => a - b), corpus.map((_, i) => i));
  late.forEach((f, i) => assert.ok(sameBits(f.projection, expected[i]!.projection) && f.tokens === expected[i]!.tokens, `example ${i}`));
  await assert.rejects(featurizeProjected(model, untokenized, examplesPerBatch(4), undefined, targets), /without tokens/);
});
