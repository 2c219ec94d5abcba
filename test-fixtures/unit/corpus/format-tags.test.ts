import '../../guard.ts';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatTagsOf, type FormatTag } from '../../../shared/src/corpus/format-tags.ts';
import { DATA, GSM8K_TRAIN } from '../../fixture-paths.ts';

const selection = (file: string) => JSON.parse(readFileSync(join(DATA, 'paper-selections/alpaca', file), 'utf8')) as { output: string }[];
const share = (records: { output: string }[], tag: FormatTag) => records.filter((r) => formatTagsOf(r.output)[tag]).length / records.length;

test("the paper's published Alpaca selections: numbered lists dominate its top-100 and are rare in its bottom-100", () => {
  // He et al. report the selected (top) examples are mostly lists; the tags must see that.
  const repsTop = selection('reps/alpaca_top100.json');
  const repsBottom = selection('reps/alpaca_bottom100.json');
  assert.equal(repsTop.length, 100);
  assert.ok(share(repsTop, 'numbered_list') >= 0.8, `reps top-100: ${share(repsTop, 'numbered_list')}`);
  assert.ok(share(repsBottom, 'numbered_list') <= 0.3, `reps bottom-100: ${share(repsBottom, 'numbered_list')}`);
  const gradTop = selection('gradient-illegal-activities-anchor/alpaca_top100.json');
  const gradBottom = selection('gradient-illegal-activities-anchor/alpaca_bottom100.json');
  assert.ok(share(gradTop, 'numbered_list') >= 0.6, `gradient top-100: ${share(gradTop, 'numbered_list')}`);
  assert.ok(share(gradBottom, 'numbered_list') <= 0.1, `gradient bottom-100: ${share(gradBottom, 'numbered_list')}`);
});

test('GSM8K answers (worked calculations ending "#### N") are all tagged math', () => {
  const answers = readFileSync(GSM8K_TRAIN, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, 2000).map((l) => (JSON.parse(l) as { answer: string }).answer);
  assert.equal(answers.filter((a) => formatTagsOf(a).math).length, answers.length);
});
