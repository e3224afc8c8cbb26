// A compiled execution plan: a quantized (or float) model turned, once per arithmetic assignment
// and input shape, into a list of steps that run many batches. Docs: docs/kernels.md ("The
// execution plan"). The results are those of QuantizedModel.run (bit for bit; an all-float plan
// runs its convolutions as im2col + GEMM instead and matches that kernel's sums).
import { AxnnError } from "../util/errors.js";
import type { ApproximableNode, Model, Node } from "../nn/graph.js";
import { evalNode } from "../nn/ops.js";
import { runModel } from "../nn/run.js";
import { checkTensor, sizeOf, type Tensor } from "../nn/tensor.js";
import type { IsaLevel, NativeAddon } from "../kernels/addon.js";
import { nativeAt } from "../kernels/native-backend.js";
import { floatLayer, integerLayer, type LayerArithmetic, type QuantizedModel } from "../quant/model.js";

/** The plan's native entry points (native/plan_conv.cc). */
export interface PlanAddon extends NativeAddon {
  planConvInt(
    codes: Uint8Array, weights: Uint8Array, geometry: Int32Array, mode: number, padCode: number,
    rows: Int32Array, rows16: Uint16Array, planes: Uint8Array, planeCount: number, min: number,
    channels: Float64Array, zw: Int32Array | null, hi: number, residual: Float32Array | null,
    outFloat: Float32Array | null, outCodes: Uint8Array | null, codeParams: Float64Array | null,
    actFactors?: Int16Array | null, weightFactors?: Int16Array | null,
  ): IntAlgorithm;
  planConvFloat(
    x: Float32Array, w: Float32Array, geometry: Int32Array, bias: Float32Array | null, direct: boolean, hi: number, residual: Float32Array | null,
    outFloat: Float32Array | null, outCodes: Uint8Array | null, codeParams: Float64Array | null,
  ): void;
  planQuantize(x: Float32Array, params: Float64Array, codes: Uint8Array): void;
}

/**
 * How a fused integer convolution ran (native/plan_conv.h): "separable" (an int16 GEMM of the
 * table's factors), "planes" (the plane-transform LUT core) or "direct" (a core per output channel).
 */
export type IntAlgorithm = "separable" | "planes" | "direct";

/** One arithmetic for all layers, a function of the layer name, or a map (missing layers: exact int8), as QuantizedModel.run. */
export type ArithmeticSpec = LayerArithmetic | ((layer: string) => LayerArithmetic) | Map<string, LayerArithmetic>;

export interface PlanOptions {
  /**
   * Float convolutions: "gemm" (im2col + GEMM, faster; its own float32 sums) or "direct" (the
   * kernel of QuantizedModel.run, bit for bit). Default: "gemm" when every layer is float, else
   * "direct", so that the codes the integer layers see are exactly the reference's.
   */
  floatConv?: "gemm" | "direct";
  /** Record the time of every step (profile()). */
  profile?: boolean;
  /**
   * plannedRunner on the WebGPU backend: hears why a quantized model does not run wholly resident
   * on the GPU (then the rest runs on the CPU, or the model layer by layer); default: each distinct
   * note once per process on stderr.
   */
  onGpuFallback?: (why: string) => void;
}

/** Time spent per step kind and per step, from a plan compiled with profile: true. */
export interface PlanProfile {
  runs: number;
  /**
   * ms: wall time; cpuMs: the process's CPU time (every thread's) over the step; algorithm: how a
   * conv-int step ran in the last run.
   */
  steps: { name: string; kind: string; ms: number; cpuMs: number; algorithm?: IntAlgorithm }[];
}

// ---- steps ----

export interface Epilogue {
  hi: number;
  residual: string | null;
  outFloat: string | null;
  outCodes: string | null;
  codeParams: Float64Array | null;
}

