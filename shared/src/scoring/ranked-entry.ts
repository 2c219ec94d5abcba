/** A top-k (or bottom-k) entry: the ranked score plus previews to read it by. */
export interface RankedEntry {
  score: number;
  id: string;
  source: string;
  row: number;
  repScore: number;
  gradScore: number;
  promptPreview: string;
  responsePreview: string;
}
