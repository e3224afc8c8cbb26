import { AxnnError } from "../util/errors.js";

/** Options shared by every zoo builder (see buildZooModel). */
export interface ZooBuildOptions {
  /** One sample's shape, [channels, height, width] (the batch stays open). Default [3, 32, 32] ([1, 28, 28] for LeNet-5). */
  inputShape?: number[];
  /** Classes of the final dense layer (default 10). */
  classes?: number;
  /** Scales every hidden layer's channel count (default 1). */
  width?: number;
  /** Depth where the family has one: ResNet blocks per stage, VGG convs per stage. */
  depth?: number;
  /** Seed of the He-uniform weights (default 1). */
  seed?: number;
}

export interface ResolvedZooOptions {
  inputShape: [number, number, number];
  classes: number;
  width: number;
  seed: number;
}

/** Checks and fills in the options every family shares. */
export function resolveCommon(family: string, o: ZooBuildOptions, defaultInput: [number, number, number]): ResolvedZooOptions {
  const field = (k: string) => `${family} ${k}`;
  const inputShape = o.inputShape ?? defaultInput;
  if (inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new AxnnError(`expected [channels, height, width] of positive integers, got [${inputShape.join(", ")}]`, { field: field("inputShape") });
  }
  const classes = o.classes ?? 10;
  if (!Number.isInteger(classes) || classes < 1) throw new AxnnError(`expected a positive integer, got ${classes}`, { field: field("classes") });
  const width = o.width ?? 1;
  if (!(Number.isFinite(width) && width > 0)) throw new AxnnError(`the width multiplier must be positive, got ${width}`, { field: field("width") });
  const seed = o.seed ?? 1;
  if (!Number.isInteger(seed)) throw new AxnnError(`expected an integer seed, got ${seed}`, { field: field("seed") });
  return { inputShape: [...inputShape] as [number, number, number], classes, width, seed };
}

/** A depth option: a positive integer, or the default; families without a depth refuse one. */
export function resolveDepth(family: string, depth: number | undefined, fallback: number | null): number {
  if (fallback === null) {
    if (depth !== undefined) throw new AxnnError(`${family} has no depth parameter`, { field: `${family} depth` });
    return 0;
  }
  const d = depth ?? fallback;
  if (!Number.isInteger(d) || d < 1) throw new AxnnError(`expected a positive integer, got ${d}`, { field: `${family} depth` });
  return d;
}

/** A channel count scaled by the width multiplier, at least 1. */
export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

/** BatchNorm epsilon: PyTorch's 1e-5 rounded to float32, as ONNX stores it, so export and reload compute identically. */
export const BN_EPSILON = Math.fround(1e-5);
