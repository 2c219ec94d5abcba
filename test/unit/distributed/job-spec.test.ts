import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileAuditOptions } from '../../../shared/src/audit/audit-options.ts';
import { ConfigError } from '../../../shared/src/errors.ts';
import {
  compileJobSpec, fromStoredSpec, parseJobSpec, resolveJobSpec, toStoredSpec, type RawJobSpec,
} from '../../../shared/src/distributed/job-spec.ts';

const YAML_SPEC = `
# a full spec, kebab-case like the CLI flags
name: june-audit
data:
  - s3://corpora/june/part-0.parquet
  - local/extra.jsonl
model: /models/llama-2-7b-chat
harmful: s3://anchors/harmful.jsonl
safe: [s3://anchors/safe-1.jsonl, s3://anchors/safe-2.jsonl]
weights: "1, -0.5, -0.5"
format: chat-template
record-shape: alpaca
method: rep
k: 250
bottom-k: 10
top-n: 3
max-tokens: 1024
anchor-tokens: 12
probes: attn-qv
proj: kron:32x64
proj-seed: 7
proj-dim: 4096
batch-size: 16
limit: 100000
max-record-bytes: 1048576
out: s3://results/june/
batch-examples: 128
`;

const JSON_SPEC = JSON.stringify({
  name: 'june-audit',
  data: ['s3://corpora/june/part-0.parquet', 'local/extra.jsonl'],
  model: '/models/llama-2-7b-chat',
  harmful: ['s3://anchors/harmful.jsonl'],
  safe: ['s3://anchors/safe-1.jsonl', 's3://anchors/safe-2.jsonl'],
  weights: [1, -0.5, -0.5],
  format: 'chat-template', recordShape: 'alpaca', method: 'rep', k: 250, bottomK: 10, topN: 3, maxTokens: 1024,
  anchorTokens: 12, probes: 'attn-qv', proj: 'kron:32x64', projSeed: 7, projDim: 4096, batchSize: 16, limit: 100000,
  maxRecordBytes: 1048576, out: 's3://results/june/', batchExamples: 128,
});

test('a full YAML spec (kebab-case) and the same JSON spec (camelCase) give the same job', () => {
  const fromYaml = parseJobSpec(YAML_SPEC, 'jobs/spec.yaml');
  const fromJson = parseJobSpec(JSON_SPEC, 'jobs/spec.json');
  assert.deepStrictEqual(fromYaml, fromJson);
  const spec = compileJobSpec(fromYaml);
  assert.equal(spec.name, 'june-audit');
  assert.equal(spec.batchExamples, 128);
  assert.deepStrictEqual(spec.audit.weights, [1, -0.5, -0.5]);
  assert.equal(spec.audit.bottomK, 10);
  const options = compileAuditOptions(spec.audit);
  assert.deepStrictEqual(options.projection, { kind: 'kron', outDim: 32, inDim: 64, seed: 7 });
  assert.deepStrictEqual(options.sketch, { dim: 4096, seed: 7 });
  assert.equal(options.recordShape, 'alpaca');
  assert.equal(options.out, 's3://results/june/');
});

test('JSON is detected by content when the extension says nothing', () => {
  assert.deepStrictEqual(parseJobSpec(JSON_SPEC, 'spec.txt'), parseJobSpec(JSON_SPEC, 'spec.json'));
  assert.throws(() => parseJobSpec('{"out": "x",}', 'spec'), /spec: not valid JSON/);
});

test('defaults are those of safesift audit', () => {
  const spec = compileJobSpec(parseJobSpec('out: s3://results/run/\n', 'spec.yaml'));
  assert.equal(spec.batchExamples, 64);
  assert.deepStrictEqual(compileAuditOptions(spec.audit), compileAuditOptions({ out: 's3://results/run/' }));
  const withData = compileJobSpec(parseJobSpec('out: o\ndata: [a.jsonl]\nharmful: h.jsonl\n', 'spec.yaml'));
  assert.deepStrictEqual(compileAuditOptions(withData.audit), compileAuditOptions({ out: 'o', data: ['a.jsonl'], harmful: ['h.jsonl'] }));
  // Every audit default is written out, so a worker with other defaults still runs the same audit.
  for (const key of ['model', 'format', 'method', 'k', 'bottomK', 'topN', 'maxTokens', 'anchorTokens', 'probes', 'proj', 'projSeed', 'dtype', 'maxRecordBytes']) {
    assert.ok(Object.hasOwn(withData.audit, key), key);
  }
  // Batch limits left open are each worker's own choice, from its memory (GPU or CPU).
  assert.ok(!Object.hasOwn(withData.audit, 'batchSize') && !Object.hasOwn(withData.audit, 'batchTokens'));
  assert.equal(compileJobSpec(parseJobSpec('out: o\ndtype: float16\nbatch-tokens: 8192\n', 'spec.yaml')).audit.dtype, 'float16');
});

test('one path may stand for a list of one', () => {
  const raw = parseJobSpec('data: a.jsonl\nout: o\n', 'spec.yaml');
  assert.deepStrictEqual(raw.data, ['a.jsonl']);
});

