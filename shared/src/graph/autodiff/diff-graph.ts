import { DType, type FloatType, type OnnxGraph } from '../onnx-graph.ts';
import { attentionBackward, attentionForward, planAttention, type AttentionPlan } from './attention.ts';
import type { AttentionMode } from './attention-mode.ts';
import { planStoredAttention, storedAttentionBackward, storedAttentionForward, type StoredAttentionPlan } from './attention-stored.ts';
import { BATCH, broadcastShapes, matmulShape, normalizeAxis, reducedAxes, type Dim, type Shape } from './shapes.ts';

/** A value of the forward graph with its static shape and whether a wanted gradient flows through it. */
export interface Value {
  readonly name: string;
  readonly shape: Shape;
  readonly grad: boolean;
  /** Element type (DType code): float, float16 or int64. */
  readonly dtype: DType;
}

/**
 * How one use of a parameter contributes to its per-example gradient (never summed over the batch):
 * - outer: Σ_n rows_n cols_nᵀ with rows [B,N,R] and cols [B,N,C] (linear layers, the LM head);
 * - rowIndex: Σ_n e_{ids_n} cols_nᵀ with ids [B,N] (embedding lookups);
 * - vector: the gradient itself, [B,C] (norm weights, biases).
 */
export type Contribution =
  | { kind: 'outer'; rows: string; cols: string }
  | { kind: 'rowIndex'; ids: string; cols: string }
  | { kind: 'vector'; value: string };

type Vjp = (dy: string) => void;

interface TapeEntry {
  out: Value;
  vjp: Vjp;
}

/**
 * Reverse-mode automatic differentiation over ONNX: every differentiable op records its
 * vector-Jacobian product as a closure that emits ONNX nodes, so the backward graph is generated
 * from the forward definition. Activations keep their batch axis, and parameters are consumed only
 * by parameter ops whose VJPs yield per-example contributions, so examples never mix.
 */
export class DiffGraph {
  private readonly tape: TapeEntry[] = [];
  private readonly cotangents = new Map<string, string>();
  private readonly contributions = new Map<string, Contribution[]>();
  private readonly attentionPlans = new Map<string, AttentionPlan>();
  private readonly storedAttentionPlans = new Map<string, StoredAttentionPlan>();

  constructor(
    readonly g: OnnxGraph,
    /** Parameters (HF tensor names) whose per-example gradients are wanted. */
    private readonly wanted: (key: string) => boolean,
  ) {}

  /** A value that no gradient flows into (inputs, masks, tables). */
  constant(name: string, shape: Shape, dtype: DType = DType.float): Value {
    return { name, shape, grad: false, dtype };
  }

  // ---- parameter ops -------------------------------------------------------------------------

  /** y = x Wᵀ with W [rows=out, cols=in] stored as in the checkpoint. */
  linear(x: Value, key: string, weight: string, rows: number, cols: number): Value {
    const flat = this.g.op('Reshape', [x.name, this.g.constInt64([-1, cols])]);
    const outShape = [...x.shape.slice(0, -1), rows];
    const y2 = this.g.op('Gemm', [flat, weight], { transB: 1 });
    const y = this.g.op('Reshape', [y2, this.leadingShapeWith(x, rows)]);
    const wanted = this.wanted(key);
    return this.record(y, outShape, x.dtype, x.grad || wanted, (dy) => {
      if (x.grad) this.accumulate(x, this.g.op('MatMul', [dy, weight]));
      if (wanted) {
        this.contribute(key, {
          kind: 'outer',
          rows: this.g.op('Reshape', [dy, this.g.constInt64([0, -1, rows])]),
          cols: this.g.op('Reshape', [x.name, this.g.constInt64([0, -1, cols])]),
        });
      }
    });
  }

  /** Rows of an embedding table [rows, cols] at `ids` [B,T]. */
  embedding(key: string, table: string, cols: number, ids: Value, dtype: FloatType): Value {
    const y = this.g.op('Gather', [table, ids.name]);
    const wanted = this.wanted(key);
    return this.record(y, [...ids.shape, cols], dtype, wanted, (dy) => {
      if (wanted) this.contribute(key, { kind: 'rowIndex', ids: ids.name, cols: dy });
    });
  }

