import { AxnnError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import type { Model, Node } from "../nn/graph.js";
import { concreteInputShapes, inferShapes } from "../nn/shapes.js";
import { transpose } from "../nn/ops.js";
import type { Tensor } from "../nn/tensor.js";
import { encodeModel, floatTensorProto, int64TensorProto, nodeProto, valueInfo, type AttrValue, type NodeProto, type TensorProto } from "./proto.js";

/** The opset the exporter writes. 13 is read by every current runtime and has Clip/Pad/Squeeze operands as inputs. */
export const EXPORT_OPSET = 13;

/**
 * Serialises a float model as an ONNX ModelProto (opset 13): Conv2D/DepthwiseConv2D -> Conv, Dense -> Gemm
 * (transB = 1; MatMul + Add when the input has more than two axes), BatchNorm -> BatchNormalization,
 * Relu6 -> Clip(0, 6), AvgPool -> AveragePool, GlobalAvgPool -> GlobalAveragePool, HardSwish -> x * HardSigmoid(x)
 * (HardSwish is opset 14), Resize by sizes -> sizes from the input's Shape; weights as initializers.
 */
export function exportOnnx(model: Model): Uint8Array {
  const shapes = shapesIfKnown(model, 1);
  const shapes2 = shapesIfKnown(model, 2);
  const initializers: TensorProto[] = [];
  const used = new Set<string>([...model.inputs.map((i) => i.name), ...model.constants.keys(), ...model.nodes.flatMap((n) => n.outputs)]);
  const fresh = (base: string): string => {
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    return name;
  };
  const floatInit = (base: string, t: Tensor): string => {
    const name = fresh(base);
    initializers.push(floatTensorProto(name, t));
    return name;
  };
  const intInit = (base: string, values: number[]): string => {
    const name = fresh(base);
    initializers.push(int64TensorProto(name, [values.length], values));
    return name;
  };
  const scalarInit = (base: string, v: number): string => {
    const name = fresh(base);
    initializers.push(floatTensorProto(name, { shape: [], data: Float32Array.of(v) }));
    return name;
  };
  for (const [k, t] of model.constants) initializers.push(floatTensorProto(k, t));

  const nodes: NodeProto[] = [];
  const emit = (op: string, ins: string[], outs: string[], name: string, attrs: Record<string, AttrValue> = {}): void => {
    nodes.push(nodeProto(op, ins, outs, name, attrs));
  };
  for (const n of model.nodes) exportNode(n);

  function exportNode(n: Node): void {
    const x = n.inputs[0]!;
    const y = n.outputs[0]!;
    switch (n.op) {
      case "Conv2D":
      case "DepthwiseConv2D": {
        const ins = [x, floatInit(`${n.name}.weight`, n.weight)];
        if (n.bias) ins.push(floatInit(`${n.name}.bias`, n.bias));
        const attrs: Record<string, AttrValue> = {
          kernel_shape: { ints: n.weight.shape.slice(2) },
          strides: { ints: n.strides },
          dilations: { ints: n.dilations },
          group: { int: n.groups },
        };
        if (n.autoPad === "NOTSET") attrs.pads = { ints: n.pads };
        else attrs.auto_pad = { string: n.autoPad };
        emit("Conv", ins, [y], n.name, attrs);
        return;
      }
      case "Dense": {
        const rank = shapes?.get(x)?.length;
        if (rank === 2) {
          const ins = [x, floatInit(`${n.name}.weight`, n.weight)];
          if (n.bias) ins.push(floatInit(`${n.name}.bias`, n.bias));
          emit("Gemm", ins, [y], n.name, { transB: { int: 1 } });
        } else {
          const wT = floatInit(`${n.name}.weight_t`, transpose(n.weight, [1, 0]));
          if (!n.bias) {
            emit("MatMul", [x, wT], [y], n.name);
          } else {
            const mm = fresh(`${n.name}.matmul`);
            emit("MatMul", [x, wT], [mm], `${n.name}.matmul`);
            emit("Add", [mm, floatInit(`${n.name}.bias`, n.bias)], [y], n.name);
          }
        }
        return;
      }
      case "BatchNorm":
        emit("BatchNormalization", [
          x, floatInit(`${n.name}.scale`, n.scale), floatInit(`${n.name}.bias`, n.bias),
          floatInit(`${n.name}.mean`, n.mean), floatInit(`${n.name}.var`, n.variance),
        ], [y], n.name, { epsilon: { float: n.epsilon } });
        return;
      case "Relu":
      case "Identity":
      case "Sigmoid":
      case "Tanh":
      case "GlobalMaxPool":
        emit(n.op, [x], [y], n.name);
        return;
      case "HardSwish": {
        // HardSwish is opset 14; at 13 it is x * HardSigmoid(x) with PyTorch's alpha = 1/6, as PyTorch writes it for opset < 14.
        const gate = fresh(`${n.name}.gate`);
        emit("HardSigmoid", [x], [gate], `${n.name}.hardsigmoid`, { alpha: { float: 1 / 6 }, beta: { float: 0.5 } });
        emit("Mul", [x, gate], [y], n.name);
        return;
      }
      case "HardSigmoid":
        emit("HardSigmoid", [x], [y], n.name, { alpha: { float: n.alpha }, beta: { float: n.beta } });
        return;
      case "LeakyRelu":
        emit("LeakyRelu", [x], [y], n.name, { alpha: { float: n.alpha } });
        return;
      case "PRelu":
        emit("PRelu", [x, n.inputs[1]!], [y], n.name);
        return;
      case "Resize": {
        const attrs: Record<string, AttrValue> = { mode: { string: n.mode }, coordinate_transformation_mode: { string: n.coordinates } };
        if (n.mode === "nearest") attrs.nearest_mode = { string: n.nearestMode };
        if (n.scales) {
          emit("Resize", [x, "", floatInit(`${n.name}.scales`, { shape: [4], data: Float32Array.of(1, 1, n.scales[0], n.scales[1]) })], [y], n.name, attrs);
          return;
        }
        // Sizes: the input's batch and channels (read at run time, the batch may vary), then H and W.
        const shape = fresh(`${n.name}.shape`), nc = fresh(`${n.name}.nc`), sizes = fresh(`${n.name}.sizes`);
        emit("Shape", [x], [shape], `${n.name}.shape`);
        emit("Slice", [shape, intInit(`${n.name}.start`, [0]), intInit(`${n.name}.end`, [2])], [nc], `${n.name}.slice`);
        emit("Concat", [nc, intInit(`${n.name}.hw`, [n.sizes![2]!, n.sizes![3]!])], [sizes], `${n.name}.concat`, { axis: { int: 0 } });
        emit("Resize", [x, "", "", sizes], [y], n.name, attrs);
        return;
      }
      case "Relu6":
        emit("Clip", [x, scalarInit(`${n.name}.min`, 0), scalarInit(`${n.name}.max`, 6)], [y], n.name);
        return;
      case "Clip": {
        const ins = [x, Number.isFinite(n.min) ? scalarInit(`${n.name}.min`, n.min) : "", Number.isFinite(n.max) ? scalarInit(`${n.name}.max`, n.max) : ""];
        while (ins[ins.length - 1] === "") ins.pop();
        emit("Clip", ins, [y], n.name);
        return;
      }
      case "MaxPool":
      case "AvgPool": {
        const attrs: Record<string, AttrValue> = {
          kernel_shape: { ints: n.kernel },
          strides: { ints: n.strides },
          ceil_mode: { int: n.ceilMode ? 1 : 0 },
        };
        if (n.autoPad === "NOTSET") attrs.pads = { ints: n.pads };
        else attrs.auto_pad = { string: n.autoPad };
        if (n.op === "MaxPool") attrs.dilations = { ints: n.dilations };
        else attrs.count_include_pad = { int: n.countIncludePad ? 1 : 0 };
        emit(n.op === "MaxPool" ? "MaxPool" : "AveragePool", [x], [y], n.name, attrs);
        return;
      }
      case "GlobalAvgPool":
        emit("GlobalAveragePool", [x], [y], n.name);
        return;
      case "Add":
      case "Sub":
      case "Mul":
      case "Div":
        emit(n.op, [x, n.inputs[1]!], [y], n.name);
        return;
      case "Concat":
        emit("Concat", [...n.inputs], [y], n.name, { axis: { int: n.axis } });
        return;
      case "Flatten":
        emit("Flatten", [x], [y], n.name, { axis: { int: n.axis } });
        return;
      case "Reshape":
        emit("Reshape", [x, intInit(`${n.name}.shape`, n.shape)], [y], n.name, n.allowZero ? { allowzero: { int: 1 } } : {});
        return;
      case "Transpose":
        emit("Transpose", [x], [y], n.name, { perm: { ints: n.perm } });
        return;
      case "Softmax": {
        const rank = shapes?.get(x)?.length;
        const lastAxis = rank !== undefined && (n.axis === -1 || n.axis === rank - 1);
        if (!n.coerce2d || lastAxis) {
          emit("Softmax", [x], [y], n.name, { axis: { int: n.axis } });
        } else {
          // Opset < 13 semantics: softmax over all axes from `axis` on, as one.
          const flat = fresh(`${n.name}.flat`), soft = fresh(`${n.name}.soft`), shape = fresh(`${n.name}.shape`);
          emit("Flatten", [x], [flat], `${n.name}.flatten`, { axis: { int: n.axis } });
          emit("Softmax", [flat], [soft], `${n.name}.softmax`, { axis: { int: 1 } });
          emit("Shape", [x], [shape], `${n.name}.shape`);
          emit("Reshape", [soft, shape], [y], n.name);
        }
        return;
      }
      case "Pad": {
        const ins = [x, intInit(`${n.name}.pads`, n.pads)];
        if (n.mode === "constant" && n.value !== 0) ins.push(scalarInit(`${n.name}.value`, n.value));
        emit("Pad", ins, [y], n.name, { mode: { string: n.mode } });
        return;
      }
      case "ReduceMean": {
        const attrs: Record<string, AttrValue> = { keepdims: { int: n.keepDims ? 1 : 0 } };
        if (n.axes !== null) attrs.axes = { ints: n.axes };
        emit("ReduceMean", [x], [y], n.name, attrs);
        return;
      }
      case "Squeeze":
      case "Unsqueeze":
        emit(n.op, n.axes === null ? [x] : [x, intInit(`${n.name}.axes`, n.axes)], [y], n.name);
        return;
    }
  }

  // Output dims that change with the batch are symbolic.
  const outShape = (v: string): (number | string)[] | null => {
    const a = shapes?.get(v), b = shapes2?.get(v);
    if (!a || !b || a.length !== b.length) return null;
    return a.map((d, i) => (d === b[i] ? d : "N"));
  };
  return encodeModel({
    graphName: model.name,
    opset: EXPORT_OPSET,
    inputs: model.inputs.map((vi) => valueInfo(vi.name, vi.shape.map((d, i) => d ?? (i === 0 ? "N" : `d${i}`)))),
    outputs: model.outputs.map((o) => valueInfo(o, outShape(o))),
    nodes,
    initializers,
  });
}

/** Shapes of all values for batch `batch`, or undefined when the inputs' other dimensions are open or inference fails. */
function shapesIfKnown(model: Model, batch: number): Map<string, number[]> | undefined {
  if (model.inputs.some((vi) => vi.shape.slice(1).some((d) => d === null))) return undefined;
  try {
    return inferShapes(model, concreteInputShapes(model, batch));
  } catch (e) {
    if (e instanceof AxnnError) return undefined;
    throw e;
  }
}

export function writeOnnx(file: string, model: Model): void {
  writeFileAtomic(file, exportOnnx(model));
}
