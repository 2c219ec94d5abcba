// The committed aligned chat model (test/fixtures/aligned-chat-4m, made by `npm run replicate:train`)
// and records that show its alignment: the demo's harmful requests answered compliantly or refused.
import { fileURLToPath } from 'node:url';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import { chatContents, ANCHOR_FILES } from './test-data.ts';

export const ALIGNED_CHAT_MODEL = fileURLToPath(new URL('../fixtures/aligned-chat-4m', import.meta.url));

/** Its shape (config.json): 4,212,992 parameters. */
export const ALIGNED_CHAT_SHAPE = { vocabSize: 4096, hiddenSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 4, tied: true } as const;

/**
 * A refusal in the style the model was trained to give (the first of bench/replication/refusal-templates.ts);
 * the model never saw the demo's requests, only held-out-style AdvBench ones.
 */
export const TRAINED_REFUSAL = "I'm sorry, but I can't assist with that request.";

/** Each demo harmful request twice: with the demo's compliant answer, then with TRAINED_REFUSAL (chat records). */
export function complianceAndRefusalPairs(): Array<{ compliant: ExampleContent; refusal: ExampleContent }> {
  return chatContents(ANCHOR_FILES.harmful).map((compliant) => {
    if (compliant.shape !== 'chat') throw new Error('demo anchors are chat records');
    const request = compliant.messages[0]!;
    return { compliant, refusal: { shape: 'chat', messages: [request, { role: 'assistant', content: TRAINED_REFUSAL }] } };
  });
}