function problems(text: string, file = 'spec.yaml'): string {
  try {
    parseJobSpec(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail(`accepted:\n${text}`);
}

test('bad specs are ConfigErrors naming the file and the field', () => {
  const cases: Array<[string, RegExp]> = [
    ['out: o\nk: ten\n', /^spec\.yaml: k: expected a number, got "ten"$/],
    ['out: o\nbottom-k: 1.5\n', /^spec\.yaml: bottom-k: expected a whole number, got 1\.5$/],
    ['out: o\nk: 0\n', /^spec\.yaml: k: expected a number >= 1, got 0$/],
    ['out: o\nbatch-examples: 5000\n', /^spec\.yaml: batch-examples: expected a number <= 4096, got 5000$/],
    ['out: o\nmethod: gradient\n', /^spec\.yaml: method: expected one of grad, rep, self_inf, self_inf_n, dir, got "gradient"$/],
    ['out: o\nrecord-shape: sharegpt\n', /record-shape: expected one of alpaca, dolly, gsm8k, chat/],
    ['out: o\ndata: [a.jsonl, 3]\n', /^spec\.yaml: data\[1\]: expected a path or s3:\/\/ URI, got 3$/],
    ['out: o\ndata: {a: 1}\n', /^spec\.yaml: data: expected a list of paths \(or one path\), got a mapping$/],
    ['out: o\ndata: gs://bucket/a.jsonl\n', /data\[0\]: unsupported URI scheme 'gs'/],
    ['out: s3://Bad_Bucket/x\n', /^spec\.yaml: out: expected s3:\/\/bucket\/key/],
    ['out: o\nweights: "1,x"\n', /^spec\.yaml: weights: "x" is not a finite number$/],
    ['out: o\nweights: [1, yes]\n', /weights\[1\]: expected a finite number, got "yes"/],
    ['out: o\nproj: kron:64\n', /^spec\.yaml: proj: expected 'auto', 'none' or 'kron:OUTxIN'/],
    ['out: o\nname: June_Audit\n', /^spec\.yaml: name: expected lower-case letters, digits and inner dashes, got "June_Audit"$/],
    ['out: o\nk:\n', /^spec\.yaml: k: expected a number, got null/],
    ['k: 3\n', /^spec\.yaml: out: required/],
    ['out: o\nbottomk: 3\n', /^spec\.yaml: bottomk: unknown key \(did you mean 'bottomK'\?\)$/],
    ['out: o\nbatch_size: 3\n', /batch_size: unknown key \(did you mean 'batchSize'\?\)/],
    ['out: o\nmax-token: 3\n', /^spec\.yaml: max-token: unknown key$/],
    ['out: o\ndtype: float64\n', /^spec\.yaml: dtype: expected one of float32, float16, got "float64"$/],
    ['out: o\nthreads: 4\n', /threads: unknown key/],
    ['out: o\nbottom-k: 1\nbottomK: 2\n', /bottomK: given twice \(also as bottom-k\)/],
    ['out: o\nk: 1\nk: 2\n', /^spec\.yaml: not valid YAML: .*[Mm]ap keys must be unique/],
    ['out: o\n  k: [1\n', /^spec\.yaml: not valid YAML/],
    ['- out: o\n', /^spec\.yaml: expected a mapping of job fields, got a list$/],
    ['', /^spec\.yaml: the job spec is empty/],
    ['\n\n# nothing\n', /^spec\.yaml: the job spec is empty/],
  ];
  for (const [text, message] of cases) assert.match(problems(text), message, text);
  assert.match(problems('{"k": "ten", "out": "o"}', 'jobs/j.json'), /^jobs\/j\.json: k: expected a number, got "ten"$/);
  assert.match(problems('{"bottom-k": 1, "out": "o"', 'jobs/j.json'), /^jobs\/j\.json: not valid JSON/);
});

test('every problem of a spec is reported at once', () => {
  const lines = problems('k: ten\ntop-n: 0\nbogus: 1\n').split('\n');
  assert.equal(lines.length, 4, lines.join('\n'));
  for (const field of ['k:', 'top-n:', 'bogus:', 'out:']) assert.ok(lines.some((l) => l.startsWith(`spec.yaml: ${field}`)), field);
});

test('numeric bounds agree with compileAuditOptions', () => {
  const fields = ['k', 'bottomK', 'topN', 'maxTokens', 'anchorTokens', 'projSeed', 'projDim', 'batchSize', 'limit', 'maxRecordBytes'];
  for (const field of fields) {
    const accepts = (v: number) => { try { parseJobSpec(JSON.stringify({ out: 'o', [field]: v }), 's.json'); return true; } catch { return false; } };
    const compiles = (v: number) => { try { compileAuditOptions({ [field]: v }); return true; } catch { return false; } };
    const lowest = [-2, -1, 0, 1, 2, 3].find(accepts);
    assert.notEqual(lowest, undefined, field);
    assert.ok(compiles(lowest!), `${field}: ${lowest} accepted by the spec, rejected by compileAuditOptions`);
    assert.ok(!compiles(lowest! - 1), `${field}: ${lowest! - 1} rejected by the spec, accepted by compileAuditOptions`);
    assert.ok(!accepts(lowest! + 0.5) && !compiles(lowest! + 0.5), `${field}: fractions`);
  }
});

test('the name defaults to the spec file name, then to the output prefix', () => {
  assert.equal(parseJobSpec('out: o\n', 'jobs/June Audit.yaml').name, 'june-audit');
  assert.equal(compileJobSpec(parseJobSpec('out: o\n', 'jobs/June Audit.yaml')).name, 'june-audit');
  assert.equal(compileJobSpec({ out: 's3://results/audits/Run_7/' }).name, 'run-7');
  assert.equal(compileJobSpec({ out: 's3://results' }).name, 'results');
  assert.equal(compileJobSpec({ out: '/' }).name, 'job');
  assert.equal(parseJobSpec('out: o\nname: given\n', 'x.yaml').name, 'given');
});

test('compileJobSpec refuses unexpanded patterns and globbed anchors', () => {
  assert.throws(() => compileJobSpec({ out: 'o', data: ['data/*.jsonl'] }), /data: 'data\/\*\.jsonl' is a pattern; expand it/);
  assert.throws(() => compileJobSpec({ out: 'o', data: ['s3://b/prefix/'] }), /is a pattern/);
  assert.throws(() => compileJobSpec({ out: 'o', harmful: ['anchors/*.jsonl'] }), /harmful: .* must name one anchor file/);
});

test('problems only compileAuditOptions knows of still stop the job', () => {
  assert.throws(() => compileJobSpec({ out: 'o', harmful: ['h.jsonl'], safe: ['s.jsonl'], weights: [1] }), /--weights: 1 weights given for 2 anchor sets/);
  assert.throws(() => compileJobSpec({ out: 'o', data: ['corpus.csv'] }), /unsupported corpus file 'corpus\.csv'/);
});

test('resolveJobSpec expands data globs through the lister, then compiles', async () => {
  const raw = parseJobSpec('data: [s3://corpora/june/*.parquet, extra.jsonl]\nout: s3://results/o/\n', 'june.yaml');
  const listed: string[] = [];
  const spec = await resolveJobSpec(raw, async function* (prefix) {
    listed.push(prefix);
    yield* ['s3://corpora/june/p1.parquet', 's3://corpora/june/p0.parquet', 's3://corpora/june/notes.txt'];
  });
  assert.deepStrictEqual(listed, ['s3://corpora/june/']);
  assert.deepStrictEqual(spec.audit.data, ['extra.jsonl', 's3://corpora/june/p0.parquet', 's3://corpora/june/p1.parquet']);
  assert.equal(spec.name, 'june');
});

test('the stored form survives JSON and compiles to the same job', () => {
  const specs = [
    compileJobSpec(parseJobSpec(YAML_SPEC, 'spec.yaml')),
    compileJobSpec(parseJobSpec('out: o\n', 'demo.yaml')),
    compileJobSpec({ out: 'o', data: ['a.jsonl'], harmful: ['h.jsonl'], limit: 5 } satisfies RawJobSpec),
  ];
  for (const spec of specs) {
    const stored = JSON.parse(JSON.stringify(toStoredSpec(spec))) as unknown;
    const back = fromStoredSpec(stored);
    assert.deepStrictEqual(back, spec);
    assert.deepStrictEqual(compileAuditOptions(back.audit), compileAuditOptions(spec.audit));
  }
  // The demo inputs stay "none" in the stored form, so each machine uses its own copy.
  const demo = toStoredSpec(specs[1]!);
  assert.deepStrictEqual([demo.audit.data, demo.audit.harmful, demo.audit.safe], [[], [], []]);
  assert.equal(compileAuditOptions(fromStoredSpec(demo).audit).demo, true);
});

test('a bad stored spec is a ConfigError', () => {
  const good = toStoredSpec(compileJobSpec({ out: 'o' }));
  const cases: Array<[unknown, RegExp]> = [
    [null, /expected an object/],
    [{ ...good, version: 2 }, /unsupported version 2/],
    [{ ...good, extra: 1 }, /unknown key extra/],
    [{ ...good, audit: { ...good.audit, dtype: 'bfloat16' } }, /stored job spec: dtype: expected one of float32, float16/],
    [{ ...good, audit: { ...good.audit, threads: 4 } }, /stored job spec: threads: unknown key/],
    [{ ...good, audit: { ...good.audit, k: 'ten' } }, /stored job spec: k: expected a number/],
    [{ ...good, audit: { ...good.audit, 'bottom-k': 1 } }, /bottom-k: unknown key/],
    [{ ...good, name: 'Bad Name' }, /stored job spec: name:/],
    [{ version: 1, audit: good.audit }, /name and batchExamples are required/],
  ];
  for (const [value, message] of cases) assert.throws(() => fromStoredSpec(value), message);
});
