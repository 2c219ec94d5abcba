import { ConfigError } from '../errors.ts';
import type { DirectionScorer } from '../scoring/direction-score.ts';
import { rankingColumn, type RankingMethod } from '../scoring/ranking-method.ts';

/** The column --method ranks by; a ranking on a degenerate direction fails here, before the corpus is read. */
export function rankingColumnFor(method: RankingMethod, dirScorer: DirectionScorer): string {
  const column = rankingColumn(method, dirScorer.layers);
  const direction = dirScorer.directions.find((d) => d.column === column);
  if (direction?.degenerate) throw new ConfigError(`--method ${method}: ${column} cannot rank: ${direction.degenerate}`);
  return column;
}
