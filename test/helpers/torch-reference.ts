// Runs the independent plain-torch reference (test/reference/llama_reference.py) and parses
// its output. See the docstring at the top of that script for the exact semantics.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REFERENCE_SCRIPT = fileURLToPath(new URL('../reference/llama_reference.py', import.meta.url));
export const REFERENCE_PYTHON = process.env['SAFESIFT_REFERENCE_PYTHON'] ?? '/usr/bin/python3';

export type ReferenceWant = 'logits' | 'representation' | 'loss' | 'grad_lm_head' | 'grad_all' | 'layer_states';

export interface ReferenceExample {
  ids: number[];
  /** weights[t] weighs the loss of predicting ids[t] from position t-1; weights[0] must be 0. */
  weights: number[];
}

export interface ReferenceRequest {
  model_dir: string;
  dtype?: 'float64' | 'float32';
  examples: ReferenceExample[];
  /** Default: logits, representation, loss. */
  want?: ReferenceWant[];
  /** Default true: grad_lm_head is the classifier path only, even for tied models. */
  lm_head_only_classifier?: boolean;
  /** Decoder layers (0-based) of layer_states. */
  layers?: number[];
}

export interface ReferenceTensor {
  shape: number[];
  data: Float32Array;
}

export interface ReferenceExampleResult {
  logits?: ReferenceTensor; // [T, V]
  representation?: ReferenceTensor; // [D]
  loss?: number;
  grad_lm_head?: ReferenceTensor; // [V, D]
  grad_all?: Record<string, ReferenceTensor>; // HF tensor names
  layer_states?: ReferenceTensor; // [2L, D]: per layer, last prompt token then response mean
}

export interface ReferenceResult {
  examples: ReferenceExampleResult[];
}

export interface PaperScoresRequest {
  model_dir: string;
  dtype?: 'float64' | 'float32';
  examples: ReferenceExample[];
  anchor_sets: { weight: number; examples: ReferenceExample[] }[];
}

interface TensorEntry {
  dtype: 'float32';
  shape: number[];
  offset: number;
  length: number;
}

type HeaderExample = Record<string, TensorEntry | number | Record<string, TensorEntry>>;

function runPython(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(REFERENCE_PYTHON, [REFERENCE_SCRIPT, ...args], { maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`torch reference failed: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'torch-ref-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Parses the reference's binary output (u64 LE header length, JSON header, float32 data). */
export function parseReferenceOutput(buf: Buffer): ReferenceResult {
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as { examples: HeaderExample[] };
  const dataStart = 8 + headerLen;
  const tensor = (e: TensorEntry): ReferenceTensor => {
    const begin = buf.byteOffset + dataStart + e.offset;
    // slice() copies into a fresh, aligned ArrayBuffer.
    return { shape: e.shape, data: new Float32Array(buf.buffer.slice(begin, begin + e.length)) };
  };
  return {
    examples: header.examples.map((ex) => {
      const out: ReferenceExampleResult = {};
      for (const [key, value] of Object.entries(ex)) {
        if (key === 'loss') out.loss = value as number;
        else if (key === 'grad_all') {
          const grads: Record<string, ReferenceTensor> = {};
          for (const [name, e] of Object.entries(value as Record<string, TensorEntry>)) grads[name] = tensor(e);
          out.grad_all = grads;
        } else out[key as 'logits' | 'representation' | 'grad_lm_head' | 'layer_states'] = tensor(value as TensorEntry);
      }
      return out;
    }),
  };
}

/** Runs each example alone (batch size 1) through the torch reference. */
export async function runTorchReference(request: ReferenceRequest): Promise<ReferenceResult> {
  return withTempDir(async (dir) => {
    const req = join(dir, 'request.json');
    const out = join(dir, 'out.bin');
    await writeFile(req, JSON.stringify(request));
    await runPython([req, out]);
    return parseReferenceOutput(await readFile(out));
  });
}

/** The paper's full-gradient bi-directional score (method.md §3), batch size 1, no projection. */
export async function runTorchPaperScores(request: PaperScoresRequest): Promise<{ scores: (number | null)[] }> {
  return withTempDir(async (dir) => {
    const req = join(dir, 'request.json');
    const out = join(dir, 'scores.json');
    await writeFile(req, JSON.stringify(request));
    await runPython(['--paper-scores', req, out]);
    return JSON.parse(await readFile(out, 'utf8')) as { scores: (number | null)[] };
  });
}