export type Step =
  | { kind: "quantize"; name: string; input: string; output: string; packed: Float64Array }
  | {
    kind: "conv-int"; name: string; input: string; weights: Uint8Array; geometry: Int32Array; mode: number; padCode: number;
    lut: { rows: Int32Array; rows16: Uint16Array; planes: Uint8Array; planeCount: number; min: number } | null;
    /** The products' factors when the table is separable (src/multipliers/separable.ts). */
    separable: { activation: Int16Array; weight: Int16Array } | null;
    channels: Float64Array; zw: Int32Array | null; epilogue: Epilogue;
  }
  | { kind: "conv-float"; name: string; input: string; weights: Float32Array; geometry: Int32Array; bias: Float32Array | null; epilogue: Epilogue; direct: boolean }
  | { kind: "layer"; name: string; node: ApproximableNode; input: string; inputCodes: string | null; arith: LayerArithmetic; clampMax: number | undefined; output: string }
  | { kind: "alias"; name: string; input: string; output: string }
  | { kind: "node"; name: string; node: Node; inputs: string[]; outputs: string[] };

const EMPTY_LUT = { rows: new Int32Array(0), rows16: new Uint16Array(0), planes: new Uint8Array(0), planeCount: 1, min: 0 };

// ---- the plan ----

export class ExecutionPlan {
  private readonly current = new Map<string, Tensor>();
  private readonly times: number[];
  private readonly cpuTimes: number[];
  private readonly algorithms: (IntAlgorithm | undefined)[];
  private runs = 0;

  private constructor(
    readonly model: Model,
    readonly inputShapes: Readonly<Record<string, readonly number[]>>,
    private readonly steps: Step[],
    /** Buffer of every planned (pooled) value: float values by name, codes by codesKey. */
    private readonly floatBuffers: Map<string, Float32Array>,
    private readonly codeBuffers: Map<string, Uint8Array>,
    private readonly shapes: Map<string, number[]>,
    private readonly addon: PlanAddon,
    /** The native kernels' ISA level of the plan (the backend active when it was compiled). */
    private readonly level: IsaLevel,
    private readonly profiling: boolean,
    /** The quantized model whose Dense layers the plan runs through integerLayer (null: a float model). */
    private readonly quantized: QuantizedModel | null,
    /** Without the native kernels: the reference engine runs instead. */
    private readonly fallback: ((inputs: Record<string, Tensor>) => Record<string, Tensor>) | null,
  ) {
    this.times = steps.map(() => 0);
    this.cpuTimes = steps.map(() => 0);
    this.algorithms = steps.map(() => undefined);
  }

  /** A plan of compiled steps; the buffers of their pooled values are allocated here, once. */
  static compiled(
    model: Model, inputShapes: Readonly<Record<string, readonly number[]>>, steps: Step[], shapes: Map<string, number[]>,
    addon: PlanAddon, level: IsaLevel, profiling: boolean, quantized: QuantizedModel | null,
  ): ExecutionPlan {
    const { floats, codes } = allocateBuffers(model, steps, shapes);
    return new ExecutionPlan(model, inputShapes, steps, floats, codes, shapes, addon, level, profiling, quantized, null);
  }

  /** The plan without native kernels: `run` (the quantized model's reference run), or the float model run as it is. */
  static reference(model: Model, inputShapes: Readonly<Record<string, readonly number[]>>, run: ((inputs: Record<string, Tensor>) => Record<string, Tensor>) | undefined): ExecutionPlan {
    return new ExecutionPlan(model, inputShapes, [], new Map(), new Map(), new Map(), null as unknown as PlanAddon, "scalar", false, null, run ?? ((inputs) => runModel(model, inputs)));
  }

  /** The steps in order, as "kind name" lines (what was fused into what). */
  describe(): string[] {
    return this.steps.map((s) => {
      if (s.kind === "conv-int" || s.kind === "conv-float") {
        const e = s.epilogue;
        const parts = [e.residual ? `+ ${e.residual}` : "", e.hi >= 0 ? (e.hi === 6 ? "relu6" : "relu") : "", e.outFloat ? "float" : "", e.outCodes ? "codes" : ""].filter(Boolean);
        return `${s.kind} ${s.name} -> ${parts.join(", ")}`;
      }
      return `${s.kind} ${s.name}`;
    });
  }

