import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseJobSpec } from '../../../shared/src/distributed/job-spec.ts';
import { ConfigError } from '../../../shared/src/errors.ts';
import { k8sJobSpec } from '../../../shared/src/k8s/k8s-job-spec.ts';

const isConfigError = (pattern: RegExp) => (e: unknown) => e instanceof ConfigError && pattern.test(e.message);

test('the YAML names the job after its output prefix (not the mounted file), in kebab-case, and parses back to the same spec', () => {
  const { name, yaml, spec } = k8sJobSpec({ out: 's3://runs/2024/Q3 audit/', maxTokens: 128, 'batch-examples': 16, data: 's3://corpora/x.jsonl' });
  assert.equal(name, 'q3-audit');
  const text = parse(yaml) as Record<string, unknown>;
  assert.deepEqual(Object.keys(text), ['name', 'data', 'max-tokens', 'out', 'batch-examples']);
  assert.deepEqual(parseJobSpec(yaml, 'job.yaml'), spec);
  assert.deepEqual(spec.data, ['s3://corpora/x.jsonl']);
});

test('a given name is kept; demo inputs (none given) and the tiny model are allowed', () => {
  const { name, spec } = k8sJobSpec({ name: 'smoke', model: 'tiny', out: 's3://runs/smoke' });
  assert.equal(name, 'smoke');
  assert.equal(spec.data, undefined);
});

test('every location must be on S3, and out is required; all problems are reported at once', () => {
  assert.throws(() => k8sJobSpec({ data: ['s3://okay/a.jsonl', '/data/b.jsonl'], harmful: 'h.jsonl', model: '/models/llama', out: 'results', cache: './cache' }, 'nightly'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    for (const what of [/nightly: data: '\/data\/b\.jsonl'/, /harmful: 'h\.jsonl'/, /model: '\/models\/llama' must be 'tiny' or an s3/, /out: 'results'/, /cache: '\.\/cache'/]) assert.match(e.message, what);
    assert.doesNotMatch(e.message, /s3:\/\/okay/);
    return true;
  });
  assert.throws(() => k8sJobSpec({ data: 's3://corpora/x.jsonl' }), isConfigError(/out: required/));
  assert.throws(() => k8sJobSpec({ out: 's3://runs/x', k: 0 }), isConfigError(/k: expected a number >= 1/));
  assert.throws(() => k8sJobSpec({ out: 's3://runs/x', topk: 3 }), isConfigError(/topk: unknown key/));
});
