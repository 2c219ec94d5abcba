// BENCHMARKS.md section `fidelity-large`: probe/projection fidelity on the 58M and 1B-shaped models.
import { measureFidelity1b, type Fidelity1bResult } from './probe-fidelity-1b.ts';
import { measureLargeFidelity, type LargeFidelityResult, type LargeFidelityRow } from './probe-fidelity-large.ts';

const f = (x: number, digits = 2) => x.toFixed(digits);
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const isDefault = (r: { probe: string; projection: string }) => r.probe === 'all' && r.projection === 'kron:64x128';

export interface FidelityLargeResults {
  large: Omit<LargeFidelityResult, 'exactScores' | 'examplesUsed'>;
  b1: Fidelity1bResult;
}

export async function measureFidelityLarge(): Promise<FidelityLargeResults> {
  console.error('probe fidelity on the 58M and 1B-shaped models…');
  const { exactScores, examplesUsed, ...large } = await measureLargeFidelity();
  const b1 = await measureFidelity1b({ scores: exactScores, examples: examplesUsed });
  const results = { large, b1 };
  console.error(`  fidelity-large results: ${JSON.stringify(results)}`); // raw numbers, to re-render the text without re-measuring
  return results;
}

export async function fidelityLargeSection(measured: () => string): Promise<string> {
  return renderFidelityLarge(await measureFidelityLarge(), measured());
}

export function renderFidelityLarge({ large, b1 }: FidelityLargeResults, measuredLine: string): string {
  const exactDim = large.exact.gradientDim;
  const row58 = (r: LargeFidelityRow) => [
    `\`${r.probe}\``,
    `\`${r.projection}\``,
    String(r.gradientDim),
    `${f((100 * r.gradientDim) / exactDim, 2)}%`,
    f(r.spearman, 4),
    ...r.overlaps.map((o) => f(o)),
    f(r.relativeError),
    f(r.examplesPerSecond),
  ];
  const t58 = table(
    ['probe', 'projection', 'gradient dim', 'of exact', 'Spearman vs exact', ...large.topKs.map((k) => `top-${k} overlap`), 'RMS error / exact std', 'examples/s'],
    [row58(large.exact), ...large.rows.map(row58)],
  );
  const t1b = table(
    ['probe', 'projection', 'gradient dim', 'Spearman vs exact', `top-${b1.topK} overlap`, 'RMS error / exact std', 'examples/s'],
    [
      ['`all` (PyTorch, float32)', '`none`', '505960448', '1.0000', '1.00', '0.00', f(b1.examples / b1.torch.seconds, 3)],
      ...b1.rows.map((r) => [`\`${r.probe}\``, `\`${r.projection}\``, String(r.gradientDim), f(r.spearman, 4), f(r.topOverlap), f(r.relativeError), f(r.examplesPerSecond, 3)]),
    ],
  );
  const def58 = large.rows.find(isDefault)!;
  const def1b = b1.rows.find(isDefault)!;
  const row = <R extends { probe: string; projection: string }>(rows: readonly R[], projection: string) => rows.find((r) => r.probe === 'all' && r.projection === projection);
  const chance = large.topKs.map((k) => `${f(k / large.examples)} for top-${k}`).join(', ');
  const sp = (r: { spearman: number } | undefined) => (r ? f(r.spearman, 3) : 'n/a');
  return `## Probe fidelity where \`kron:64x128\` compresses (58M and 1B-shaped)

${measuredLine}

**58M random Llama** (hidden 512, MLP 1376, 8 layers, vocabulary 32000, untied; stories260k's tokenizer): the first ${large.examples} GSM8K records encodable within ${large.maxTokens} tokens (${large.records} records read; mean ${f(large.meanTokens, 0)} tokens, ${large.truncated} truncated: this 512-id tokenizer makes long prompts), illegal-activities anchors (harmful +1, two safe sets −1; anchors count their first 10 response tokens). Reference: safesift's exact full gradient (\`--probes all --proj none\`, ${exactDim} values per example). Every configuration is scored by the same streaming scorer (\`bench/streaming-gradient-score.ts\`: anchor targets summed one anchor at a time, each example's gradient scored and dropped), batch size 1, all cores; examples/s is corpus featurization plus scoring. Overlap by chance: ${chance}.

${t58}

**1B-shaped random Llama** (Llama-3.2-1B's shapes with 4 of its 16 layers: hidden 2048, MLP 8192, 32 heads over 8 KV heads, vocabulary 128256, tied; 506M parameters; the real Llama-3 tokenizer): the first ${b1.examples} GSM8K records (mean ${f(b1.meanTokens, 0)} tokens, at most ${b1.maxTokens}), the same anchors. Its exact gradient (506M values) is over the graph's 2^26 cap, so the exact score comes from PyTorch ${b1.torch.torch} (\`bench/reference/full_gradient_scores.py\`: the plain-torch Llama of the parity tests, float32, batch size 1, per-tensor gradients, combined target accumulated in place, float64 dots; ${b1.torch.threads} threads), fed the token ids and loss weights safesift used. Check of that script where safesift has the exact score itself: on the 58M model's first ${b1.check.examples} examples it agrees with safesift's exact \`all\` to Spearman ${f(b1.check.spearman, 6)}, largest difference ${b1.check.maxAbsDiff.toExponential(1)} (scores up to ${f(b1.check.maxScore, 3)}).

${t1b}

Examples/s are indicative only: other work may share the cores during a run this long (about ${f((large.seconds + b1.seconds) / 60, 0)} minutes); the fidelity columns are deterministic. The RMS error column is the RMS difference from the exact scores over their standard deviation; it also counts a common change of scale, so it can stay flat where the ranking is already right.

**What the numbers say.** On the 58M model the default \`all:kron:64x128\` keeps ${f((100 * def58.gradientDim) / exactDim, 2)}% of the gradient's values and ranks with Spearman ${f(def58.spearman, 3)} against the exact score (top-${large.topKs[0]} overlap ${f(def58.overlaps[0]!)}, top-${large.topKs.at(-1)} ${f(def58.overlaps.at(-1)!)}); 4× wider (\`kron:128x256\`) gives ${sp(row(large.rows, 'kron:128x256'))}, 4× narrower ${sp(row(large.rows, 'kron:32x64'))}, and the CountSketch to 8192 on top of the default ${sp(row(large.rows, 'kron:64x128+sketch:8192'))}: there the default sits on the plateau and \`--proj-dim 8192\` costs almost nothing in ranking. On the 1B-shaped model the default ranks poorly: Spearman ${f(def1b.spearman, 3)}, top-${b1.topK} overlap ${f(def1b.topOverlap)} (${b1.examples} examples, so ±0.1 or so). Its exact scores spread ${f(large.exactSpread.std / b1.exactSpread.std, 0)}× less than the 58M model's (standard deviation ${f(b1.exactSpread.std, 4)} vs ${f(large.exactSpread.std, 3)}), so projection noise of a smaller absolute size (RMS error ${f(def1b.relativeError)}× that spread) still reorders them; fidelity climbs with the dimension (\`kron:128x256\` ${sp(row(b1.rows, 'kron:128x256'))}, \`kron:256x512\` ${sp(row(b1.rows, 'kron:256x512'))}) at almost the same speed. ${recommendation(def1b, b1.rows, b1.topK)}`;
}