  /** Runs one batch of exactly the compiled input shapes; the outputs are fresh arrays. */
  run(inputs: Record<string, Tensor>): Record<string, Tensor> {
    if (this.fallback) return this.fallback(inputs);
    for (const vi of this.model.inputs) {
      const t = checkTensor(inputs[vi.name], `input "${vi.name}"`);
      const want = this.inputShapes[vi.name]!;
      if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new AxnnError(`input "${vi.name}" has shape [${t.shape.join(", ")}], the plan was compiled for [${want.join(", ")}]`, { field: `input "${vi.name}"` });
      }
      this.current.set(vi.name, t);
    }
    for (const [k, t] of this.model.constants) this.current.set(k, t);
    nativeAt(this.addon, this.level);
    for (let i = 0; i < this.steps.length; i++) {
      if (!this.profiling) {
        this.runStep(this.steps[i]!);
        continue;
      }
      const c0 = process.cpuUsage(), t0 = performance.now();
      this.algorithms[i] = this.runStep(this.steps[i]!);
      this.times[i]! += performance.now() - t0;
      const c = process.cpuUsage(c0);
      this.cpuTimes[i]! += (c.user + c.system) / 1000;
    }
    this.runs++;
    const out: Record<string, Tensor> = {};
    for (const o of this.model.outputs) {
      const t = this.value(o);
      out[o] = { shape: [...t.shape], data: this.floatBuffers.has(o) ? t.data.slice() : t.data };
    }
    this.current.clear();
    return out;
  }

  /** Per-step times summed over the runs so far (profile: true). */
  profile(): PlanProfile {
    if (!this.profiling) throw new AxnnError("the plan was compiled without profile: true", { field: "profile" });
    return {
      runs: this.runs,
      steps: this.steps.map((s, i) => ({ name: s.name, kind: s.kind, ms: this.times[i]!, cpuMs: this.cpuTimes[i]!, ...(this.algorithms[i] ? { algorithm: this.algorithms[i] } : {}) })),
    };
  }

  private value(name: string): Tensor {
    const t = this.current.get(name);
    if (t) return t;
    const f = this.floatBuffers.get(name);
    if (!f) throw new AxnnError(`plan step reads "${name}" before it is computed`);
    return { shape: this.shapes.get(name)!, data: f };
  }

  private codes(key: string): Uint8Array {
    return this.codeBuffers.get(key)!;
  }

  private floatOut(name: string | null): Float32Array | null {
    return name === null ? null : this.floatBuffers.get(name)!;
  }

  /** Runs one step; a conv-int step returns the algorithm it ran. */
  private runStep(s: Step): IntAlgorithm | undefined {
    const a = this.addon;
    switch (s.kind) {
      case "quantize":
        a.planQuantize(this.value(s.input).data, s.packed, this.codes(s.output));
        return;
      case "conv-int": {
        const e = s.epilogue, l = s.lut ?? EMPTY_LUT;
        return a.planConvInt(this.codes(s.input), s.weights, s.geometry, s.mode, s.padCode, l.rows, l.rows16, l.planes, l.planeCount, l.min,
          s.channels, s.zw, e.hi, e.residual === null ? null : this.value(e.residual).data, this.floatOut(e.outFloat),
          e.outCodes === null ? null : this.codes(e.outCodes), e.codeParams, s.separable?.activation ?? null, s.separable?.weight ?? null);
      }
      case "conv-float": {
        const e = s.epilogue;
        const x = this.value(s.input).data;
        const residual = e.residual === null ? null : this.value(e.residual).data;
        const outCodes = e.outCodes === null ? null : this.codes(e.outCodes);
        a.planConvFloat(x, s.weights, s.geometry, s.bias, s.direct, e.hi, residual, this.floatOut(e.outFloat), outCodes, e.codeParams);
        return;
      }
      case "layer": {
        const x = this.value(s.input);
        const y = s.arith.kind === "float"
          ? floatLayer(s.node, x, s.clampMax)
          : integerLayer(this.quantized!.layers.get(s.node.name)!, this.layerWeights(s), x, s.arith, s.clampMax, s.inputCodes === null ? undefined : this.codes(s.inputCodes));
        this.current.set(s.output, y);
        return;
      }
      case "alias":
        this.current.set(s.output, this.value(s.input));
        return;
      case "node": {
        const ins = s.inputs.map((i) => this.value(i));
        const outs = evalNode(s.node, ins);
        s.outputs.forEach((o, k) => this.current.set(o, outs[k]!));
        return;
      }
    }
  }

  private layerWeights(s: Extract<Step, { kind: "layer" }>) {
    const a = s.arith;
    if (a.kind === "lut" && a.weights) return a.weights;
    return this.quantized!.weights(s.node.name, a.kind === "lut" ? a.multiplier.weightBits : a.kind === "exact" ? a.weightBits ?? 8 : 8);
  }
}

