// The local CLI's failure paths, as a user hits them: each asserts the exit code, the one-line
// message and what the output folder holds afterwards (issue 12, README "When things go wrong").
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureTinyModel } from '../../shared/src/model/synthetic-checkpoint.ts';
import { DEMO } from '../helpers/demo-records.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { CLI, runCli } from '../helpers/run-cli.ts';

const cacheDir = tempDir('failure-cache');
const env = { SAFESIFT_CACHE_DIR: cacheDir };
const CORPUS = join(DEMO, 'corpus.jsonl');
const demoLines = readFileSync(CORPUS, 'utf8').split('\n').filter((l) => l.trim() !== '');

/** The last stderr line: the one a failure must explain itself in. */
const lastLine = (stderr: string) => stderr.trim().split('\n').at(-1) ?? '';

/** An older run's finished outputs, to check that a new run never leaves them looking current. */
function olderRun(out: string): void {
  writeFileSync(join(out, 'summary.json'), '{"status":"complete","old":true}\n');
  writeFileSync(join(out, 'topk.parquet'), 'old');
  writeFileSync(join(out, 'scores.parquet'), 'old');
}

/** A corpus of n distinct demo-shaped records. */
function bigCorpus(dir: string, n: number): string {
  const path = join(dir, 'big.jsonl');
  const lines = Array.from({ length: n }, (_, i) => {
    const record = JSON.parse(demoLines[i % demoLines.length]!) as Record<string, unknown>;
    const key = Object.keys(record).find((k) => typeof record[k] === 'string' && k !== 'input')!;
    return JSON.stringify({ ...record, [key]: `${record[key] as string} (variant ${i})` });
  });
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

test('--out that is a file, or a folder that cannot be written, exits 5 at once with one line; --json says so too', async () => {
  const dir = tempDir('bad-out');
  const outCache = join(dir, 'cache');
  const env = { SAFESIFT_CACHE_DIR: outCache };
  const file = join(dir, 'not-a-folder');
  writeFileSync(file, 'keep me');
  const asFile = await runCli(['audit', '--out', file, '--json'], env);
  assert.equal(asFile.code, 5, asFile.stderr);
  assert.equal(asFile.stderr.trim().split('\n').length, 1, asFile.stderr);
  assert.match(asFile.stderr, /--out .*not-a-folder is a file, not a folder/);
  assert.deepEqual(JSON.parse(asFile.stdout).error.exit_code, 5);
  assert.equal(readFileSync(file, 'utf8'), 'keep me');
  // Under a file (ENOTDIR), and a folder the kernel refuses (EPERM even for root).
  const under = await runCli(['audit', '--out', join(file, 'sub')], env);
  assert.equal(under.code, 5, under.stderr);
  assert.match(lastLine(under.stderr), /--out .*sub .*: choose a folder you can write to/);
  const refused = await runCli(['audit', '--out', '/sys/safesift-out'], env);
  assert.equal(refused.code, 5, refused.stderr);
  assert.match(lastLine(refused.stderr), /--out \/sys\/safesift-out is not writable/);
  // Refused before the model loads: the fresh cache of these runs never got the demo model.
  assert.equal(existsSync(join(outCache, 'models')), false);
});

test('a missing --data file (the second of two) exits 4 before any work, naming it; the older outputs are not touched', async () => {
  const dir = tempDir('missing-data');
  const out = join(dir, 'out');
  const result = await runCli(['audit', '--data', CORPUS, '--data', join(dir, 'typo.jsonl'), '--out', out], env);
  assert.equal(result.code, 4, result.stderr);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, /typo\.jsonl: no such file: check the --data path/);
  assert.equal(existsSync(out), false, 'nothing was started');
  const anchor = await runCli(['audit', '--data', CORPUS, '--harmful', join(dir, 'harmful.jsonl'), '--out', out], env);
  assert.equal(anchor.code, 4);
  assert.match(lastLine(anchor.stderr), /harmful\.jsonl: no such file: check the --harmful path/);
});

