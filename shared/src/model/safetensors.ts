import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { ModelError } from '../errors.ts';
import { DTYPE_BYTES, isFloatDtype, toFloat32 } from './dtype.ts';

export { writeSafetensors, type TensorToWrite } from './safetensors-writer.ts';

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte offset of the tensor's data in its file. */
  byteOffset: number;
  byteLength: number;
}

/** Anything that serves named tensors as float32: one safetensors file or a sharded set. */
export interface TensorSource {
  tensorNames(): string[];
  info(name: string): TensorInfo;
  readFloat32(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

// The format caps headers at 100 MB; a larger length means a corrupt or foreign file.
const MAX_HEADER_BYTES = 100_000_000;
// A single read() moves at most 2 GiB - 1 bytes.
const MAX_READ_CHUNK = 1 << 30;

async function readExactly(fh: FileHandle, target: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const length = Math.min(MAX_READ_CHUNK, target.byteLength - done);
    const { bytesRead } = await fh.read(target, done, length, position + done);
    if (bytesRead === 0) throw new ModelError(`${path}: file ended early at byte ${position + done}`);
    done += bytesRead;
  }
}

function parseHeader(path: string, json: unknown, dataStart: number, fileSize: number): {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
} {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelError(`${path}: safetensors header is not a JSON object`);
  }
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (value ?? {}) as Record<string, string>;
      continue;
    }
    const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const { dtype, shape, data_offsets: offsets } = entry ?? {};
    const bad = (why: string): never => {
      throw new ModelError(`${path}: tensor '${name}': ${why}`);
    };
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) bad(`unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad('bad shape');
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      bad('bad data_offsets');
    }
    const [begin, end] = offsets as [number, number];
    const dims = shape as number[];
    const expected = dims.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype as string]!;
    if (end - begin !== expected) bad(`data_offsets span ${end - begin} bytes, shape [${dims}] of ${dtype} needs ${expected}`);
    if (dataStart + end > fileSize) bad(`data ends at byte ${dataStart + end}, past the end of the file (${fileSize})`);
    tensors.set(name, { name, dtype: dtype as string, shape: dims, byteOffset: dataStart + begin, byteLength: end - begin });
  }
  return { tensors, metadata };
}

/** One .safetensors file: the header is parsed on open, tensor data is read on demand by byte range. */
export class SafetensorsFile implements TensorSource {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    if (endianness() !== 'LE') throw new ModelError('safetensors reading needs a little-endian host');
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw new ModelError(`${path}: cannot open (${(err as Error).message})`, { cause: err });
    }
    try {
      const { size } = await fh.stat();
      if (size < 8) throw new ModelError(`${path}: too short to be a safetensors file (${size} bytes)`);
      const lenBytes = new Uint8Array(8);
      await readExactly(fh, lenBytes, 0, path);
      const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
      if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
        throw new ModelError(`${path}: header length ${headerLen} is implausible for a ${size}-byte file (not safetensors?)`);
      }
      const headerBytes = new Uint8Array(headerLen);
      await readExactly(fh, headerBytes, 8, path);
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
      } catch (err) {
        throw new ModelError(`${path}: safetensors header is not valid JSON (${(err as Error).message})`, { cause: err });
      }
      const { tensors, metadata } = parseHeader(path, json, 8 + headerLen, size);
      return new SafetensorsFile(path, fh, tensors, metadata);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  tensorNames(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new ModelError(`${this.path}: no tensor named '${name}'`);
    return info;
  }

  /** Raw little-endian bytes of one tensor, in a buffer of its own. */
  async readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    const bytes = new Uint8Array(info.byteLength);
    await readExactly(this.fh, bytes, info.byteOffset, this.path);
    return bytes;
  }

  async readFloat32(name: string): Promise<Float32Array> {
    const { dtype } = this.info(name);
    if (!isFloatDtype(dtype)) throw new ModelError(`${this.path}: tensor '${name}' has dtype ${dtype}; only F32, F16, BF16 and F64 convert to float32`);
    return toFloat32(dtype, await this.readBytes(name));
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
