import { AxnnError } from "../util/errors.js";
import { uniformRandom } from "../util/random.js";

/** A dense float32 tensor in row-major (C) order; activations are NCHW. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** A tensor of the given shape, zero-filled or holding `data` (copied from a plain array, taken as is from a Float32Array). */
export function makeTensor(shape: readonly number[], data?: Float32Array | readonly number[]): Tensor {
  const n = sizeOf(shape);
  const d = data === undefined ? new Float32Array(n) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (d.length !== n) throw new Error(`tensor data has ${d.length} elements, shape [${shape.join(",")}] needs ${n}`);
  return { shape: [...shape], data: d };
}

/** Prints a shape, with `?` for a dimension left open (null). */
export function shapeToString(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? "?" : String(d))).join(",")}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Deterministic pseudo-random numbers (the project's seeded generator), so that weight initialisation and tests repeat. */
export class Rng {
  private readonly next: () => number;

  constructor(seed = 1) {
    this.next = uniformRandom(seed);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.next();
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A tensor with elements uniform in [lo, hi). */
  uniformTensor(shape: readonly number[], lo = -1, hi = 1): Tensor {
    const t = makeTensor(shape);
    for (let i = 0; i < t.data.length; i++) t.data[i] = lo + (hi - lo) * this.uniform();
    return t;
  }
}

/** Checks that a value is a usable Tensor (shape of non-negative integers, data of the right length). */
export function checkTensor(t: unknown, what: string): Tensor {
  const o = t as Tensor;
  if (!o || !Array.isArray(o.shape) || !(o.data instanceof Float32Array)) {
    throw new AxnnError("expected a tensor {shape: number[], data: Float32Array}", { field: what });
  }
  if (!o.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new AxnnError(`bad shape ${JSON.stringify(o.shape)}`, { field: what });
  if (sizeOf(o.shape) !== o.data.length) {
    throw new AxnnError(`shape ${shapeToString(o.shape)} needs ${sizeOf(o.shape)} elements, data has ${o.data.length}`, { field: what });
  }
  return o;
}
