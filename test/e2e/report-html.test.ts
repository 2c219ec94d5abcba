// `safesift report` on real audits of the built CLI, the page opened in headless Chromium with the
// network closed (test/helpers/headless-chromium.ts: CDP over a pipe, every request intercepted).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/fixtures.ts';
import { visitPage, type PageVisit } from '../helpers/headless-chromium.ts';
import { runCli } from '../helpers/run-cli.ts';

// One cache for every CLI run in this file: the tiny model and its graphs are built once.
const env = { SAFESIFT_CACHE_DIR: tempDir('report-e2e-cache') };
const K = 10;

/** What the tests read from the page after it loaded. */
interface PageProbe {
  svgs: number;
  /** Drawn elements (paths, lines, rects, circles, text) per chart. */
  marks: number[];
  entries: number;
  details: number;
  scripts: number;
  pwned: boolean;
  text: string;
}

const PROBE = `(() => {
  const svgs = [...document.querySelectorAll('figure svg')];
  return {
    svgs: svgs.length,
    marks: svgs.map((s) => s.querySelectorAll('path, line, rect, circle, text').length),
    entries: document.querySelectorAll('table.topk > tbody > tr.entry').length,
    details: document.querySelectorAll('table.topk details').length,
    scripts: document.querySelectorAll('script').length,
    pwned: document.getElementById('pwned') !== null || document.title === 'pwned',
    text: document.body.innerText,
  };
})()`;

async function audit(args: string[]): Promise<string> {
  const out = tempDir('report-audit');
  const result = await runCli(['audit', '--model', 'tiny', ...args, '--out', out, '--json'], env);
  assert.equal(result.code, 0, result.stderr);
  return out;
}

async function report(dir: string): Promise<string> {
  const result = await runCli(['report', dir, '--json'], env);
  assert.equal(result.code, 0, result.stderr);
  const written = JSON.parse(result.stdout) as { status: string; path: string; bytes: number };
  assert.equal(written.status, 'written');
  assert.equal(written.path, join(dir, 'report.html'));
  return written.path;
}

/** The page made no request but its own, logged nothing and threw nothing. */
function assertQuiet(visit: PageVisit): void {
  assert.deepEqual(visit.requests, [visit.url], 'the page requested something besides itself');
  assert.deepEqual(visit.blocked, []);
  assert.deepEqual(visit.console, [], 'console messages');
  assert.deepEqual(visit.errors, []);
}

test('the harness sees what a page does: a script that runs, a console message, a request it blocks', async () => {
  const page = join(tempDir('report-harness'), 'active.html');
  writeFileSync(page, '<!DOCTYPE html><title>t</title><img src="https://example.invalid/x.png"><script>document.title = "ran"; console.error("from the page")</script>');
  const visit = await visitPage(page, { probe: 'document.querySelectorAll("img").length' });
  assert.equal(visit.title, 'ran');
  assert.equal(visit.probe, 1);
  assert.deepEqual(visit.blocked, ['https://example.invalid/x.png']);
  assert.ok(visit.requests.includes('https://example.invalid/x.png'));
  assert.ok(visit.console.some((m) => m.text === 'from the page'));
});

test('a local audit\'s report opens from disk with no request, no console message, four charts with marks and k table rows', async () => {
  const out = await audit(['--k', String(K)]);
  const page = await report(out);
  const screenshot = process.env.SAFESIFT_REPORT_SCREENSHOT;
  const visit = await visitPage(page, { probe: PROBE, ...(screenshot ? { screenshot: { width: 1280 } } : {}) });
  if (screenshot && visit.screenshot) writeFileSync(screenshot, visit.screenshot);
  assertQuiet(visit);
  const probe = visit.probe as PageProbe;
  assert.equal(probe.scripts, 0);
  assert.equal(probe.svgs, 4); // no --cache: the history is a line saying so
  for (const [i, n] of probe.marks.entries()) assert.ok(n > 20, `chart ${i + 1} draws only ${n} elements`);
  assert.equal(probe.entries, K);
  assert.equal(probe.details >= K, true);
  assert.match(visit.title, /^safesift report: /);
  assert.match(probe.text, /its scores carry no meaning/);
  assert.match(probe.text, /No run history/);
  // The demo corpus is on disk: the full text of all K entries was read back.
  assert.match(probe.text, new RegExp(`full text of ${K} read back from the corpus`));
});

