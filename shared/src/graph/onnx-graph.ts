import { openSync, writeSync, closeSync } from 'node:fs';
import { basename } from 'node:path';
import onnxProto from 'onnx-proto';
import type * as OP from 'onnx-proto';
import { toHalfBits } from './half-float.ts';

const { onnx } = onnxProto;

/** Element types we emit (ONNX TensorProto.DataType codes). */
export const DType = { float: 1, int64: 7, bool: 9, float16: 10 } as const;
export type DType = (typeof DType)[keyof typeof DType];
/** The floating-point types a graph computes in. */
export type FloatType = typeof DType.float | typeof DType.float16;

export type Dim = number | string;
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { graph: OP.onnx.IGraphProto } | OP.onnx.ITensorProto;

/** A value of a Loop: its name and element type (body inputs and outputs must be typed). */
export interface TypedValue {
  value: string;
  type: DType;
}

/** Initializers at least this big go to the external data file (keeps the protobuf small, no 2 GB limit). */
const EXTERNAL_THRESHOLD_BYTES = 1024;
export const OPSET = 18;

/**
 * A small imperative ONNX graph builder: values are named strings, every node gets a fresh
 * output name. Large initializers are streamed straight to an external data file as they are
 * added, so building a graph never holds all weights in memory at once. Loop bodies are
 * OnnxGraphs too (see `loop`): they emit their own nodes but take names, constants and weights
 * from the main graph, whose values a subgraph may read by name.
 */
export class OnnxGraph {
  private readonly nodes: OP.onnx.INodeProto[] = [];
  private readonly inputs: OP.onnx.IValueInfoProto[] = [];
  private readonly outputs: OP.onnx.IValueInfoProto[] = [];
  private readonly initializers: OP.onnx.ITensorProto[] = [];
  private readonly constCache = new Map<string, string>();
  private counter = 0;
  private dataFd: number | null = null;
  private dataOffset = 0;
  /** The main graph: the one that owns names, constants and weights (itself unless a Loop body). */
  private readonly root: OnnxGraph;

  /** @param dataPath where external weights go; must sit next to the model file (loaded by path). */
  constructor(
    readonly name: string,
    private readonly dataPath: string | null = null,
    parent: OnnxGraph | null = null,
  ) {
    this.root = parent ? parent.root : this;
  }

  fresh(hint: string): string {
    return `${hint}_${this.root.counter++}`;
  }

  /** A graph input; `dims` null leaves the shape unknown (Loop bodies: shapes vary by iteration). */
  input(name: string, type: DType, dims: Dim[] | null): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(value: string, name: string, type: DType, dims: Dim[] | null): void {
    this.node('Identity', [value], {}, [name]);
    this.outputs.push(valueInfo(name, type, dims));
  }

  /**
   * An ONNX Loop of `trips` iterations (an int64 scalar known only at run time). `emit` builds the
   * body from the iteration number (int64 [1]) and the current carried values, and returns their
   * next values plus the per-iteration outputs, which the Loop stacks on a new leading axis.
   * Returns the final carried values, then the stacked outputs.
   */
  loop(
    trips: string,
    carried: TypedValue[],
    emit: (body: OnnxGraph, iteration: string, carried: string[]) => { carried: string[]; stacked: TypedValue[] },
  ): string[] {
    const body = new OnnxGraph(this.fresh('loop_body'), null, this);
    const iteration = body.input(this.fresh('iter'), DType.int64, []);
    const condition = body.input(this.fresh('cond'), DType.bool, []);
    const state = carried.map((c) => body.input(this.fresh('carried'), c.type, null));
    const next = emit(body, body.op('Unsqueeze', [iteration, this.constInt64([0])]), state);
    if (next.carried.length !== carried.length) throw new Error(`loop body returns ${next.carried.length} carried values, expected ${carried.length}`);
    body.output(condition, this.fresh('cond_out'), DType.bool, []);
    next.carried.forEach((value, i) => body.output(value, this.fresh('carried_out'), carried[i]!.type, null));
    for (const s of next.stacked) body.output(s.value, this.fresh('stacked_out'), s.type, null);
    const graph: OP.onnx.IGraphProto = { name: body.name, node: body.nodes, input: body.inputs, output: body.outputs };
    return this.node('Loop', [trips, '', ...carried.map((c) => c.value)], { body: { graph } }, carried.length + next.stacked.length);
  }

