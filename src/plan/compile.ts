// The compiler of execution plans: which ops fuse into which convolution, where values stay 8-bit
// codes, and which buffers values share. Docs: docs/kernels.md ("The execution plan").
import { AxnnError } from "../util/errors.js";
import { consumersOf, isApproximable, type ApproximableNode, type ConvNode, type Model, type Node } from "../nn/graph.js";
import { foldBatchNorm } from "../nn/passes.js";
import { inferShapes, windowGeometry } from "../nn/shapes.js";
import { sameShape, sizeOf } from "../nn/tensor.js";
import { native, type IsaLevel } from "../kernels/addon.js";
import { convGeometry, geometryArray } from "../kernels/geometry.js";
import { prepareLut } from "../kernels/native-backend.js";
import { backend } from "../kernels/registry.js";
import { checkMultiplierFits, EXACT_INT8, FLOAT, QuantizedModel, type LayerArithmetic } from "../quant/model.js";
import type { QuantParams } from "../quant/params.js";
import { checkAccumulatorFits } from "../quant/accumulator.js";
import { exactFactors, separableFactors } from "../multipliers/separable.js";
import { ExecutionPlan, type ArithmeticSpec, type Epilogue, type PlanAddon, type PlanOptions, type Step } from "./plan.js";

function codesKey(value: string, p: QuantParams): string {
  return `${value}#codes(${p.scale},${p.zeroPoint},${p.qmin},${p.qmax})`;
}

function sameParams(a: QuantParams, b: QuantParams): boolean {
  return a.scale === b.scale && a.zeroPoint === b.zeroPoint && a.qmin === b.qmin && a.qmax === b.qmax;
}

const packParams = (p: QuantParams): Float64Array => Float64Array.of(p.scale, p.zeroPoint, p.qmin, p.qmax);

const isConv = (n: Node): n is ConvNode => n.op === "Conv2D" || n.op === "DepthwiseConv2D";

/** What a convolution's epilogue absorbs: a following same-shape Add (its other input is the residual) and ReLU / ReLU6. */
interface Fusion {
  residual: string | null;
  hi: number;
  /** The value the fused step produces (the last absorbed node's output, else the conv's). */
  result: string;
  /** The node whose place in the order the fused step takes (the last absorbed node). */
  at: string;
}

/**
 * Compiles a plan for one arithmetic assignment (as QuantizedModel.run takes it) and one set of
 * input shapes (batch included). A float Model (not quantized) has its BatchNorms folded and runs
 * every layer in float.
 */
