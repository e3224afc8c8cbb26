import onnxProto from "onnx-proto";
import { AxnnError } from "../util/errors.js";
import { checkLimit } from "../util/limits.js";
import type { Tensor } from "../nn/tensor.js";
import { halfToFloat } from "../util/float16.js";

/** The protobufjs static code for onnx.proto (onnx-proto is CommonJS; its namespace sits under `.onnx`). */
export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

/** TensorProto.DataType values. */
export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13 } as const;
const DT_NAMES = Object.fromEntries(Object.entries(DT).map(([k, v]) => [v, k.toLowerCase()]));
export const dataTypeName = (dt: number): string => DT_NAMES[dt] ?? `type ${dt}`;

/** AttributeProto.AttributeType values. */
export const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

/** protobufjs gives 64-bit integers as Long objects (or numbers): to a JS number. */
export function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (v === null || v === undefined) return 0;
  if (typeof v === "object" && "toNumber" in (v as object)) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

/** A TensorProto's values as numbers (float or integer types), with its dims and type. */
export interface DecodedTensor {
  dims: number[];
  dataType: number;
  /** Float32Array for float tensors (the weights, kept compact), Float64Array otherwise (int64 shapes stay exact). */
  values: Float32Array | Float64Array;
}

export function decodeTensor(t: TensorProto, where: string): DecodedTensor {
  const dims = (t.dims ?? []).map(toNumber);
  const dataType = t.dataType ?? 0;
  const n = dims.reduce((a, b) => a * b, 1);
  if (t.dataLocation === 1 || (t.externalData && t.externalData.length > 0)) {
    throw new AxnnError("tensors stored in external data files are not supported; save the model with its weights inside", { field: where });
  }
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new AxnnError(`bad dims [${dims.join(",")}]`, { field: where });
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const width: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8 };
  const w = width[dataType];
  if (w === undefined) throw new AxnnError(`tensor of ${dataTypeName(dataType)} is not supported`, { field: where });
  // Sizes are checked against the stored data before anything is allocated (a corrupt dim can be huge).
  if (raw) {
    if (raw.length !== n * w) throw new AxnnError(`raw data has ${raw.length} bytes, dims [${dims.join(",")}] of ${dataTypeName(dataType)} need ${n * w}`, { field: where });
    checkLimit("tensorElements", n, `dims [${dims.join(",")}] make a tensor too large to read`, { field: where });
    if (dataType === DT.FLOAT) {
      // One copy of the bytes (little-endian, like every platform Node runs on); the copy also aligns them.
      return { dims, dataType, values: new Float32Array(new Uint8Array(raw).buffer, 0, n) }; // raw may be a Node Buffer, whose slice() is a view
    }
    const values = new Float64Array(n);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      const o = i * w;
      switch (dataType) {
        case DT.FLOAT: values[i] = v.getFloat32(o, true); break;
        case DT.DOUBLE: values[i] = v.getFloat64(o, true); break;
        case DT.FLOAT16: values[i] = halfToFloat(v.getUint16(o, true)); break;
        case DT.INT64: values[i] = Number(v.getBigInt64(o, true)); break;
        case DT.UINT64: values[i] = Number(v.getBigUint64(o, true)); break;
        case DT.INT32: values[i] = v.getInt32(o, true); break;
        case DT.UINT32: values[i] = v.getUint32(o, true); break;
        case DT.INT16: values[i] = v.getInt16(o, true); break;
        case DT.UINT16: values[i] = v.getUint16(o, true); break;
        case DT.INT8: values[i] = v.getInt8(o); break;
        default: values[i] = v.getUint8(o);
      }
    }
    return { dims, dataType, values };
  }
  let src: ArrayLike<unknown>;
  if (dataType === DT.FLOAT) src = t.floatData ?? [];
  else if (dataType === DT.DOUBLE) src = t.doubleData ?? [];
  else if (dataType === DT.INT64) src = t.int64Data ?? [];
  else if (dataType === DT.UINT32 || dataType === DT.UINT64) src = t.uint64Data ?? [];
  else src = t.int32Data ?? [];
  if (src.length !== n) throw new AxnnError(`tensor holds ${src.length} values, dims [${dims.join(",")}] need ${n}`, { field: where });
  checkLimit("tensorElements", n, `dims [${dims.join(",")}] make a tensor too large to read`, { field: where });
  const values = dataType === DT.FLOAT ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = dataType === DT.FLOAT16 ? halfToFloat(toNumber(src[i])) : toNumber(src[i]);
  return { dims, dataType, values };
}

// ---- Writing: small helpers that the exporter and the tests use to emit ModelProto. ----

export function floatTensorProto(name: string, t: Tensor | { shape: number[]; data: ArrayLike<number> }): TensorProto {
  const f = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  return { name, dims: [...t.shape], dataType: DT.FLOAT, rawData: new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength)) };
}

export function int64TensorProto(name: string, dims: number[], values: readonly number[]): TensorProto {
  const b = new BigInt64Array(values.map((v) => BigInt(v)));
  return { name, dims, dataType: DT.INT64, rawData: new Uint8Array(b.buffer) };
}

export type AttrValue =
  | { int: number }
  | { ints: readonly number[] }
  | { float: number }
  | { floats: readonly number[] }
  | { string: string }
  | { tensor: TensorProto };

export function attribute(name: string, v: AttrValue): AttributeProto {
  if ("int" in v) return { name, type: AT.INT, i: v.int };
  if ("ints" in v) return { name, type: AT.INTS, ints: [...v.ints] };
  if ("float" in v) return { name, type: AT.FLOAT, f: v.float };
  if ("floats" in v) return { name, type: AT.FLOATS, floats: [...v.floats] };
  if ("string" in v) return { name, type: AT.STRING, s: new TextEncoder().encode(v.string) };
  return { name, type: AT.TENSOR, t: v.tensor };
}

export function nodeProto(opType: string, inputs: string[], outputs: string[], name: string, attrs: Record<string, AttrValue> = {}): NodeProto {
  return { opType, input: inputs, output: outputs, name, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) };
}

/** A float tensor value info; a string or null dimension is symbolic (dim_param). */
export function valueInfo(name: string, shape: readonly (number | string | null)[] | null, elemType: number = DT.FLOAT): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: shape === null ? undefined : { dim: shape.map((d, i) => (typeof d === "number" ? { dimValue: d } : { dimParam: d ?? `d${i}` })) },
      },
    },
  };
}

export interface ModelSpec {
  graphName?: string;
  opset: number;
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  nodes: NodeProto[];
  initializers?: TensorProto[];
  producerName?: string;
  irVersion?: number;
}

/** IR version that goes with an opset (onnx/helper.py's VERSION_TABLE, abridged). */
export function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  return 9;
}

export function encodeModel(spec: ModelSpec): Uint8Array {
  const model: ModelProto = {
    irVersion: spec.irVersion ?? irVersionFor(spec.opset),
    producerName: spec.producerName ?? "axnn",
    opsetImport: [{ domain: "", version: spec.opset }],
    graph: {
      name: spec.graphName ?? "graph",
      input: spec.inputs,
      output: spec.outputs,
      node: spec.nodes,
      initializer: spec.initializers ?? [],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model as Record<string, unknown>)).finish();
}