test('a file with no usable record (wrong --record-shape, junk, empty) exits 4 naming it and why, after writing what the others gave', async () => {
  const dir = tempDir('unusable');
  const out = join(dir, 'out');
  const junk = join(dir, 'junk.jsonl');
  writeFileSync(junk, '{"a":1}\n{"b":2}\n');
  const empty = join(dir, 'empty.jsonl');
  writeFileSync(empty, '');
  const mixed = await runCli(['audit', '--data', CORPUS, '--data', junk, '--data', empty, '--out', out, '--limit', '8'], env);
  assert.equal(mixed.code, 4, mixed.stderr);
  const line = lastLine(mixed.stderr);
  assert.match(line, /no usable record in .*junk\.jsonl \(2 records: cannot detect record shape/);
  assert.match(line, /empty\.jsonl \(0 records\)/);
  assert.doesNotMatch(line, /corpus\.jsonl/);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { counts: { scored: number }; unusable_inputs: string[] };
  assert.equal(summary.counts.scored, 8, 'the usable file was scored and written');
  assert.deepEqual(summary.unusable_inputs, [junk, empty]);
  const allowed = await runCli(['audit', '--data', CORPUS, '--data', junk, '--out', out, '--limit', '8', '--allow-unusable-inputs'], env);
  assert.equal(allowed.code, 0, allowed.stderr);

  const wrongShape = await runCli(['audit', '--data', CORPUS, '--record-shape', 'gsm8k', '--out', out, '--json'], env);
  assert.equal(wrongShape.code, 4, wrongShape.stderr);
  assert.match(lastLine(wrongShape.stderr), /no usable record in .*corpus\.jsonl \(60 records: missing field 'question'/);
  assert.equal(JSON.parse(wrongShape.stdout).error.kind, 'UnusableInputError');
});

test('a checkpoint with a NaN weight is a model error (exit 3) naming the tensor, not an anchor problem', async () => {
  const dir = tempDir('nan-model');
  const model = join(dir, 'model');
  const tiny = await ensureTinyModel(cacheDir);
  mkdirSync(model);
  for (const name of readdirSync(tiny)) writeFileSync(join(model, name), readFileSync(join(tiny, name)), { flag: 'w' });
  const tensor = await poisonTensor(join(model, 'model.safetensors'), 'model.layers.1.mlp.up_proj.weight');
  const result = await runCli(['audit', '--model', model, '--out', join(dir, 'out')], env);
  assert.equal(result.code, 3, result.stderr);
  assert.match(lastLine(result.stderr), new RegExp(`tensor '${tensor.replace(/\./g, '\\.')}' holds 1 non-finite value\\(s\\).*the checkpoint is corrupt`));
  assert.equal(existsSync(join(dir, 'out', 'summary.json')), false);
});

test('anchors: a broken anchor stops the audit (exit 4) naming its file and record, unless --min-anchors allows; its errors are its own', async () => {
  const dir = tempDir('anchors');
  const out = join(dir, 'out');
  const harmful = join(dir, 'harmful.jsonl');
  const lines = readFileSync(join(DEMO, 'anchors/harmful.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  lines[3] = '{"instruction": 42}';
  writeFileSync(harmful, `${lines.join('\n')}\n`);
  const safe = ['--safe', join(DEMO, 'anchors/safe-refusals-1.jsonl')];
  const strict = await runCli(['audit', '--data', CORPUS, '--limit', '5', '--harmful', harmful, ...safe, '--out', out], env);
  assert.equal(strict.code, 4, strict.stderr);
  assert.match(lastLine(strict.stderr), /anchor set harmful1 \(.*harmful\.jsonl\): 9 of 10 records usable, 10 needed — record 3: .*--min-anchors 9/);
  assert.equal(existsSync(join(out, 'summary.json')), false);

  const tolerant = await runCli(['audit', '--data', CORPUS, '--limit', '5', '--harmful', harmful, ...safe, '--min-anchors', '9', '--out', out, '--json'], env);
  assert.equal(tolerant.code, 0, tolerant.stderr);
  const summary = JSON.parse(tolerant.stdout) as { anchor_sets: { name: string; anchors: number; rejected?: number }[]; warnings: string[]; counts: { errors: number } };
  assert.deepEqual(summary.anchor_sets.map((s) => [s.name, s.anchors, s.rejected]), [['harmful1', 9, 1], ['safe1', 10, 0]]);
  assert.equal(summary.counts.errors, 0, 'anchor rejections are not corpus errors');
  assert.equal(readFileSync(join(out, 'errors.jsonl'), 'utf8'), '');
  const anchorErrors = readFileSync(join(out, 'anchor-errors.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { source: string; row: number });
  assert.deepEqual(anchorErrors.map((e) => [e.source, e.row]), [[harmful, 3]]);
  assert.ok(summary.warnings.some((w) => /harmful1 .*1 of 10 records rejected/.test(w)));
  assert.match(tolerant.stderr, /warning: anchor set harmful1/);
});

test('--harmful without --safe is reported as not bi-directional; examples cut at --max-tokens are counted', async () => {
  const dir = tempDir('warnings');
  const result = await runCli(['audit', '--data', CORPUS, '--harmful', join(DEMO, 'anchors/harmful.jsonl'), '--max-tokens', '320', '--out', join(dir, 'out'), '--json'], env);
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout) as { bidirectional: boolean; warnings: string[]; counts: { scored: number; truncated: number } };
  assert.equal(summary.bidirectional, false);
  assert.match(result.stderr, /warning: no safe anchors \(--safe\): .*not bi-directional/);
  assert.ok(summary.counts.truncated > 0 && summary.counts.truncated <= summary.counts.scored, JSON.stringify(summary.counts));
  assert.ok(summary.warnings.some((w) => w.startsWith(`${summary.counts.truncated} of ${summary.counts.scored} scored examples`)));
  const rows = readFileSync(join(dir, 'out', 'summary.json'), 'utf8');
  assert.match(rows, /"truncated": [1-9]/);
});

test('Ctrl-C mid-corpus exits 130 promptly, removes partial files and the older run\'s outputs, keeps the cache; the rerun resumes from it', async () => {
  const dir = tempDir('interrupt');
  const out = join(dir, 'out');
  const cache = join(dir, 'cache');
  const corpus = bigCorpus(dir, 900);
  await runCli(['audit', '--data', CORPUS, '--limit', '2', '--out', join(dir, 'warm')], env); // graph built and cached
  mkdirSync(out);
  olderRun(out);
  const args = ['audit', '--data', corpus, '--out', out, '--cache', cache];
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, SAFESIFT_PROGRESS_INTERVAL_MS: '200' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let interrupted = false;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    // Once the first window (256 examples) is scored, so the cache holds something.
    const scored = [...stderr.matchAll(/corpus \d+\/900 records \(\d+%\), (\d+) scored/g)].map((m) => Number(m[1])).at(-1) ?? 0;
    if (scored >= 256 && !interrupted) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.ok(interrupted, `never scored 256 records:\n${stderr}`);
  assert.equal(code, 130, stderr);
  assert.match(lastLine(stderr), /interrupted by SIGINT: no outputs written in .*out \(partial files removed\); the features computed so far are in .*cache: rerun the same command to resume/);
  const left = readdirSync(out);
  assert.equal(left.filter((f) => f.endsWith('.partial')).length, 0, left.join(' '));
  for (const stale of ['summary.json', 'topk.parquet', 'scores.parquet']) assert.ok(!left.includes(stale), `${stale} of the older run is still there`);

  const rerun = await runCli([...args, '--json'], env);
  assert.equal(rerun.code, 0, rerun.stderr);
  const summary = JSON.parse(rerun.stdout) as { counts: { scored: number }; cache: { hits: number; misses: number } };
  assert.equal(summary.counts.scored, 900);
  assert.ok(summary.cache.hits >= 256, `the rerun reused the interrupted run's features: ${JSON.stringify(summary.cache)}`);
  // ...and the interrupted run had stopped short of the end, not finished the corpus first.
  assert.ok(summary.cache.misses > 0, JSON.stringify(summary.cache));
});

test('without a TTY, progress is a plain log line per interval and per phase', async () => {
  const dir = tempDir('progress');
  const result = await runCli(['audit', '--data', CORPUS, '--out', join(dir, 'out')], { ...env, SAFESIFT_PROGRESS_INTERVAL_MS: '100' });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /^safesift: anchors/m);
  assert.match(result.stderr, /^safesift: corpus \d+\/60 records/m);
  assert.doesNotMatch(result.stderr, /\u001b\[|NaN|Infinity|NF/);
});

/** Sets the first value of a float32 tensor to NaN, in place; returns the tensor's name. */
async function poisonTensor(path: string, name: string): Promise<string> {
  const file = await open(path, 'r+');
  try {
    const head = Buffer.alloc(8);
    await file.read(head, 0, 8, 0);
    const headerLength = Number(head.readBigUInt64LE(0));
    const header = Buffer.alloc(headerLength);
    await file.read(header, 0, headerLength, 8);
    const tensors = JSON.parse(header.toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    const tensor = tensors[name];
    assert.ok(tensor && tensor.dtype === 'F32', `${name} is a float32 tensor of the tiny model`);
    const nan = Buffer.alloc(4);
    nan.writeFloatLE(Number.NaN, 0);
    await file.write(nan, 0, 4, 8 + headerLength + tensor.data_offsets[0]);
    return name;
  } finally {
    await file.close();
  }
}