  /** x * w with a parameter vector w [C] on the last axis (RMSNorm weights). */
  scaleByParam(x: Value, key: string, weight: string): Value {
    const y = this.g.op('Mul', [x.name, weight]);
    const wanted = this.wanted(key);
    return this.record(y, x.shape, x.dtype, x.grad || wanted, (dy) => {
      if (x.grad) this.accumulate(x, this.g.op('Mul', [dy, weight]));
      if (wanted) this.contribute(key, { kind: 'vector', value: this.sumToBatchAndLast(this.g.op('Mul', [dy, x.name]), x.shape.length) });
    });
  }

  /** x + b with a parameter vector b [C] on the last axis (biases). */
  addParam(x: Value, key: string, bias: string): Value {
    const y = this.g.op('Add', [x.name, bias]);
    const wanted = this.wanted(key);
    return this.record(y, x.shape, x.dtype, x.grad || wanted, (dy) => {
      if (x.grad) this.accumulate(x, dy);
      if (wanted) this.contribute(key, { kind: 'vector', value: this.sumToBatchAndLast(dy, x.shape.length) });
    });
  }

  // ---- elementwise ops -----------------------------------------------------------------------

  add(a: Value, b: Value): Value {
    return this.binary('Add', a, b, (dy) => [dy, dy]);
  }

  mul(a: Value, b: Value): Value {
    return this.binary('Mul', a, b, (dy) => [this.g.op('Mul', [dy, b.name]), this.g.op('Mul', [dy, a.name])]);
  }

  sqrt(x: Value): Value {
    return this.unary('Sqrt', x, (dy, y) => this.g.op('Div', [this.g.op('Mul', [dy, this.g.constFloat([0.5], [], floatType(x))]), y]));
  }

  reciprocal(x: Value): Value {
    return this.unary('Reciprocal', x, (dy, y) => this.g.op('Neg', [this.g.op('Mul', [dy, this.g.op('Mul', [y, y])])]));
  }

  sigmoid(x: Value): Value {
    return this.unary('Sigmoid', x, (dy, y) =>
      this.g.op('Mul', [this.g.op('Mul', [dy, y]), this.g.op('Sub', [this.g.constFloat([1], [], floatType(x)), y])]),
    );
  }

  // ---- structural ops ------------------------------------------------------------------------

  matmul(a: Value, b: Value): Value {
    const y = this.g.op('MatMul', [a.name, b.name]);
    const shape = matmulShape(a.shape, b.shape);
    const batch = shape.slice(0, -2);
    return this.record(y, shape, sameType(a, b), a.grad || b.grad, (dy) => {
      // dA = dY Bᵀ and dB = Aᵀ dY, summed over the batch axes each operand was broadcast along.
      if (a.grad) this.accumulate(a, this.unbroadcast(this.g.op('MatMul', [dy, this.swapLast(b)]), [...batch, ...a.shape.slice(-2)], a.shape));
      if (b.grad) this.accumulate(b, this.unbroadcast(this.g.op('MatMul', [this.swapLast(a), dy]), [...batch, ...b.shape.slice(-2)], b.shape));
    });
  }

  /** Mean over static trailing axes. */
  reduceMean(x: Value, axes: number[]): Value {
    const norm = axes.map((a) => normalizeAxis(a, x.shape.length));
    const count = norm.reduce((n, a) => {
      const d = x.shape[a];
      if (typeof d !== 'number') throw new Error(`reduceMean over symbolic axis ${a}`);
      return n * d;
    }, 1);
    const y = this.g.op('ReduceMean', [x.name, this.g.constInt64(norm)], { keepdims: 1 });
    const shape = x.shape.map((d, i) => (norm.includes(i) ? 1 : d));
    return this.record(y, shape, x.dtype, x.grad, (dy) => {
      const scaled = this.g.op('Mul', [dy, this.g.constFloat([1 / count], [], floatType(x))]);
      this.accumulate(x, this.g.op('Expand', [scaled, this.g.op('Shape', [x.name])]));
    });
  }

