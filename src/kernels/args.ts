// Argument checks and output arrays shared by the kernels' wrappers (inference and training).
import { AxnnError } from "../util/errors.js";
import { checkLength, convGeometry, denseGeometry, type ConvGeometry, type ConvOptions, type DenseGeometry } from "./geometry.js";

export function checkType(v: unknown, ctor: Uint8ArrayConstructor | Float32ArrayConstructor, layer: string, arg: string): void {
  if (!(v instanceof ctor)) throw new AxnnError(`expected a ${ctor.name}, got ${v === null ? "null" : typeof v === "object" ? (v as object).constructor?.name : typeof v}`, { field: `${layer} ${arg}` });
}

export function convArgs<T extends Uint8Array | Float32Array>(
  layer: string, ctor: Uint8ArrayConstructor | Float32ArrayConstructor,
  input: T, inputShape: readonly number[], weights: T, weightShape: readonly number[], options: ConvOptions,
): ConvGeometry {
  checkType(input, ctor, layer, "input");
  checkType(weights, ctor, layer, "weights");
  const g = convGeometry(layer, inputShape, weightShape, options);
  checkLength(input, inputShape, layer, "input");
  checkLength(weights, weightShape, layer, "weights");
  return g;
}

export function denseArgs<T extends Uint8Array | Float32Array>(
  layer: string, ctor: Uint8ArrayConstructor | Float32ArrayConstructor,
  input: T, inputShape: readonly number[], weights: T, weightShape: readonly number[],
): DenseGeometry {
  checkType(input, ctor, layer, "input");
  checkType(weights, ctor, layer, "weights");
  const g = denseGeometry(layer, inputShape, weightShape);
  checkLength(input, inputShape, layer, "input");
  checkLength(weights, weightShape, layer, "weights");
  return g;
}

export const convShape = (g: ConvGeometry): number[] => [g.N, g.M, g.P, g.Q];

/** options.out when given (checked), else a new array of `size` elements. */
export function outputArray<T extends Int32Array | Float32Array>(ctor: { new (n: number): T; name: string }, given: T | undefined, size: number, layer: string): T {
  if (given === undefined) return new ctor(size);
  if (!(given instanceof ctor) || given.length !== size) {
    throw new AxnnError(`expected a ${ctor.name} of ${size} elements, got ${given?.constructor?.name} of ${(given as { length?: number })?.length}`, { field: `${layer} out` });
  }
  return given;
}