/** Whether the default should be re-chosen, from the 1B-shaped rows (where it compresses most). */
function recommendation(def: Fidelity1bResult['rows'][number], rows: Fidelity1bResult['rows'], topK: number): string {
  const wider = rows.filter((r) => r.probe === 'all' && r.gradientDim > def.gradientDim).sort((a, b) => a.gradientDim - b.gradientDim);
  const better = wider.find((r) => r.spearman - def.spearman >= 0.1);
  if (def.spearman >= 0.9 || !better) return '**Recommendation:** keep `kron:64x128` as the default; wider projections buy little here.';
  const bytes = (r: { gradientDim: number }) => `${f((4 * r.gradientDim) / 2 ** 20, 1)} MiB`;
  return (
    `**Recommendation:** re-choose the default for large models: \`${better.projection}\` (Spearman ${f(better.spearman, 3)}, top-${topK} overlap ${f(better.topOverlap)}) runs at ${f(better.examplesPerSecond / def.examplesPerSecond, 2)}× the default's speed here and its features take ${bytes(better)} per example instead of ${bytes(def)} (\`--proj-dim 8192\` shrinks cached features: it lost little on the 58M model, and is not measured on the 1B-shaped one); ` +
    `a default that scales with the model (\`kron:64x128\` below ~100M parameters, \`${better.projection}\` or wider for 1B-class models) keeps small models as they are. ` +
    'Both are random-weight models, whose score spread need not be a trained model\'s: confirm on a real checkpoint before fixing the new default.'
  );
}
