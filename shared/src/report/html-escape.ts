/**
 * The report's only way to write HTML. Corpus text, file names and every summary field are
 * untrusted (anyone who can write a corpus or the output prefix chooses them), so all of it goes
 * through `escapeHtml`, the one escaping helper: the `html` template escapes every interpolated
 * value unless it is already `SafeHtml` (markup this module built, or an SVG that passed
 * `checkedSvg`). Escaped text is safe in element content and in double- or single-quoted
 * attribute values; the report never puts untrusted text into a URL, a style or a script (it has
 * no scripts at all).
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** & < > " ' as character references. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Markup that is already safe to emit as it is. Only this module and `checkedSvg` make one. */
export class SafeHtml {
  private constructor(readonly markup: string) {}

  /** @internal the template and the SVG check are the only callers. */
  static trusted(markup: string): SafeHtml {
    return new SafeHtml(markup);
  }

  toString(): string {
    return this.markup;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.markup;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** html`<td>${text}</td>`: every interpolation is escaped (arrays are joined, null/undefined/false vanish). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return SafeHtml.trusted(out);
}

// An SVG from vega is checked tag by tag against what a static chart needs: these elements, no
// event handlers, links or external references, url() only to a fragment (#clip), no DTD,
// CDATA, comments or processing instructions. Vega writes nothing else for our specs; the check
// makes an SVG that somehow did fail loudly instead of reaching a reader.
const SVG_ELEMENTS = new Set([
  'svg', 'g', 'path', 'rect', 'line', 'circle', 'ellipse', 'polygon', 'polyline', 'text', 'tspan',
  'title', 'desc', 'defs', 'clipPath', 'linearGradient', 'radialGradient', 'stop',
]);
const TAG = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[A-Za-z_:][\w:.-]*="[^"<]*")*)\s*(\/?)>/y;
const ATTRIBUTE = /\s+([A-Za-z_:][\w:.-]*)="([^"<]*)"/g;

/** An SVG document as vega rendered it, checked for anything active (throws naming it). */
export function checkedSvg(svg: string): SafeHtml {
  const fail = (what: string) => {
    throw new Error(`rendered chart ${what}: refusing to put it in the report`);
  };
  if (!/^<svg[\s>]/.test(svg) || !svg.endsWith('</svg>')) fail('is not a single <svg> element');
  for (let at = svg.indexOf('<'); at >= 0; at = svg.indexOf('<', at)) {
    TAG.lastIndex = at;
    const tag = TAG.exec(svg);
    if (tag === null) fail(`has markup that is not a plain element at offset ${at}: ${JSON.stringify(svg.slice(at, at + 40))}`);
    const [whole, , name, attributes] = tag!;
    if (!SVG_ELEMENTS.has(name!)) fail(`contains a <${name}> element`);
    for (const [, attribute, value] of attributes!.matchAll(ATTRIBUTE)) {
      const lower = attribute!.toLowerCase();
      if (lower.startsWith('on')) fail(`has an event-handler attribute (${attribute})`);
      if (lower === 'href' || lower.endsWith(':href') || lower === 'src') fail(`has a link attribute (${attribute})`);
      if (/javascript:|data:|expression\s*\(/i.test(value!)) fail(`has an active value in ${attribute}`);
      if (/url\s*\((?!\s*['"]?#)/i.test(value!)) fail(`references something outside itself in ${attribute}`);
    }
    at += whole!.length;
  }
  return SafeHtml.trusted(svg);
}