test('with a feature cache and a run name, the second run\'s report has the history chart', async () => {
  const cache = tempDir('report-cache');
  await audit(['--k', String(K), '--limit', '40', '--cache', cache, '--name', 'nightly']);
  const out = await audit(['--k', String(K), '--cache', cache, '--name', 'nightly']);
  const visit = await visitPage(await report(out), { probe: PROBE });
  assertQuiet(visit);
  const probe = visit.probe as PageProbe;
  assert.equal(probe.svgs, 5);
  assert.ok(probe.marks[4]! > 10, `history draws ${probe.marks[4]} elements`);
  assert.match(probe.text, /Run name 'nightly'/);
  // The table under the chart: this run's finish time, cut-off, entered and left.
  assert.match(probe.text, /this run\t\S+Z\t[-\d.e]+\t\d+\t\d+/);
});

const PAYLOADS = {
  script: '<script>document.title="pwned";document.body.insertAdjacentHTML("beforeend","<p id=pwned></p>")</script>',
  img: '<img src=x onerror="document.title=\'pwned\';document.body.append(Object.assign(document.createElement(\'p\'),{id:\'pwned\'}))">',
  attr: '"><svg onload="document.title=\'pwned\'">',
  single: '\' onmouseover=\'document.title="pwned"\' x=\'',
  breakout: '</pre></details></td></tr></table><script>document.title="pwned"</script>',
  iframe: '<iframe src="javascript:document.title=\'pwned\'"></iframe>',
};

test('corpus text cannot script the page: payloads in prompts, responses and the file name show as text', async () => {
  const dir = tempDir('report-xss');
  // The file name carries a payload too: it is shown in the header and in attributes.
  const corpus = join(dir, 'xss-"\'><img src=y onerror=alert(1)>.jsonl');
  const records = [
    { instruction: `${PAYLOADS.script} List three fruits.`, input: '', output: `${PAYLOADS.img}\n1. Apple\n2. Pear\n3. Plum` },
    { instruction: `${PAYLOADS.attr} Name a colour.`, input: '', output: `${PAYLOADS.single} Red.` },
    { instruction: 'Write <b>bold</b> & <i>italic</i>.', input: PAYLOADS.iframe, output: `${PAYLOADS.breakout} Done.` },
    { instruction: 'What is 2 + 3?', input: '', output: '2 + 3 = 5' },
    { instruction: 'Say hello.', input: '', output: `Hello ${PAYLOADS.script}` },
  ];
  writeFileSync(corpus, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  // --k equal to the corpus size: every payload is in the top-k, in the previews and the full text.
  const out = await audit(['--data', corpus, '--k', String(records.length)]);
  const page = await report(out);
  const html = readFileSync(page, 'utf8');
  assert.doesNotMatch(html, /<script|<img|<iframe|<svg onload|<p id=pwned|<b>bold/i);
  assert.match(html, /&lt;script&gt;document\.title=&quot;pwned&quot;/);

  const check = async (file: string) => {
    const visit = await visitPage(file, { probe: PROBE });
    assertQuiet(visit); // <img src=x> or <iframe src=…> as markup would have made a request
    const probe = visit.probe as PageProbe;
    assert.equal(probe.pwned, false, 'a payload ran');
    assert.notEqual(visit.title, 'pwned');
    assert.equal(probe.scripts, 0);
    assert.equal(probe.entries, records.length);
    // Each payload is on the page as the text it is (previews are cut, so look for their openings).
    for (const payload of Object.values(PAYLOADS)) assert.ok(probe.text.includes(payload.slice(0, 40)), `payload not shown as text: ${payload.slice(0, 40)}`);
    assert.ok(probe.text.includes('xss-"\'><img src=y onerror=alert(1)>.jsonl'), 'the file name is shown as text');
  };
  await check(page);
  // Escaping alone holds: the same page without its Content-Security-Policy.
  const bare = join(dir, 'report-without-csp.html');
  writeFileSync(bare, html.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, ''));
  assert.doesNotMatch(readFileSync(bare, 'utf8'), /Content-Security-Policy/);
  await check(bare);
});
