import { ConfigError } from '../errors.ts';

/**
 * Scores an audit can rank by (`--method`): the paper's gradient and representation matching, the
 * anchor-free self-influence of Guan et al. (raw and length-normalised), and the projection on
 * the compliance direction at the first `--direction-layers` layer, averaged over response tokens.
 */
export const RANKING_METHODS = ['grad', 'rep', 'self_inf', 'self_inf_n', 'dir'] as const;
export type RankingMethod = (typeof RANKING_METHODS)[number];

/** scores.parquet column of a method; `dir` names the first direction layer's response-mean column. */
export function rankingColumn(method: RankingMethod, directionLayers: readonly number[]): string {
  switch (method) {
    case 'grad':
      return 'grad_score';
    case 'rep':
      return 'rep_score';
    case 'self_inf':
    case 'self_inf_n':
      return method;
    case 'dir': {
      const first = directionLayers[0];
      if (first === undefined) throw new ConfigError('--method dir needs a direction layer: drop --direction-layers none, or name layers');
      return directionColumn(first, 'response');
    }
  }
}

/** Where along the sequence a direction column reads the hidden state. */
export type DirectionPosition = 'prompt' | 'response';

/** `dir_<layer>_prompt` (the last prompt token) or `dir_<layer>_response` (the response-token mean). */
export function directionColumn(layer: number, position: DirectionPosition): string {
  return `dir_${layer}_${position}`;
}

/** Column names a ranking can use, as a pattern for readers of summary.json. */
export const RANKING_COLUMN_PATTERN = /^(grad_score|rep_score|self_inf|self_inf_n|dir_\d+_(prompt|response))$/;
