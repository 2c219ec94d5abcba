// Child process of the long-context benchmark: opens one feature graph, runs one example of the
// given length a few times, and reports time per run and its own memory (VmRSS after opening,
// VmHWM at the end), so that each measurement starts from a fresh process.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';

const [graphPath, tokensText, runsText, vocabText] = process.argv.slice(2);
if (!graphPath || !tokensText || !runsText || !vocabText) throw new Error('usage: long-context-child GRAPH TOKENS RUNS VOCAB');
const [tokens, runs, vocab] = [Number(tokensText), Number(runsText), Number(vocabText)];
const statusMiB = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

const session = await ort.InferenceSession.create(graphPath, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1 });
const sessionMiB = statusMiB('VmRSS');
// BOS, then arbitrary ids; the second half are labels (as a long response would be).
const ids = BigInt64Array.from({ length: tokens }, (_, t) => (t === 0 ? 1n : BigInt(3 + ((t * 7919) % (vocab - 3)))));
const weights = Float32Array.from({ length: tokens }, (_, t) => (t >= tokens / 2 ? 2 / tokens : 0));
const feeds = {
  input_ids: new ort.Tensor('int64', ids, [1, tokens]),
  attention_mask: new ort.Tensor('int64', new BigInt64Array(tokens).fill(1n), [1, tokens]),
  loss_weights: new ort.Tensor('float32', weights, [1, tokens]),
};
const seconds: number[] = [];
let finite = true;
for (let r = 0; r <= runs; r++) {
  const started = performance.now();
  const out = await session.run(feeds);
  if (r > 0) seconds.push((performance.now() - started) / 1000); // the first run warms up
  finite &&= (out.gradient!.data as Float32Array).every(Number.isFinite);
}
await session.release();
process.stdout.write(JSON.stringify({ sessionMiB, peakMiB: statusMiB('VmHWM'), seconds: Math.min(...seconds), finite }));
