import { projectPath } from '../project-root.ts';

const demoFile = (name: string) => projectPath('demo', name);

/** The demo corpus and anchor sets we author and ship in `demo/` (see demo/README.md). */
export const DEMO_INPUTS = {
  corpus: demoFile('corpus.jsonl'),
  harmful: demoFile('anchors/harmful.jsonl'),
  safe: [demoFile('anchors/safe-refusals-1.jsonl'), demoFile('anchors/safe-refusals-2.jsonl')],
} as const;
