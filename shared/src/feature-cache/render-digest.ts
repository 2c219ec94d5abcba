import { createHash } from 'node:crypto';
import type { RenderedTexts } from '../prompt/prompt-tokenizer.ts';

/**
 * What the model sees of an example, as text: sha256 of its rendered prompt and full text, 32 hex
 * digits. A cached entry serves an example only when this matches, so a change of prompt rendering
 * that the cache key does not name still forces a recompute; the key names everything that turns
 * these texts into tokens (tokenizer files, tokenizer library, --max-tokens, our tokenization
 * version). An expected hit therefore needs no tokenizing: its token count is in the cache.
 */
export function renderDigest(rendered: RenderedTexts): string {
  return createHash('sha256').update(rendered.prompt).update('\u0000').update(rendered.full).digest('hex').slice(0, 32);
}
