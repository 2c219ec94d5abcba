import { createHash } from 'node:crypto';
import type { TokenizedExample } from '../prompt/tokenized.ts';

/**
 * What the model saw of an example: sha256 of its token ids, loss weights and truncation flag,
 * 32 hex digits. A cached entry is used only when this matches, so a change in prompt rendering
 * or truncation that the cache key does not name still forces a recompute.
 */
export function tokenDigest(tokenized: TokenizedExample): string {
  const { ids, lossWeights } = tokenized;
  return createHash('sha256')
    .update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength))
    .update(new Uint8Array(lossWeights.buffer, lossWeights.byteOffset, lossWeights.byteLength))
    .update(tokenized.truncated ? 't' : 'f')
    .digest('hex')
    .slice(0, 32);
}
