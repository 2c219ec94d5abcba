/**
 * Score rows (Row objects) to Arrow vectors typed from ColumnSpecs and back, exactly: floats keep
 * NaN and -0 apart from null, int64 keeps all 64 bits. Buffers are filled directly (no per-value
 * builders): a worst-case batch result is 4096 rows × hundreds of columns.
 */
import { Bool, Float32, Float64, Int32, Int64, Utf8, makeData, makeVector } from 'apache-arrow';
import type { DataType, Vector } from 'apache-arrow';
import type { ColumnSpec, ColumnType, Row } from '../output/parquet-table-writer.ts';

export const ARROW_TYPES: Record<ColumnType, () => DataType> = {
  utf8: () => new Utf8(), int32: () => new Int32(), int64: () => new Int64(),
  float32: () => new Float32(), float64: () => new Float64(), bool: () => new Bool(),
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** One column of `rows` as a vector; TypeError (naming column and row) for a value of the wrong kind. */
export function encodeColumn(c: ColumnSpec, nullable: boolean, rows: readonly Row[]): Vector {
  const n = rows.length;
  const validity = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  const values: Row[string][] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = rows[i]![c.name] ?? null;
    if (v === null) {
      if (!nullable) throw bad(c, i, v);
      nullCount++;
    } else validity[i >> 3]! |= 1 << (i & 7);
    values[i] = v;
  }
  const nullBitmap = nullCount > 0 ? validity : undefined;
  const check = (ok: boolean, i: number) => { if (!ok) throw bad(c, i, values[i]); };
  const common = { length: n, nullCount, nullBitmap };
  switch (c.type) {
    case 'utf8': {
      const encoded = values.map((v, i) => {
        if (v === null) return null;
        check(typeof v === 'string', i);
        return Buffer.from(v as string, 'utf8');
      });
      const valueOffsets = new Int32Array(n + 1);
      encoded.forEach((b, i) => { valueOffsets[i + 1] = valueOffsets[i]! + (b?.length ?? 0); });
      const data = new Uint8Array(valueOffsets[n]!);
      encoded.forEach((b, i) => { if (b) data.set(b, valueOffsets[i]!); });
      return makeVector(makeData({ type: new Utf8(), ...common, valueOffsets, data }));
    }
    case 'bool': {
      const data = new Uint8Array((n + 7) >> 3);
      values.forEach((v, i) => {
        if (v === null) return;
        check(typeof v === 'boolean', i);
        if (v) data[i >> 3]! |= 1 << (i & 7);
      });
      return makeVector(makeData({ type: new Bool(), ...common, data }));
    }
    case 'int64': {
      const data = new BigInt64Array(n);
      values.forEach((v, i) => {
        if (v === null) return;
        if (typeof v === 'bigint') check(BigInt.asIntN(64, v) === v, i);
        else check(typeof v === 'number' && Number.isSafeInteger(v), i);
        data[i] = BigInt(v as number | bigint);
      });
      return makeVector(makeData({ type: new Int64(), ...common, data }));
    }
    case 'int32': {
      const data = new Int32Array(n);
      values.forEach((v, i) => {
        if (v === null) return;
        check(typeof v === 'number' && (v | 0) === v, i);
        data[i] = v as number;
      });
      return makeVector(makeData({ type: new Int32(), ...common, data }));
    }
    case 'float32':
    case 'float64': {
      const data = c.type === 'float32' ? new Float32Array(n) : new Float64Array(n);
      values.forEach((v, i) => {
        if (v === null) return;
        check(typeof v === 'number', i);
        data[i] = v as number;
      });
      return c.type === 'float32'
        ? makeVector(makeData({ type: new Float32(), ...common, data: data as Float32Array }))
        : makeVector(makeData({ type: new Float64(), ...common, data: data as Float64Array }));
    }
  }
}

/**
 * A column's values in row order: numbers (int64 as number when a safe integer, else bigint),
 * strings, booleans or null. Utf8 columns are read by the caller (see readUtf8Column).
 */
export function decodeColumn(c: ColumnSpec, vector: Vector): Row[string][] {
  const n = vector.length;
  const out: Row[string][] = new Array(n);
  const hasNulls = vector.nullCount > 0;
  if (c.type === 'bool') {
    for (let i = 0; i < n; i++) out[i] = hasNulls && !vector.isValid(i) ? null : (vector.get(i) as boolean);
    return out;
  }
  // Typed arrays keep NaN and -0 exactly; get() would box every value.
  const flat = vector.toArray() as ArrayLike<number | bigint>;
  for (let i = 0; i < n; i++) {
    if (hasNulls && !vector.isValid(i)) {
      out[i] = null;
      continue;
    }
    const v = flat[i]!;
    out[i] = typeof v === 'bigint' && v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
  }
  return out;
}

function bad(c: ColumnSpec, row: number, value: unknown): TypeError {
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : String(value);
  return new TypeError(`batch result column "${c.name}" (${c.type}) row ${row}: invalid value ${shown}`);
}
