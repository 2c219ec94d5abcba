import type { ExampleContent } from '../corpus/example.ts';
import { lastExchange } from './last-exchange.ts';

/** The paper's Llama-2 prompt pieces (method.md §1), kept byte-exact: nothing is stripped. */
export const B_INST = '[INST]';
export const E_INST = '[/INST]';
export const B_SYS = '<<SYS>>\n';
export const E_SYS = '\n<</SYS>>\n\n';
export const SYSTEM_NO_INPUT =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.';
export const SYSTEM_WITH_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.';

export interface RenderedPrompt {
  prompt: string;
  response: string;
}

function wrap(system: string, userBody: string): string {
  return `${B_INST} ${B_SYS}${system}${E_SYS}${userBody} ${E_INST}`;
}

const instructionOnly = (instruction: string): string =>
  `### Instruction:\n${instruction}\n\n### Response:\n`;

/** Renders a record as the paper's loaders do; the training string is `paperExample(...)`. */
export function renderPaperLlama2(content: ExampleContent): RenderedPrompt {
  switch (content.shape) {
    case 'alpaca':
      // The paper's loader tests for exactly "" (a whitespace-only input still counts as input).
      return content.input === ''
        ? { prompt: wrap(SYSTEM_NO_INPUT, instructionOnly(content.instruction)), response: content.output }
        : {
            prompt: wrap(
              SYSTEM_WITH_INPUT,
              `### Instruction:\n${content.instruction}\n\n### Input:\n${content.input}\n\n### Response:\n`,
            ),
            response: content.output,
          };
    case 'dolly':
      // Dolly keeps the short system text even with a context, and writes "Input:" without "###".
      return content.context === ''
        ? { prompt: wrap(SYSTEM_NO_INPUT, instructionOnly(content.instruction)), response: content.response }
        : {
            prompt: wrap(
              SYSTEM_NO_INPUT,
              `### Instruction:\n${content.instruction}\n\nInput:\n${content.context}\n\n### Response:\n`,
            ),
            response: content.response,
          };
    case 'gsm8k':
      return { prompt: wrap(SYSTEM_NO_INPUT, instructionOnly(content.question)), response: content.answer };
    case 'chat': {
      // The paper's anchors are one user turn and one answer; system messages are not used.
      const { user, assistant } = lastExchange(content.messages);
      return { prompt: wrap(SYSTEM_NO_INPUT, user), response: assistant };
    }
  }
}

/** The full training string: prompt, a space, the response, a trailing space (EOS follows as an id). */
export function paperExample(rendered: RenderedPrompt): string {
  return `${rendered.prompt} ${rendered.response} `;
}
