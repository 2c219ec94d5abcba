/**
 * Format tags: the surface patterns He et al. (COLM 2024) found over-represented in the benign
 * examples that break safety most (lists, bullet points, math), plus a few a reviewer asks about
 * next. Each tag is a cheap, documented test on the example's response text (the part the loss
 * is on): deliberately simple, so a report reader can predict it.
 */
import type { ExampleContent } from './example.ts';

export const FORMAT_TAGS = ['numbered_list', 'bullet_list', 'math', 'code', 'table', 'affirmative'] as const;
export type FormatTag = (typeof FORMAT_TAGS)[number];

export const FORMAT_TAG_DESCRIPTIONS: Record<FormatTag, string> = {
  numbered_list: 'two or more lines starting "1." / "2)" …',
  bullet_list: 'two or more lines starting "-", "*" or "•"',
  math: 'a worked calculation: "a op b = c", GSM8K "<<…>>" or "#### N", or LaTeX math',
  code: 'a ``` fence, or a line opening with a code keyword (def, class, function, import, #include …)',
  table: 'a Markdown table: a "| … |" row followed by a "|---|" separator',
  affirmative: 'opens agreeing: "Sure", "Certainly", "Of course", "Absolutely", "Here is/are" …',
};

const NUMBERED_LINE = /^[ \t]*\d{1,3}[.)][ \t]+\S/gm;
const BULLET_LINE = /^[ \t]*[-*•][ \t]+\S/gm;
// A number, an operator, a number, "=", a number: "3 * 4 = 12", "48/2=24", "12 × 2 = 24".
const CALCULATION = /\d[\d,.]*\s*[-+*/×÷x]\s*\$?\d[\d,.]*\s*=\s*\$?-?\d/;
const GSM8K_MARKS = /<<[^<>\n]*=[^<>\n]*>>|^####\s*-?[\d,.]+\s*$/m;
const LATEX = /\\(frac|sqrt|times|cdot|sum|int|begin\{(equation|align)\})|\$[^$\n]*[=^_\\][^$\n]*\$/;
const CODE_FENCE = /^[ \t]*```/m;
const CODE_LINE = /^[ \t]*(def|class|function|import|from \S+ import|#include|public static|const|let|var|fn|SELECT|CREATE TABLE)\b[^\n]*[(:{=;]/m;
const TABLE_ROW = /^[ \t]*\|.*\|[ \t]*\n[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$/m;
const AFFIRMATIVE = /^\W*(sure|certainly|of course|absolutely|definitely|yes|okay|ok|gladly|happy to help|here(?:'s| is| are))\b/i;

function count(re: RegExp, text: string): number {
  return text.match(re)?.length ?? 0;
}

/** The text a tag looks at: the response (for chats, the assistant turns). */
export function responseText(content: ExampleContent): string {
  switch (content.shape) {
    case 'alpaca':
      return content.output;
    case 'dolly':
      return content.response;
    case 'gsm8k':
      return content.answer;
    case 'chat':
      return content.messages.filter((m) => m.role === 'assistant').map((m) => m.content).join('\n');
  }
}

/** Which format tags a response has. */
export function formatTagsOf(response: string): Record<FormatTag, boolean> {
  return {
    numbered_list: count(NUMBERED_LINE, response) >= 2,
    bullet_list: count(BULLET_LINE, response) >= 2,
    math: CALCULATION.test(response) || GSM8K_MARKS.test(response) || LATEX.test(response),
    code: CODE_FENCE.test(response) || CODE_LINE.test(response),
    table: TABLE_ROW.test(response),
    affirmative: AFFIRMATIVE.test(response),
  };
}