  reshape(x: Value, shape: Dim[]): Value {
    let inferred = 0;
    const spec = shape.map((d, i) => {
      if (typeof d === 'number') return d;
      if (x.shape[i] === d) return 0;
      inferred++;
      return -1;
    });
    if (inferred > 1) throw new Error(`reshape to [${shape.join(',')}]: more than one dimension to infer`);
    const y = this.g.op('Reshape', [x.name, this.g.constInt64(spec)]);
    return this.record(y, shape, x.dtype, x.grad, (dy) => this.accumulate(x, this.g.op('Reshape', [dy, this.g.op('Shape', [x.name])])));
  }

  transpose(x: Value, perm: number[]): Value {
    const y = this.g.op('Transpose', [x.name], { perm });
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return this.record(y, perm.map((p) => x.shape[p]!), x.dtype, x.grad, (dy) => this.accumulate(x, this.g.op('Transpose', [dy], { perm: inverse })));
  }

  /** x[..., start : len - dropEnd, ...] along `axis`; the VJP pads the cut positions with zeros. */
  slice(x: Value, axis: number, start: number, dropEnd: number, newDim: Dim): Value {
    const len = this.g.op('Gather', [this.g.op('Shape', [x.name]), this.g.constInt64([axis])]);
    const end = this.g.op('Sub', [len, this.g.constInt64([dropEnd])]);
    const y = this.g.op('Slice', [x.name, this.g.constInt64([start]), end, this.g.constInt64([axis])]);
    const shape = x.shape.map((d, i) => (i === axis ? newDim : d));
    return this.record(y, shape, x.dtype, x.grad, (dy) => {
      const pads = new Array<number>(2 * x.shape.length).fill(0);
      pads[axis] = start;
      pads[x.shape.length + axis] = dropEnd;
      this.accumulate(x, this.g.op('Pad', [dy, this.g.constInt64(pads)]));
    });
  }

  /**
   * x[b, positions[b, n], :] for x [B,T,C] and `positions` [B,N] int64, distinct within each row
   * (so the VJP can scatter back without collisions): [B,N,C]. Positions not gathered get zero gradient.
   */
  gatherPositions(x: Value, positions: string, newDim: Dim): Value {
    const g = this.g;
    if (x.shape.length !== 3) throw new Error(`gatherPositions needs [B,T,C], got rank ${x.shape.length}`);
    const indexShape = g.op('Concat', [g.op('Shape', [positions]), g.op('Slice', [g.op('Shape', [x.name]), g.constInt64([2]), g.constInt64([3])])], { axis: 0 });
    const index = g.op('Expand', [g.op('Unsqueeze', [positions, g.constInt64([-1])]), indexShape]);
    const y = g.op('GatherElements', [x.name, index], { axis: 1 });
    const shape = [x.shape[0]!, newDim, ...x.shape.slice(2)];
    return this.record(y, shape, x.dtype, x.grad, (dy) => {
      const zeros = g.op('ConstantOfShape', [g.op('Shape', [x.name])], { value: { dataType: floatType(x), dims: [1], rawData: new Uint8Array(floatType(x) === DType.float16 ? 2 : 4) } });
      this.accumulate(x, g.op('ScatterElements', [zeros, index, dy], { axis: 1 }));
    });
  }

  /**
   * Σ_n w_n · CE(logits_n, targets_n) per example: logits [B,N,V], targets [B,N] int64, weights [B,N].
   * One op with its own VJP, w (softmax − onehot), as deep-learning frameworks do for stability and speed.
   */
  crossEntropy(logits: Value, targets: Value, weights: Value): Value {
    if (logits.dtype !== DType.float || weights.dtype !== DType.float) throw new Error('crossEntropy computes in float32: cast the logits first');
    const g = this.g;
    const last = g.constInt64([-1]);
    const target = g.op('Unsqueeze', [targets.name, last]);
    const weight = g.op('Unsqueeze', [weights.name, last]);
    const max = g.op('ReduceMax', [logits.name, last], { keepdims: 1 });
    const exp = g.op('Exp', [g.op('Sub', [logits.name, max])]);
    const sumExp = g.op('ReduceSum', [exp, last], { keepdims: 1 });
    const picked = g.op('GatherElements', [logits.name, target], { axis: -1 });
    const ce = g.op('Sub', [g.op('Add', [max, g.op('Log', [sumExp])]), picked]);
    const y = g.op('ReduceSum', [g.op('Mul', [ce, weight]), g.constInt64([1, 2])], { keepdims: 0 });
    return this.record(y, [logits.shape[0]!], DType.float, logits.grad, (dy) => {
      const scale = g.op('Mul', [weight, g.op('Unsqueeze', [dy, g.constInt64([1, 2])])]); // [B,N,1]
      const probs = g.op('Mul', [g.op('Div', [exp, sumExp]), scale]);
      this.accumulate(logits, g.op('ScatterElements', [probs, target, g.op('Neg', [scale])], { axis: -1, reduction: 'add' }));
    });
  }