  /** Adds a weight (dims as stored), converted to float16 when asked. */
  weight(name: string, data: Float32Array, dims: number[], type: FloatType = DType.float): string {
    const stored = type === DType.float16 ? toHalfBits(data) : data;
    return this.addInitializer(name, type, new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength), dims);
  }

  /** Adds an int64 tensor (index tables). */
  weightInt64(name: string, data: BigInt64Array, dims: number[]): string {
    return this.addInitializer(name, DType.int64, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dims);
  }

  /** A float constant (scalar when dims is []); identical constants are shared. */
  constFloat(values: number[] | Float32Array, dims: number[] = [], type: FloatType = DType.float): string {
    const data = Float32Array.from(values);
    return this.cached(`f${type}:${dims}:${data.join(',')}`, () => this.weight(this.fresh('cf'), data, dims, type));
  }

  constInt64(values: number[], dims: number[] = [values.length]): string {
    return this.cached(`i:${dims}:${values.join(',')}`, () => {
      const data = BigInt64Array.from(values.map((v) => BigInt(v)));
      return this.addInitializer(this.fresh('ci'), DType.int64, new Uint8Array(data.buffer), dims);
    });
  }

  /** Emits one node; returns its output names (fresh unless given). */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs?: string[] | number, domain = ''): string[] {
    const outNames =
      typeof outputs === 'object' ? outputs : Array.from({ length: outputs ?? 1 }, () => this.fresh(op.toLowerCase()));
    this.nodes.push({
      opType: op,
      domain,
      name: this.fresh(`n_${op}`),
      input: inputs,
      output: outNames,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outNames;
  }

  /** Single-output node. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(op, inputs, attrs)[0]!;
  }

  /** Serialises the model; closes the external data file. */
  finish(docString: string): Uint8Array {
    if (this.dataFd !== null) {
      closeSync(this.dataFd);
      this.dataFd = null;
    }
    const model: OP.onnx.IModelProto = {
      irVersion: 8,
      producerName: 'safesift',
      docString,
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
    };
    return onnx.ModelProto.encode(model).finish();
  }

  private cached(key: string, make: () => string): string {
    if (this.root !== this) return this.root.cached(key, make);
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const made = make();
    this.constCache.set(key, made);
    return made;
  }

  private addInitializer(name: string, dataType: DType, bytes: Uint8Array, dims: number[]): string {
    if (this.root !== this) return this.root.addInitializer(name, dataType, bytes, dims);
    const tensor: OP.onnx.ITensorProto = { name, dataType, dims };
    if (this.dataPath && bytes.byteLength >= EXTERNAL_THRESHOLD_BYTES) {
      if (this.dataFd === null) this.dataFd = openSync(this.dataPath, 'w');
      // 64-byte alignment lets onnxruntime map the weights directly.
      const padding = (64 - (this.dataOffset % 64)) % 64;
      if (padding) writeSync(this.dataFd, new Uint8Array(padding));
      this.dataOffset += padding;
      writeSync(this.dataFd, bytes);
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tensor.externalData = [
        { key: 'location', value: basename(this.dataPath) },
        { key: 'offset', value: String(this.dataOffset) },
        { key: 'length', value: String(bytes.byteLength) },
      ];
      this.dataOffset += bytes.byteLength;
    } else {
      tensor.rawData = bytes.slice();
    }
    this.initializers.push(tensor);
    return name;
  }
}

function valueInfo(name: string, elemType: DType, dims: Dim[] | null): OP.onnx.IValueInfoProto {
  const shape = dims === null ? {} : { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } };
  return { name, type: { tensorType: { elemType, ...shape } } };
}

function attribute(name: string, value: AttrValue): OP.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') return { name, type: T.INT, i: value };
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  if ('graph' in value) return { name, type: T.GRAPH, g: value.graph };
  return { name, type: T.TENSOR, t: value };
}
