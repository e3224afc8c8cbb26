import { convLayer, denseLayer, depthwiseLayer, layerOutputSize, type NetworkLayer } from "../energy/network.js";
import { zooLayers } from "../energy/zoo-shapes.js";
import { uniformRandom } from "../util/random.js";

/**
 * Sampling the networks of the predictor datasets. Both families are drawn from a seeded generator,
 * one independent stream per row (seed, row index), so a row is the same whichever worker labels it
 * and whether or not the run was resumed.
 */

export type Family = "fixed" | "variable";
export const FAMILIES: readonly Family[] = ["fixed", "variable"];

/** The fixed architectures of the "fixed" family (zoo shapes, CIFAR-sized). */
export const FIXED_BASES = ["resnet8", "resnet14", "resnet20", "mobilenetv2"] as const;

export interface NetworkSample {
  /** Row index within the dataset (with the seed, it determines the network). */
  index: number;
  family: Family;
  /** The zoo name for the fixed family, "nas" for sampled architectures. */
  base: string;
  layers: NetworkLayer[];
  /** The multiplier of each layer (pool names), parallel to `layers`. */
  multipliers: string[];
}

/** Seeded uniform numbers in [0, 1) (mulberry32, util/random): identical on every platform. */
export const seededRandom = uniformRandom;

/** The stream of one row: the seed and the row index mixed so that neighbouring rows are unrelated. */
export function rowRandom(seed: number, index: number, family: Family): () => number {
  const mix = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35) ^ (family === "fixed" ? 0x1b873593 : 0x5bd1e995);
  const r = seededRandom(mix);
  r();
  return r;
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const intIn = (rand: () => number, lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

/**
 * A per-layer multiplier assignment: a few pool designs per network (1 to 4, so that networks
 * range from uniform to mixed), each layer drawing one of them.
 */
export function sampleAssignment(rand: () => number, layerCount: number, pool: readonly string[]): string[] {
  const k = intIn(rand, 1, 4);
  const chosen = Array.from({ length: k }, () => pick(rand, pool));
  return Array.from({ length: layerCount }, () => pick(rand, chosen));
}

export function sampleFixedNetwork(seed: number, index: number, pool: readonly string[]): NetworkSample {
  const rand = rowRandom(seed, index, "fixed");
  const base = pick(rand, FIXED_BASES);
  const layers = zooLayers(base);
  return { index, family: "fixed", base, layers, multipliers: sampleAssignment(rand, layers.length, pool) };
}

/**
 * Choices of the variable family, in the style of NAS search spaces for CIFAR (MnasNet/ProxylessNAS-like:
 * discrete widths, kernels, expansions and block types). Discrete choices make layer shapes recur
 * across networks, as they do in such a search, which keeps the number of mapping searches affordable.
 */
export const SEARCH_SPACE = {
  stemWidths: [16, 24, 32],
  stages: [2, 4] as [number, number],
  depth: [1, 4] as [number, number],
  widths: [16, 24, 32, 48, 64, 96],
  kernels: [1, 3, 5, 7],
  expansions: [1, 3, 6],
  blockTypes: ["conv", "basic", "inverted"] as const,
  hiddenDense: [0, 64, 128, 256],
};

/**
 * A sampled architecture on 3x32x32 inputs: a 3x3 stem, 2 to 4 stages of 1 to 4 blocks (plain conv,
 * basic residual pair, or MobileNetV2 inverted residual with expansion 1/3/6), each stage with its
 * own width, kernel size and block type; stride 2 at the first block of a stage (except the first
 * stage, and never below 4x4); global pooling, an optional hidden dense layer and a 10-way dense layer.
 */
export function sampleVariableNetwork(seed: number, index: number, pool: readonly string[]): NetworkSample {
  const rand = rowRandom(seed, index, "variable");
  const sp = SEARCH_SPACE;
  const layers: NetworkLayer[] = [];
  let c = pick(rand, sp.stemWidths);
  let size = 32;
  layers.push(convLayer("stem", { inChannels: 3, outChannels: c, inSize: size, kernel: 3 }));
  const stages = intIn(rand, sp.stages[0], sp.stages[1]);
  let widthFloor = 0;
  for (let s = 0; s < stages; s++) {
    const type = pick(rand, sp.blockTypes);
    const k = pick(rand, type === "inverted" ? sp.kernels.filter((x) => x > 1) : sp.kernels);
    // Widths grow (or stay) with depth, as in the search spaces this imitates.
    const widths = sp.widths.filter((w) => w >= widthFloor);
    const w = pick(rand, widths.length > 0 ? widths : sp.widths);
    widthFloor = w;
    const depth = intIn(rand, sp.depth[0], sp.depth[1]);
    const t = pick(rand, sp.expansions);
    const downsample = s > 0 && size > 4 && rand() < 0.75;
    for (let b = 0; b < depth; b++) {
      const stride = b === 0 && downsample ? 2 : 1;
      const p = `s${s + 1}.b${b + 1}`;
      if (type === "conv") {
        layers.push(convLayer(`${p}.conv`, { inChannels: c, outChannels: w, inSize: size, kernel: k, stride }));
        size = layerOutputSize(layers[layers.length - 1]!)[0];
      } else if (type === "basic") {
        layers.push(convLayer(`${p}.conv1`, { inChannels: c, outChannels: w, inSize: size, kernel: k, stride }));
        size = layerOutputSize(layers[layers.length - 1]!)[0];
        layers.push(convLayer(`${p}.conv2`, { inChannels: w, outChannels: w, inSize: size, kernel: k }));
      } else {
        const hidden = c * t;
        if (t !== 1) layers.push(convLayer(`${p}.expand`, { inChannels: c, outChannels: hidden, inSize: size, kernel: 1 }));
        layers.push(depthwiseLayer(`${p}.depthwise`, { inChannels: hidden, inSize: size, kernel: k, stride }));
        size = layerOutputSize(layers[layers.length - 1]!)[0];
        layers.push(convLayer(`${p}.project`, { inChannels: hidden, outChannels: w, inSize: size, kernel: 1 }));
      }
      c = w;
    }
  }
  const hidden = pick(rand, sp.hiddenDense);
  if (hidden > 0) {
    layers.push(denseLayer("fc1", { inFeatures: c, outFeatures: hidden }));
    layers.push(denseLayer("fc2", { inFeatures: hidden, outFeatures: 10 }));
  } else {
    layers.push(denseLayer("fc", { inFeatures: c, outFeatures: 10 }));
  }
  return { index, family: "variable", base: "nas", layers, multipliers: sampleAssignment(rand, layers.length, pool) };
}

export function sampleNetwork(family: Family, seed: number, index: number, pool: readonly string[]): NetworkSample {
  return family === "fixed" ? sampleFixedNetwork(seed, index, pool) : sampleVariableNetwork(seed, index, pool);
}