// ---- buffers ----

/** What a step reads and writes: pooled float values by name, codes by key. */
function stepBuffers(s: Step): { readFloat: string[]; readCodes: string[]; writeFloat: string[]; writeCodes: string[] } {
  switch (s.kind) {
    case "quantize": return { readFloat: [s.input], readCodes: [], writeFloat: [], writeCodes: [s.output] };
    case "conv-int":
    case "conv-float": {
      const e = s.epilogue;
      return {
        readFloat: [...(s.kind === "conv-float" ? [s.input] : []), ...(e.residual ? [e.residual] : [])],
        readCodes: s.kind === "conv-int" ? [s.input] : [],
        writeFloat: e.outFloat ? [e.outFloat] : [], writeCodes: e.outCodes ? [e.outCodes] : [],
      };
    }
    case "layer": return { readFloat: [s.input], readCodes: s.inputCodes ? [s.inputCodes] : [], writeFloat: [], writeCodes: [] };
    case "alias": return { readFloat: [s.input], readCodes: [], writeFloat: [], writeCodes: [] };
    case "node": return { readFloat: s.inputs, readCodes: [], writeFloat: [], writeCodes: [] };
  }
}

/**
 * One array per pooled value, shared between values whose lifetimes (from the step that writes
 * to the last step that reads) do not overlap. Values passed on by other steps (a Flatten or an
 * alias may return its input's array) live as long as what those steps produce; model outputs
 * live to the end.
 */
function allocateBuffers(model: Model, steps: Step[], shapes: Map<string, number[]>): { floats: Map<string, Float32Array>; codes: Map<string, Uint8Array> } {
  const io = steps.map(stepBuffers);
  const last = new Map<string, number>();
  for (const o of model.outputs) last.set(`f:${o}`, steps.length);
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i]!, b = io[i]!;
    const passOn = s.kind === "node" ? Math.max(i, ...s.outputs.map((o) => last.get(`f:${o}`) ?? i)) : s.kind === "alias" ? Math.max(i, last.get(`f:${s.output}`) ?? i) : i;
    for (const v of b.readFloat) last.set(`f:${v}`, Math.max(last.get(`f:${v}`) ?? 0, passOn));
    for (const v of b.readCodes) last.set(`c:${v}`, Math.max(last.get(`c:${v}`) ?? 0, i));
  }
  const floats = new Map<string, Float32Array>(), codes = new Map<string, Uint8Array>();
  const free = new Map<string, (Float32Array | Uint8Array)[]>();
  const releaseAt = new Map<number, { key: string; array: Float32Array | Uint8Array }[]>();
  const take = (kind: "f" | "c", key: string, length: number): Float32Array | Uint8Array => {
    const pool = free.get(`${kind}${length}`);
    const array = pool?.pop() ?? (kind === "f" ? new Float32Array(length) : new Uint8Array(length));
    const end = last.get(`${kind}:${key}`) ?? -1;
    const list = releaseAt.get(end) ?? [];
    list.push({ key: `${kind}${length}`, array });
    releaseAt.set(end, list);
    return array;
  };
  const valueOf = (key: string) => key.split("#codes(")[0]!;
  for (let i = 0; i < steps.length; i++) {
    const b = io[i]!;
    for (const v of b.writeFloat) floats.set(v, take("f", v, sizeOf(shapes.get(v)!)) as Float32Array);
    for (const k of b.writeCodes) codes.set(k, take("c", k, sizeOf(shapes.get(valueOf(k))!)) as Uint8Array);
    // Arrays whose last reader is step i (or that nobody reads) return to the pool after it.
    for (const end of [i, -1]) {
      for (const { key, array } of releaseAt.get(end) ?? []) {
        const pool = free.get(key) ?? [];
        pool.push(array);
        free.set(key, pool);
      }
      releaseAt.delete(end);
    }
  }
  return { floats, codes };
}
