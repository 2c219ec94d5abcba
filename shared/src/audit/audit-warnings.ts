import type { AnchorSetSpec } from '../scoring/anchor-sets.ts';
import { NEAREST_ANCHOR_BUDGET_BYTES, nearestAnchorsBytes, nearestAnchorsFit } from '../scoring/gradient-score.ts';
import type { DirectionInfo } from '../scoring/direction-score.ts';
import type { AnchorSetReport } from './anchor-features.ts';
import type { AuditOptions } from './audit-options.ts';
import type { InputCounts } from './audit-summary.ts';

export interface WarningFacts {
  options: Pick<AuditOptions, 'maxTokens'>;
  specs: readonly AnchorSetSpec[];
  anchors: readonly AnchorSetReport[];
  inputs: readonly InputCounts[];
  /** Dims of a gradient feature: whether the nearest anchor by gradient fits its memory budget. */
  gradientDim?: number;
  /** The compliance directions: a degenerate one leaves its column empty. */
  directions?: readonly DirectionInfo[];
}

/**
 * What a user should know about a run that did not stop it, one line each: summary.json's
 * `warnings`, printed by the CLI too.
 */
export function auditWarnings({ options, specs, anchors, inputs, gradientDim, directions = [] }: WarningFacts): string[] {
  const warnings: string[] = [];
  if (!specs.some((s) => s.role === 'safe')) {
    warnings.push('no safe anchors (--safe): scores are similarity to the harmful anchors only, not bi-directional anchoring, which also subtracts similarity to refusals');
  }
  for (const set of anchors) {
    if (set.rejected > 0) warnings.push(`anchor set ${set.name} (${set.source}): ${set.rejected} of ${set.records} records rejected, scored with ${set.used} (see anchor-errors.jsonl)`);
  }
  const scored = inputs.reduce((n, i) => n + i.scored, 0);
  const truncated = inputs.reduce((n, i) => n + (i.truncated ?? 0), 0);
  if (truncated > 0) {
    const share = ((100 * truncated) / scored).toFixed(1);
    warnings.push(`${truncated} of ${scored} scored examples (${share}%) were longer than --max-tokens ${options.maxTokens} and were cut: their features cover only the first ${options.maxTokens} tokens (raise --max-tokens to score them whole)`);
  }
  const anchorCount = anchors.reduce((n, a) => n + a.used, 0);
  if (gradientDim !== undefined && !nearestAnchorsFit(specs.length, anchorCount, gradientDim)) {
    const mib = Math.ceil(nearestAnchorsBytes(specs.length, anchorCount, gradientDim) / 2 ** 20);
    warnings.push(`near_grad_* columns left empty: the ${anchorCount} anchors' ${gradientDim}-dim gradients would take ${mib} MiB (budget ${NEAREST_ANCHOR_BUDGET_BYTES / 2 ** 20} MiB); --proj-dim 8192 makes them fit`);
  }
  // An empty prompt column beside a scored response one is the expected effect of anchors that
  // share their requests (README, Scores; summary.json says why): not worth a line on every run.
  const scoredResponse = new Set(directions.filter((d) => d.position === 'response' && d.degenerate === null).map((d) => d.layer));
  const empty = directions.filter((d) => d.degenerate !== null && !(d.position === 'prompt' && scoredResponse.has(d.layer)));
  if (empty.length > 0) {
    const reasons = [...new Set(empty.map((d) => d.degenerate))].join('; ');
    warnings.push(`${empty.map((d) => d.column).join(', ')} left empty: ${reasons}`);
  }
  return warnings;
}