  /**
   * Causal grouped-query attention, softmax(q kᵀ + mask) v, as one op with its own VJP (as
   * frameworks do for scaled dot-product attention). q [B,KV,rep,T,hd] (pre-scaled), k and v
   * [B,KV,T,hd]; `mask` [B,T] int64 (1 for real tokens): padded keys and keys after the query get
   * zero weight. `mode` 'stored' keeps the probabilities for the backward (attention-stored.ts:
   * T² per layer, fastest when short); 'recomputed' recomputes them block by block (attention.ts:
   * memory linear in T).
   */
  attention(q: Value, k: Value, v: Value, mask: Value, mode: AttentionMode): Value {
    sameType(k, v);
    const dtype = sameType(q, k);
    const [rep, hd] = [q.shape[2], q.shape[4]];
    if (typeof rep !== 'number' || typeof hd !== 'number') throw new Error('attention: group size and head_dim must be static');
    if (mask.dtype !== DType.int64) throw new Error('attention: the mask must be int64');
    const valueType = floatType(v);
    if (mode === 'stored') return this.storedAttention(q, k, v, mask, hd, valueType);
    const planKey = `${mask.name}:${rep}:${valueType}`;
    let plan = this.attentionPlans.get(planKey);
    if (!plan) {
      plan = planAttention(this.g, mask.name, rep, valueType);
      this.attentionPlans.set(planKey, plan);
    }
    const forward = attentionForward(this.g, plan, q.name, k.name, v.name, rep, hd, valueType);
    return this.record(forward.context, q.shape, dtype, q.grad || k.grad || v.grad, (dy) => {
      const grads = attentionBackward(this.g, plan, forward, dy, valueType);
      if (q.grad) this.accumulate(q, grads.dq);
      if (k.grad) this.accumulate(k, grads.dk);
      if (v.grad) this.accumulate(v, grads.dv);
    });
  }

  private storedAttention(q: Value, k: Value, v: Value, mask: Value, hd: number, valueType: FloatType): Value {
    const planKey = `${mask.name}:${valueType}`;
    let plan = this.storedAttentionPlans.get(planKey);
    if (!plan) {
      plan = planStoredAttention(this.g, mask.name, valueType);
      this.storedAttentionPlans.set(planKey, plan);
    }
    const forward = storedAttentionForward(this.g, plan, q.name, k.name, v.name, hd);
    return this.record(forward.context, q.shape, q.dtype, q.grad || k.grad || v.grad, (dy) => {
      const grads = storedAttentionBackward(this.g, plan, forward, dy, valueType);
      if (q.grad) this.accumulate(q, grads.dq);
      if (k.grad) this.accumulate(k, grads.dk);
      if (v.grad) this.accumulate(v, grads.dv);
    });
  }

  /** Changes the float type (mixed precision); the gradient is cast back. */
  cast(x: Value, to: FloatType): Value {
    if (x.dtype === to) return x;
    const y = this.g.op('Cast', [x.name], { to });
    return this.record(y, x.shape, to, x.grad, (dy) => this.accumulate(x, this.g.op('Cast', [dy], { to: x.dtype })));
  }

  // ---- backward ------------------------------------------------------------------------------

