/** Safetensors dtypes we can turn into float32, and their element sizes in bytes. */
export const FLOAT_DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2, F64: 8 } as const;
export type FloatDtype = keyof typeof FLOAT_DTYPE_BYTES;

/** Element sizes of every safetensors dtype, so headers of any file can be checked. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  ...FLOAT_DTYPE_BYTES,
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  I32: 4,
  U32: 4,
  I64: 8,
  U64: 8,
};

export function isFloatDtype(dtype: string): dtype is FloatDtype {
  return Object.hasOwn(FLOAT_DTYPE_BYTES, dtype);
}

let f16Table: Float32Array | undefined;

// A 65,536-entry table is 256 KiB and turns conversion into one lookup per element.
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 31) table[h] = mant === 0 ? sign * Infinity : NaN;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  f16Table = table;
  return table;
}

/**
 * Decodes little-endian raw bytes of `dtype` into a new Float32Array.
 * `bytes` must start at offset 0 of its own ArrayBuffer (as freshly read buffers do) so typed views line up.
 */
export function toFloat32(dtype: FloatDtype, bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength / FLOAT_DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'F32':
      return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    case 'F64': {
      const src = new Float64Array(bytes.buffer, bytes.byteOffset, n);
      return Float32Array.from(src);
    }
    case 'F16': {
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      const table = halfTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[src[i]!]!;
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
      return out;
    }
  }
}
