/** The record shapes we understand, and the normalised example every later step consumes. */
export const RECORD_SHAPES = ['alpaca', 'dolly', 'gsm8k', 'chat'] as const;
export type RecordShape = (typeof RECORD_SHAPES)[number];

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export type ExampleContent =
  | { shape: 'alpaca'; instruction: string; input: string; output: string }
  | { shape: 'dolly'; instruction: string; context: string; response: string }
  | { shape: 'gsm8k'; question: string; answer: string }
  | { shape: 'chat'; messages: ChatMessage[] };

export interface Example {
  /** Stable hash of the content (not of the position), hex. */
  id: string;
  /** The file (path or URI as given) the record came from. */
  source: string;
  /** 0-based index of the record in its file. */
  row: number;
  content: ExampleContent;
}

/** A record that could not become an example; written to errors.jsonl. */
export interface RecordError {
  source: string;
  row: number;
  reason: string;
}

export type CorpusItem = { kind: 'example'; example: Example } | { kind: 'error'; error: RecordError };
