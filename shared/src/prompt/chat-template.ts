import { Template } from '@huggingface/jinja';
import type { ChatMessage, ExampleContent } from '../corpus/example.ts';
import { ConfigError, ModelError } from '../errors.ts';
import { PromptShapeError } from './prompt-errors.ts';

/** Prompt text (conversation up to the answer, with the generation prompt) and the full conversation text. */
export interface TemplatedTexts {
  prompt: string;
  full: string;
}

export interface SpecialTokenStrings {
  bos_token: string;
  eos_token: string;
}

/** Any record shape as a conversation ending with the assistant's answer. */
export function toMessages(content: ExampleContent): ChatMessage[] {
  const withExtra = (main: string, extra: string): string => (extra === '' ? main : `${main}\n\n${extra}`);
  switch (content.shape) {
    case 'alpaca':
      return [
        { role: 'user', content: withExtra(content.instruction, content.input) },
        { role: 'assistant', content: content.output },
      ];
    case 'dolly':
      return [
        { role: 'user', content: withExtra(content.instruction, content.context) },
        { role: 'assistant', content: content.response },
      ];
    case 'gsm8k':
      return [
        { role: 'user', content: content.question },
        { role: 'assistant', content: content.answer },
      ];
    case 'chat':
      return content.messages;
  }
}

/** The model's own chat template (tokenizer_config.json `chat_template`), compiled once. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    source: string | undefined | null,
    private readonly specials: SpecialTokenStrings,
    modelDir = 'the model',
  ) {
    if (typeof source !== 'string' || source === '') {
      throw new ConfigError(
        `${modelDir} has no chat_template in tokenizer_config.json; use --format paper-llama2 instead`,
      );
    }
    try {
      this.template = new Template(source);
    } catch (cause) {
      throw new ModelError(`cannot parse the chat_template of ${modelDir}: ${(cause as Error).message}`, { cause });
    }
  }

  render(content: ExampleContent): TemplatedTexts {
    const messages = toMessages(content);
    if (messages.at(-1)?.role !== 'assistant') {
      throw new PromptShapeError('a chat record must end with an assistant message (the response to score)');
    }
    return {
      prompt: this.apply(messages.slice(0, -1), true),
      full: this.apply(messages, false),
    };
  }

  private apply(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.template.render({ messages, ...this.specials, add_generation_prompt: addGenerationPrompt });
    } catch (cause) {
      // raise_exception in the template (e.g. roles not alternating) is a problem of this record.
      throw new PromptShapeError(`chat template refused the conversation: ${(cause as Error).message}`, { cause });
    }
  }
}
