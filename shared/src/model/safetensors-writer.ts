import { open } from 'node:fs/promises';
import { endianness } from 'node:os';

export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  /** The values, or a function that makes them when their turn comes (so only one tensor is in memory at a time). */
  data: Float32Array | (() => Float32Array | Promise<Float32Array>);
}

const MAX_WRITE_CHUNK = 1 << 30;

/**
 * Writes an F32 safetensors file, tensors in the given order. Shapes (hence offsets) are known up front,
 * so the header goes first and each tensor's data is made, written and dropped in turn.
 */
export async function writeSafetensors(
  path: string,
  tensors: Iterable<TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  if (endianness() !== 'LE') throw new Error('safetensors writing needs a little-endian host');
  const list = [...tensors];
  const header: Record<string, unknown> = {};
  if (metadata) header['__metadata__'] = metadata;
  let offset = 0;
  for (const t of list) {
    if (t.name === '__metadata__' || Object.hasOwn(header, t.name)) throw new Error(`safetensors: duplicate or reserved tensor name '${t.name}'`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`safetensors: tensor '${t.name}' has a bad shape [${t.shape}]`);
    const bytes = elementCount(t.shape) * 4;
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the format asks.
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.byteLength));

  const fh = await open(path, 'w');
  try {
    let position = 0;
    const write = async (bytes: Uint8Array): Promise<void> => {
      let done = 0;
      while (done < bytes.byteLength) {
        const length = Math.min(MAX_WRITE_CHUNK, bytes.byteLength - done);
        const { bytesWritten } = await fh.write(bytes, done, length, position);
        done += bytesWritten;
        position += bytesWritten;
      }
    };
    await write(prefix);
    await write(headerBytes);
    for (const t of list) {
      const data = typeof t.data === 'function' ? await t.data() : t.data;
      const expected = elementCount(t.shape);
      if (data.length !== expected) throw new Error(`safetensors: tensor '${t.name}' has ${data.length} values, shape [${t.shape}] needs ${expected}`);
      await write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  } finally {
    await fh.close();
  }
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
