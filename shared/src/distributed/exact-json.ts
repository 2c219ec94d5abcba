/**
 * JSON that keeps every JS number exactly: NaN, ±Infinity and -0 (which JSON turns into null or 0)
 * are written as `{"$num": "NaN" | "Infinity" | "-Infinity" | "-0"}`. Only for our own payloads,
 * whose schemas never hold an object with a lone `$num` key of their own.
 */
const TAG = '$num';
const SPECIAL: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY, '-0': -0 };

function special(value: number): string | null {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (Object.is(value, -0)) return '-0';
  return null;
}

export function stringifyExact(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'number') return v;
    const name = special(v);
    return name === null ? v : { [TAG]: name };
  });
}

/** Inverse of stringifyExact; throws SyntaxError for text that is not JSON. */
export function parseExact(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const tag = (v as Record<string, unknown>)[TAG];
      if (keys.length === 1 && typeof tag === 'string' && Object.hasOwn(SPECIAL, tag)) return SPECIAL[tag];
    }
    return v;
  });
}
