import { SafesiftError } from '../errors.ts';

/**
 * The example has no label position left (its response was cut off by the token cap).
 * Thrown without source/row, which this layer does not know; the caller turns it into an InputError.
 */
export class NoLabelsError extends SafesiftError {
  constructor(readonly maxTokens: number) {
    super(`no response tokens left after truncation to ${maxTokens} tokens`);
  }
}

/** A record whose shape cannot be rendered as a prompt and a response (e.g. a chat not ending with an answer). */
export class PromptShapeError extends SafesiftError {}