  /** Back-propagates from a per-example loss [B] and returns each wanted parameter's contributions. */
  backward(loss: Value): Map<string, Contribution[]> {
    if (loss.shape.length !== 1 || loss.shape[0] !== BATCH) throw new Error('backward needs a per-example loss of shape [batch]');
    if (!loss.grad) return this.contributions;
    const ones = this.g.op('ConstantOfShape', [this.g.op('Shape', [loss.name])], { value: { dataType: loss.dtype, dims: [1], rawData: this.oneBytes(loss) } });
    this.cotangents.set(loss.name, ones);
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const { out, vjp } = this.tape[i]!;
      const dy = this.cotangents.get(out.name);
      if (dy !== undefined) vjp(dy);
    }
    return this.contributions;
  }

  // ---- helpers -------------------------------------------------------------------------------

  private record(name: string, shape: Shape, dtype: DType, grad: boolean, vjp: Vjp): Value {
    const value = { name, shape, grad, dtype };
    if (grad) this.tape.push({ out: value, vjp });
    return value;
  }

  private unary(op: string, x: Value, vjp: (dy: string, y: string) => string, attrs: Record<string, number> = {}): Value {
    const y = this.g.op(op, [x.name], attrs);
    return this.record(y, x.shape, x.dtype, x.grad, (dy) => this.accumulate(x, vjp(dy, y)));
  }

  private binary(op: string, a: Value, b: Value, vjp: (dy: string, y: string) => [string, string]): Value {
    const y = this.g.op(op, [a.name, b.name]);
    const shape = broadcastShapes(a.shape, b.shape);
    return this.record(y, shape, sameType(a, b), a.grad || b.grad, (dy) => {
      const [da, db] = vjp(dy, y);
      if (a.grad) this.accumulate(a, this.unbroadcast(da, shape, a.shape));
      if (b.grad) this.accumulate(b, this.unbroadcast(db, shape, b.shape));
    });
  }

  /** The value 1 as raw bytes of the loss's type (ConstantOfShape's attribute). */
  private oneBytes(loss: Value): Uint8Array {
    return loss.dtype === DType.float16 ? new Uint8Array(Uint16Array.of(0x3c00).buffer) : new Uint8Array(Float32Array.of(1).buffer);
  }

  private accumulate(x: Value, grad: string): void {
    const previous = this.cotangents.get(x.name);
    this.cotangents.set(x.name, previous === undefined ? grad : this.g.op('Add', [previous, grad]));
  }

  private contribute(key: string, contribution: Contribution): void {
    const list = this.contributions.get(key) ?? [];
    list.push(contribution);
    this.contributions.set(key, list);
  }

  /** Sums a gradient of shape `from` down to the shape `to` it was broadcast from. */
  private unbroadcast(grad: string, from: Shape, to: Shape): string {
    const { keepdims, leading } = reducedAxes(from, to);
    if (keepdims.length === 0) return grad;
    let reduced = this.g.op('ReduceSum', [grad, this.g.constInt64(keepdims)], { keepdims: 1 });
    if (leading > 0) reduced = this.g.op('Squeeze', [reduced, this.g.constInt64(Array.from({ length: leading }, (_, i) => i))]);
    return reduced;
  }

  /** [B, ..., C] summed over every axis but the first and last: [B, C]. */
  private sumToBatchAndLast(grad: string, rank: number): string {
    if (rank <= 2) return grad;
    return this.g.op('ReduceSum', [grad, this.g.constInt64(Array.from({ length: rank - 2 }, (_, i) => i + 1))], { keepdims: 0 });
  }

  private swapLast(x: Value): string {
    const rank = x.shape.length;
    const perm = Array.from({ length: rank }, (_, i) => i);
    perm[rank - 1] = rank - 2;
    perm[rank - 2] = rank - 1;
    return this.g.op('Transpose', [x.name], { perm });
  }

  /** Shape tensor: x's leading dimensions followed by `last`. */
  private leadingShapeWith(x: Value, last: number): string {
    const leading = this.g.op('Slice', [this.g.op('Shape', [x.name]), this.g.constInt64([0]), this.g.constInt64([-1])]);
    return this.g.op('Concat', [leading, this.g.constInt64([last])], { axis: 0 });
  }
}

function floatType(x: Value): FloatType {
  if (x.dtype !== DType.float && x.dtype !== DType.float16) throw new Error(`expected a float value, got type ${x.dtype}`);
  return x.dtype;
}

function sameType(a: Value, b: Value): DType {
  if (a.dtype !== b.dtype) throw new Error(`operand types differ: ${a.dtype} vs ${b.dtype} (${a.name}, ${b.name})`);
  return a.dtype;
}