export function compilePlan(
  source: QuantizedModel | Model, arithmetic: ArithmeticSpec, inputShapes: Readonly<Record<string, readonly number[]>>, options: PlanOptions = {},
): ExecutionPlan {
  const quantized = source instanceof QuantizedModel ? source : null;
  const model = quantized ? quantized.model : foldBatchNorm(source as Model);
  const pick: (layer: string) => LayerArithmetic = !quantized ? () => FLOAT
    : typeof arithmetic === "function" ? arithmetic
    : arithmetic instanceof Map ? (n: string) => arithmetic.get(n) ?? EXACT_INT8 : () => arithmetic;
  const arith = new Map<string, LayerArithmetic>();
  for (const n of model.nodes.filter(isApproximable)) {
    const a = pick(n.name);
    if (a.kind !== "float" && !quantized) throw new AxnnError(`layer ${n.name}: integer arithmetic needs a quantized model`, { field: "arithmetic" });
    if (a.kind === "lut") checkMultiplierFits(a.multiplier, quantized!.config.scheme, `layer ${n.name}`);
    // The refusals of QuantizedModel.runOptions: a plan never computes what the reference refuses.
    if (a.kind !== "float") checkAccumulatorFits(n, a.kind === "lut" ? a : { ...a, signed: quantized!.config.scheme === "sym" });
    arith.set(n.name, a);
  }
  const shapes = inferShapes(model, inputShapes);
  // The plan runs on the native kernels at the level of the backend active now; on any other
  // backend (the TypeScript reference, a GPU) the plan is the reference engine itself.
  const active = backend().name;
  const addon = active.startsWith("native-") ? (native() as PlanAddon | null) : null;
  if (!addon) {
    const run = quantized ? (inputs: Parameters<ExecutionPlan["run"]>[0]) => quantized.run(inputs, (n) => arith.get(n)!) : undefined;
    return ExecutionPlan.reference(model, inputShapes, run);
  }
  const allFloat = [...arith.values()].every((a) => a.kind === "float");
  const direct = options.floatConv === "direct" || (options.floatConv !== "gemm" && !allFloat);

  // ---- fusion ----
  const readers = consumersOf(model);
  const outputs = new Set(model.outputs);
  const soleReader = (v: string): Node | undefined => {
    const r = readers.get(v) ?? [];
    return !outputs.has(v) && r.length === 1 ? r[0] : undefined;
  };
  const fusions = new Map<string, Fusion>();
  const absorbedBy = new Map<string, string>();
  for (const n of model.nodes) {
    if (!isConv(n) || shapes.get(n.outputs[0]!)!.length !== 4) continue;
    const f: Fusion = { residual: null, hi: -1, result: n.outputs[0]!, at: n.name };
    let r = soleReader(f.result);
    // An Add both of whose inputs are convolutions (a projection shortcut) is absorbed by the first only.
    if (r?.op === "Add" && !absorbedBy.has(r.name) && r.inputs.length === 2 && r.inputs[0] !== r.inputs[1] && sameShape(shapes.get(r.inputs[0]!)!, shapes.get(r.inputs[1]!)!)) {
      f.residual = r.inputs[0] === f.result ? r.inputs[1]! : r.inputs[0]!;
      absorbedBy.set(r.name, n.name);
      f.result = r.outputs[0]!;
      f.at = r.name;
      r = soleReader(f.result);
    }
    if (r && (r.op === "Relu" || r.op === "Relu6")) {
      f.hi = r.op === "Relu6" ? 6 : Infinity;
      absorbedBy.set(r.name, n.name);
      f.result = r.outputs[0]!;
      f.at = r.name;
    }
    fusions.set(n.name, f);
  }
  // A fused step runs where its last absorbed node stood (its residual is computed by then).
  const index = new Map(model.nodes.map((n, i) => [n.name, i]));
  const order = model.nodes.filter((n) => !absorbedBy.has(n.name))
    .map((n) => ({ n, key: index.get(fusions.get(n.name)?.at ?? n.name)! }))
    .sort((a, b) => a.key - b.key).map((e) => e.n);

  // ---- who reads each value, and in which form ----
  const producedBy = new Map<string, Node>();
  for (const n of order) {
    const f = fusions.get(n.name);
    if (f) producedBy.set(f.result, n);
    else for (const o of n.outputs) producedBy.set(o, n);
  }
  const intInput = (n: Node): QuantParams | undefined => (isApproximable(n) && arith.get(n.name)!.kind !== "float" ? quantized!.layers.get(n.name)!.input : undefined);
  const needFloat = new Set<string>(model.outputs);
  const codeNeeds = new Map<string, QuantParams[]>();
  for (const n of order) {
    const f = fusions.get(n.name);
    const p = intInput(n);
    n.inputs.forEach((v, k) => {
      if (k === 0 && p) {
        const list = codeNeeds.get(v) ?? [];
        if (!list.some((q) => sameParams(q, p))) list.push(p);
        codeNeeds.set(v, list);
        if (n.op === "Dense") needFloat.add(v); // integerLayer reads the float tensor's shape
      } else if (!(k > 0 && isApproximable(n))) needFloat.add(v);
    });
    if (f?.residual) needFloat.add(f.residual);
  }

  // ---- steps ----
  const steps: Step[] = [];
  const quantizeSteps = (v: string, skip: QuantParams | null) => {
    for (const p of codeNeeds.get(v) ?? []) {
      if (skip && sameParams(skip, p)) continue;
      needFloat.add(v);
      steps.push({ kind: "quantize", name: v, input: v, output: codesKey(v, p), packed: packParams(p) });
    }
  };
  for (const vi of model.inputs) quantizeSteps(vi.name, null);
  for (const n of order) {
    const f = fusions.get(n.name);
    if (f) {
      const node = n as ConvNode;
      const a = arith.get(node.name)!;
      const xShape = shapes.get(node.inputs[0]!)!;
      const [, , kh, kw] = node.weight.shape as [number, number, number, number];
      const pads = windowGeometry(xShape[2]!, xShape[3]!, [kh, kw], node.strides, node.dilations, node.pads, node.autoPad, false).pads;
      const g = convGeometry(`layer ${node.name}`, xShape, node.weight.shape, { stride: node.strides, dilation: node.dilations, groups: node.groups, padding: pads });
      const needs = codeNeeds.get(f.result) ?? [];
      const codes = needs.length === 1 ? needs[0]! : null;
      const hasOtherReaders = (readers.get(f.result) ?? []).length > 0 || outputs.has(f.result);
      if (!codes && !hasOtherReaders) needFloat.add(f.result);
      const epilogue: Epilogue = {
        hi: f.hi, residual: f.residual, outFloat: f.result, outCodes: codes ? codesKey(f.result, codes) : null, codeParams: codes ? packParams(codes) : null,
      };
      if (a.kind === "float") {
        steps.push({ kind: "conv-float", name: node.name, input: node.inputs[0]!, weights: node.weight.data, geometry: geometryArray(g), bias: node.bias?.data ?? null, epilogue, direct });
      } else {
        const layer = quantized!.layers.get(node.name)!;
        const bits = a.kind === "lut" ? a.multiplier.weightBits : a.weightBits ?? 8;
        const w = a.kind === "lut" && a.weights ? a.weights : quantized!.weights(node.name, bits);
        const signed = w.scheme === "sym";
        const za = layer.input.zeroPoint;
        const M = g.M, K = sizeOf(node.weight.shape.slice(1));
        const channels = new Float64Array(3 * M);
        const bias = node.bias?.data;
        for (let m = 0; m < M; m++) {
          const p = w.params[m]!;
          channels[m] = signed ? 0 : -za * w.channelSums[m]! + K * za * p.zeroPoint;
          channels[M + m] = layer.input.scale * p.scale;
          channels[2 * M + m] = bias ? bias[m]! : 0;
        }
        const needSums = w.scheme === "asym" && w.params.some((p) => p.zeroPoint !== 0);
        steps.push({
          kind: "conv-int", name: node.name, input: codesKey(node.inputs[0]!, layer.input), weights: a.kind === "lut" ? w.codes : w.codes8,
          geometry: geometryArray(g), mode: a.kind === "lut" ? 0 : signed ? 1 : 2, padCode: za & 0xff,
          lut: a.kind === "lut" ? prepareLut(a.multiplier, "by-weight") : null,
          separable: a.kind === "lut" ? separableFactors(a.multiplier) : exactFactors(signed),
          channels, zw: needSums ? Int32Array.from(w.params, (p) => p.zeroPoint) : null, epilogue,
        });
      }
      // needFloat of the result is final once every reader was seen (above); the epilogue's
      // float output is dropped below when nobody reads it.
      quantizeSteps(f.result, codes);
      continue;
    }
    if (isApproximable(n)) {
      const a = arith.get(n.name)!;
      const r = soleReader(n.outputs[0]!);
      const clampMax = n.op === "Dense" && r && (r.op === "Relu" || r.op === "Relu6") ? (r.op === "Relu6" ? 6 : Infinity) : undefined;
      const p = intInput(n);
      steps.push({ kind: "layer", name: n.name, node: n as ApproximableNode, input: n.inputs[0]!, inputCodes: p ? codesKey(n.inputs[0]!, p) : null, arith: a, clampMax, output: n.outputs[0]! });
      if (clampMax !== undefined) steps.push({ kind: "alias", name: r!.name, input: n.outputs[0]!, output: r!.outputs[0]! });
      const out = clampMax !== undefined ? r!.outputs[0]! : n.outputs[0]!;
      quantizeSteps(out, null);
      if (clampMax !== undefined) absorbedBy.set(r!.name, n.name);
      continue;
    }
    if (absorbedBy.has(n.name)) continue; // a ReLU fused into a Dense layer above
    steps.push({ kind: "node", name: n.name, node: n, inputs: n.inputs, outputs: n.outputs });
    for (const o of n.outputs) quantizeSteps(o, null);
  }
  for (const s of steps) {
    if ((s.kind === "conv-int" || s.kind === "conv-float") && !needFloat.has(s.epilogue.outFloat!)) s.epilogue.outFloat = null;
  }
  return ExecutionPlan.compiled(model, inputShapes, steps.filter((s) => !(s.kind === "node" && absorbedBy.has(s.name))), shapes, addon, active.slice("native-".length) as IsaLevel, options.profile ?? false, quantized);
}
