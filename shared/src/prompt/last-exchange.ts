import type { ChatMessage } from '../corpus/example.ts';
import { PromptShapeError } from './prompt-errors.ts';

/** The final assistant message and the last user message before it. */
export function lastExchange(messages: readonly ChatMessage[]): { user: string; assistant: string; index: number } {
  const index = messages.length - 1;
  const last = messages[index];
  if (last === undefined || last.role !== 'assistant') {
    throw new PromptShapeError('a chat record must end with an assistant message (the response to score)');
  }
  for (let i = index - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === 'user') return { user: m.content, assistant: last.content, index };
  }
  throw new PromptShapeError('a chat record needs a user message before its final assistant message');
}
