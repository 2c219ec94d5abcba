// What the NaN/Inf check of the checkpoint's weights costs: every tensor of the ~58M random Llama
// read through the checkpoint (decoded and checked) vs the raw safetensors decode, alternating.
import { join } from 'node:path';
import { openCheckpoint } from '../shared/src/model/checkpoint.ts';
import { SafetensorsFile } from '../shared/src/model/safetensors.ts';
import { benchModel50m } from './bench-models.ts';

export interface WeightCheckResult {
  parameters: number;
  rounds: number;
  /** Seconds per full read, each round, with and without the check. */
  checked: number[];
  raw: number[];
}

export async function measureWeightCheck(rounds = 7): Promise<WeightCheckResult> {
  const dir = await benchModel50m();
  const checkpoint = await openCheckpoint(dir);
  const file = await SafetensorsFile.open(join(dir, 'model.safetensors'));
  const names = file.tensorNames();
  let parameters = 0;
  const readAll = async (read: (name: string) => Promise<Float32Array>) => {
    const started = performance.now();
    let n = 0;
    for (const name of names) n += (await read(name)).length;
    parameters = n;
    return (performance.now() - started) / 1000;
  };
  const result: WeightCheckResult = { parameters: 0, rounds, checked: [], raw: [] };
  try {
    await readAll((n) => file.readFloat32(n)); // page cache warm for both
    for (let r = 0; r < rounds; r++) {
      result.raw.push(await readAll((n) => file.readFloat32(n)));
      result.checked.push(await readAll((n) => checkpoint.readTensor(n)));
    }
  } finally {
    await file.close();
    await checkpoint.close();
  }
  result.parameters = parameters;
  return result;
}
