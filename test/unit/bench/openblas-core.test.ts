import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeOpenblasChoice, openblasCoreCandidates } from '../../../bench/openblas-core.ts';

test('OpenBLAS kernel sets are tried only where the CPU has their instructions', () => {
  assert.deepEqual(openblasCoreCandidates(new Set(['sse4_2'])), []);
  assert.deepEqual(openblasCoreCandidates(new Set(['avx2', 'fma'])), ['Haswell', 'Zen']);
  assert.deepEqual(openblasCoreCandidates(new Set(['avx2', 'avx512f', 'avx512_bf16'])), ['Haswell', 'Zen', 'SkylakeX', 'Cooperlake']);
});

test('the choice names the chosen kernel set and every rate, failures included', () => {
  const text = describeOpenblasChoice({ chosen: 'SkylakeX', rates: [{ core: undefined, gflops: 101.4 }, { core: 'SkylakeX', gflops: 190 }, { core: 'Cooperlake', gflops: undefined }] });
  assert.equal(text, "OPENBLAS_CORETYPE=SkylakeX (one-thread 1024² matmul, GFLOP/s: OpenBLAS's own detection 101, OPENBLAS_CORETYPE=SkylakeX 190, OPENBLAS_CORETYPE=Cooperlake failed)");
});
