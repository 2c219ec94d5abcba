import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkedSvg, escapeHtml, html } from '../../../shared/src/report/html-escape.ts';
import { renderChart } from '../../../shared/src/report/render-svg.ts';

const PAYLOADS = ['<script>document.title="x"</script>', '<img src=x onerror=alert(1)>', '"><svg onload=alert(1)>', "' onmouseover='alert(1)", '&amp; &lt;'];

test('escapeHtml turns & < > " \' into character references and leaves other text alone', () => {
  assert.equal(escapeHtml(`a&b<c>d"e'f`), 'a&amp;b&lt;c&gt;d&quot;e&#39;f');
  assert.equal(escapeHtml('plain text · ünïcode ✓'), 'plain text · ünïcode ✓');
  for (const p of PAYLOADS) assert.doesNotMatch(escapeHtml(p), /[<>"']/);
  // Escaping twice shows the escaped text, it does not undo anything.
  assert.equal(escapeHtml(escapeHtml('<')), '&amp;lt;');
});

test('the html template escapes every interpolation, in text and in attributes', () => {
  for (const p of PAYLOADS) {
    const out = html`<td title="${p}" data-x='${p}'>${p}</td>`.markup;
    assert.equal(out, `<td title="${escapeHtml(p)}" data-x='${escapeHtml(p)}'>${escapeHtml(p)}</td>`);
    // Nothing of the payload can open a tag or close the attribute.
    assert.equal(out.match(/</g)?.length, 2);
    assert.equal(out.match(/"/g)?.length, 2);
    assert.equal(out.match(/'/g)?.length, 2);
  }
});

test('html nests SafeHtml as it is, joins arrays and drops null, undefined and false', () => {
  const inner = html`<b>${'<i>'}</b>`;
  assert.equal(html`<p>${inner}</p>`.markup, '<p><b>&lt;i&gt;</b></p>');
  assert.equal(html`<ul>${['<a>', 1, html`<li>ok</li>`]}</ul>`.markup, '<ul>&lt;a&gt;1<li>ok</li></ul>');
  assert.equal(html`${null}${undefined}${false}${0}`.markup, '0');
  // A string that looks like markup is never trusted.
  assert.equal(html`${'<b>x</b>'}`.markup, '&lt;b&gt;x&lt;/b&gt;');
});

test('checkedSvg accepts a plain chart and refuses anything active or linking', () => {
  const ok = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><defs><clipPath id="c1"><rect width="5" height="5"/></clipPath></defs><g clip-path="url(#c1)"><path d="M0,0h5"/><text x="1">a &lt;b&gt; "c"</text></g></svg>';
  assert.equal(checkedSvg(ok).markup, ok);
  const bad: [string, RegExp][] = [
    ['<svg><script>alert(1)</script></svg>', /<script>/],
    ['<svg><g onload="alert(1)"></g></svg>', /event-handler/],
    ['<svg><g ONCLICK="x"></g></svg>', /event-handler/],
    ['<svg><a href="https://example.invalid/">x</a></svg>', /<a>/],
    ['<svg><image href="x.png"/></svg>', /<image>/],
    ['<svg><use xlink:href="#a"/></svg>', /<use>/],
    ['<svg><rect fill="url(https://example.invalid/x)"/></svg>', /outside itself/],
    ['<svg><rect style="background:url(x)"/></svg>', /outside itself/],
    ['<svg><foreignObject><div>x</div></foreignObject></svg>', /foreignObject/],
    ['<svg><rect x="1" y=2/></svg>', /not a plain element/],
    ['<svg><!-- x --></svg>', /not a plain element/],
    ['<div>x</div>', /single <svg>/],
  ];
  for (const [svg, why] of bad) assert.throws(() => checkedSvg(svg), why, svg);
});

test('vega escapes text it draws: labels made of payloads come out as text and pass the check', async () => {
  const values = PAYLOADS.map((label, i) => ({ label, n: i + 1 }));
  const { svg, warnings } = await renderChart({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: PAYLOADS[0]!,
    data: { values },
    mark: 'bar',
    encoding: { y: { field: 'label', type: 'nominal', axis: { labelLimit: 1000 } }, x: { field: 'n', type: 'quantitative', title: PAYLOADS[2]! } },
  });
  assert.deepEqual(warnings, []);
  // The payloads are there as text only: no '<' of theirs survives, and no attribute of theirs exists.
  assert.ok(!/<script|<img|<svg onload/i.test(svg.markup), 'a payload became markup');
  assert.ok(!/\son(error|load|mouseover)=/i.test(svg.markup.replace(/>[^<]*</g, '><').replace(/"[^"]*"/g, '""')), 'a payload became an attribute');
  assert.match(svg.markup, /&lt;script&gt;document\.title="x"&lt;\/script&gt;/);
  assert.match(svg.markup, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.equal(svg.markup.match(/<svg/g)?.length, 1);
});
