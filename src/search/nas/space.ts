// The architecture search space of `axnn search nas` (EvoApproxNAS-style: the architecture and the
// multiplier of every layer searched together) as a fixed-length integer genome, so the search engine's
// integer genes (each with its own cardinality) fit it as they are. Architectures vary in length; the
// genome does not: every possible layer has a multiplier slot, and the genes a decoded architecture
// does not use (stages past the stage count, blocks past a stage's depth, slots its block type does not
// have) are introns, set to 0 by repairGenome so that one network has one genome (and one hash).
import { AxnnError } from "../../util/errors.js";

/** Channel counts a stem or a stage can take (LeNet-5's 6 and 16, the ResNets' 16/32/64, MobileNetV2's 24/32/...). */
export const NAS_WIDTHS = [6, 8, 12, 16, 24, 32, 48, 64] as const;
/** Widths of the hidden dense layers of the head (0: none); LeNet-5's 120 and 84 among them. */
export const NAS_HIDDEN = [0, 32, 64, 84, 120] as const;
export const NAS_KERNELS = [3, 5] as const;
export const NAS_EXPANSIONS = [1, 3, 6] as const;
export const NAS_BLOCK_TYPES = ["plain", "residual", "separable", "inverted"] as const;
export const NAS_DOWNSAMPLES = ["none", "stride", "maxpool", "avgpool"] as const;
export const NAS_HEAD_POOLS = ["gap", "flatten", "maxpool"] as const;
export const NAS_MAX_STAGES = 3;
export const NAS_MAX_DEPTH = 3;
/** Multiplier slots per block: the most approximable layers any block type has (inverted residual: expand, depthwise, project). */
export const NAS_BLOCK_SLOTS = 3;
/** A stage is not downsampled once its input is smaller than this (keeps at least 4x4 feature maps). */
export const NAS_MIN_DOWNSAMPLE_SIZE = 8;
/** Flattened head features above this go through global average pooling instead (bounds the dense layer). */
export const NAS_MAX_FLATTEN = 4096;

export type NasBlockType = (typeof NAS_BLOCK_TYPES)[number];
export type NasDownsample = (typeof NAS_DOWNSAMPLES)[number];
export type NasHeadPool = (typeof NAS_HEAD_POOLS)[number];

/** What the genome is decoded against: the data's sample shape and classes, and the candidate multipliers (gene value i = multipliers[i]). */
export interface NasSpace {
  /** [channels, height, width]. */
  inputShape: [number, number, number];
  classes: number;
  /** Multiplier names (anything resolveMultiplier takes); at least one. */
  multipliers: string[];
}

export interface NasStage {
  type: NasBlockType;
  kernel: number;
  depth: number;
  width: number;
  downsample: NasDownsample;
  /** Inverted residual blocks only (1 elsewhere). */
  expansion: number;
  /** Per block, the multiplier of each slot (its meaning depends on the type; see network.ts). */
  multipliers: string[][];
}

/** A decoded genome. */
export interface NasArchitecture {
  inputShape: [number, number, number];
  classes: number;
  stem: { width: number; kernel: number; multiplier: string };
  stages: NasStage[];
  head: { pool: NasHeadPool; hidden: number[]; multipliers: string[] };
}

// Gene layout: [stages, stem width, stem kernel, stem multiplier], then per stage
// [type, kernel, depth, width, downsample, expansion, then depth x slots multipliers], then the head
// [pool, hidden 1, hidden 2, multiplier hidden 1, multiplier hidden 2, multiplier classifier].
const STAGE_GENES = 6 + NAS_MAX_DEPTH * NAS_BLOCK_SLOTS;
const G_STAGES = 0, G_STEM_WIDTH = 1, G_STEM_KERNEL = 2, G_STEM_MULT = 3, G_FIRST_STAGE = 4;
const G_HEAD = G_FIRST_STAGE + NAS_MAX_STAGES * STAGE_GENES;
const S_TYPE = 0, S_KERNEL = 1, S_DEPTH = 2, S_WIDTH = 3, S_DOWN = 4, S_EXP = 5, S_MULTS = 6;
const H_POOL = 0, H_HIDDEN1 = 1, H_HIDDEN2 = 2, H_MULTS = 3;

/** Number of genes of every genome (whatever the space). */
export const NAS_GENOME_LENGTH = G_HEAD + 6;

const stageBase = (s: number) => G_FIRST_STAGE + s * STAGE_GENES;
const multGene = (s: number, block: number, slot: number) => stageBase(s) + S_MULTS + block * NAS_BLOCK_SLOTS + slot;

/** The name of every gene, in order (for reports and error messages). */
export function geneNames(): string[] {
  const names = ["stages", "stem.width", "stem.kernel", "stem.mult"];
  for (let s = 0; s < NAS_MAX_STAGES; s++) {
    names.push(...["type", "kernel", "depth", "width", "downsample", "expansion"].map((g) => `s${s + 1}.${g}`));
    for (let b = 0; b < NAS_MAX_DEPTH; b++) for (let k = 0; k < NAS_BLOCK_SLOTS; k++) names.push(`s${s + 1}.b${b + 1}.mult${k + 1}`);
  }
  names.push("head.pool", "head.hidden1", "head.hidden2", "head.hidden1.mult", "head.hidden2.mult", "head.classifier.mult");
  return names;
}

/** The number of values of every gene (gene i takes 0 .. cardinality[i] - 1). */
export function geneCardinalities(space: NasSpace): number[] {
  checkSpace(space);
  const m = space.multipliers.length;
  const out = [NAS_MAX_STAGES, NAS_WIDTHS.length, NAS_KERNELS.length, m];
  for (let s = 0; s < NAS_MAX_STAGES; s++) {
    out.push(NAS_BLOCK_TYPES.length, NAS_KERNELS.length, NAS_MAX_DEPTH, NAS_WIDTHS.length, NAS_DOWNSAMPLES.length, NAS_EXPANSIONS.length);
    for (let i = 0; i < NAS_MAX_DEPTH * NAS_BLOCK_SLOTS; i++) out.push(m);
  }
  out.push(NAS_HEAD_POOLS.length, NAS_HIDDEN.length, NAS_HIDDEN.length, m, m, m);
  return out;
}

export function checkSpace(space: NasSpace): void {
  const [c, h, w] = space.inputShape;
  if (space.inputShape.length !== 3 || ![c, h, w].every((d) => Number.isInteger(d) && d >= 1)) {
    throw new AxnnError(`expected [channels, height, width] of positive integers, got [${space.inputShape.join(", ")}]`, { field: "inputShape" });
  }
  if (h < 4 || w < 4) throw new AxnnError(`the search space needs inputs of at least 4x4, got ${h}x${w}`, { field: "inputShape" });
  if (!Number.isInteger(space.classes) || space.classes < 2) throw new AxnnError(`expected at least 2 classes, got ${space.classes}`, { field: "classes" });
  if (space.multipliers.length === 0) throw new AxnnError("the search needs at least one multiplier", { field: "--mults" });
  if (new Set(space.multipliers).size !== space.multipliers.length) throw new AxnnError("a multiplier is listed twice", { field: "--mults" });
}

/** Refuses a genome of the wrong length or with a gene outside its cardinality, naming the gene. */
export function checkGenome(space: NasSpace, genome: readonly number[]): void {
  if (genome.length !== NAS_GENOME_LENGTH) throw new AxnnError(`expected ${NAS_GENOME_LENGTH} genes, got ${genome.length}`, { field: "genome" });
  const card = geneCardinalities(space);
  const names = geneNames();
  genome.forEach((g, i) => {
    if (!Number.isInteger(g) || g < 0 || g >= card[i]!) throw new AxnnError(`gene ${names[i]} must be an integer from 0 to ${card[i]! - 1}, got ${g}`, { field: `genome[${i}]` });
  });
}

/** Spatial size after a downsampling of `kind` (3x3 or 5x5 stride-2 conv with padding (k-1)/2, or a 2x2 pool). */
function downsampled(size: number, kind: NasDownsample, kernel: number): number {
  if (kind === "none") return size;
  if (kind === "stride") return Math.floor((size + 2 * ((kernel - 1) / 2) - kernel) / 2) + 1;
  return Math.floor(size / 2);
}

/** Slots of a block that hold a layer (the rest are introns). */
export function usedSlots(type: NasBlockType, expansion: number, projection: boolean): boolean[] {
  switch (type) {
    case "plain": return [true, false, false];
    case "separable": return [true, true, false];
    case "residual": return [true, true, projection];
    case "inverted": return [expansion !== 1, true, true];
  }
}

/**
 * The canonical genome of the network a genome encodes: introns set to 0, downsampling dropped where
 * the feature map is already below NAS_MIN_DOWNSAMPLE_SIZE, a flattened head too wide for
 * NAS_MAX_FLATTEN pooled first (or globally pooled), the second hidden layer dropped without a first.
 * Every repaired genome builds a valid network; repair is idempotent. Returns a new array.
 */
export function repairGenome(space: NasSpace, genome: readonly number[]): number[] {
  checkGenome(space, genome);
  const g = [...genome];
  const stages = g[G_STAGES]! + 1;
  let h = space.inputShape[1], w = space.inputShape[2];
  let channels = NAS_WIDTHS[g[G_STEM_WIDTH]!]!;
  for (let s = 0; s < NAS_MAX_STAGES; s++) {
    const base = stageBase(s);
    if (s >= stages) {
      for (let i = base; i < base + STAGE_GENES; i++) g[i] = 0;
      continue;
    }
    const type = NAS_BLOCK_TYPES[g[base + S_TYPE]!]!;
    if (type !== "inverted") g[base + S_EXP] = 0;
    if (NAS_DOWNSAMPLES[g[base + S_DOWN]!] !== "none" && Math.min(h, w) < NAS_MIN_DOWNSAMPLE_SIZE) g[base + S_DOWN] = 0;
    const down = NAS_DOWNSAMPLES[g[base + S_DOWN]!]!;
    const kernel = NAS_KERNELS[g[base + S_KERNEL]!]!;
    const depth = g[base + S_DEPTH]! + 1;
    const planes = NAS_WIDTHS[g[base + S_WIDTH]!]!;
    const expansion = NAS_EXPANSIONS[g[base + S_EXP]!]!;
    for (let b = 0; b < NAS_MAX_DEPTH; b++) {
      const inC = b === 0 ? channels : planes;
      const used = b < depth ? usedSlots(type, expansion, planes < inC) : [false, false, false];
      used.forEach((u, k) => { if (!u) g[multGene(s, b, k)] = 0; });
    }
    h = downsampled(h, down, kernel);
    w = downsampled(w, down, kernel);
    channels = planes;
  }
  const head = G_HEAD;
  if (NAS_HEAD_POOLS[g[head + H_POOL]!] === "flatten" && channels * h * w > NAS_MAX_FLATTEN) g[head + H_POOL] = 2;
  if (NAS_HEAD_POOLS[g[head + H_POOL]!] === "maxpool" && (Math.min(h, w) < 2 || channels * Math.floor(h / 2) * Math.floor(w / 2) > NAS_MAX_FLATTEN)) g[head + H_POOL] = 0;
  if (g[head + H_HIDDEN1] === 0) g[head + H_HIDDEN2] = 0;
  if (g[head + H_HIDDEN1] === 0) g[head + H_MULTS] = 0;
  if (g[head + H_HIDDEN2] === 0) g[head + H_MULTS + 1] = 0;
  return g;
}

/** Decodes a genome (repaired first) into its architecture. */
export function decodeGenome(space: NasSpace, genome: readonly number[]): NasArchitecture {
  const g = repairGenome(space, genome);
  const mult = (i: number) => space.multipliers[g[i]!]!;
  const stages: NasStage[] = [];
  for (let s = 0; s < g[G_STAGES]! + 1; s++) {
    const base = stageBase(s);
    const depth = g[base + S_DEPTH]! + 1;
    stages.push({
      type: NAS_BLOCK_TYPES[g[base + S_TYPE]!]!, kernel: NAS_KERNELS[g[base + S_KERNEL]!]!, depth, width: NAS_WIDTHS[g[base + S_WIDTH]!]!,
      downsample: NAS_DOWNSAMPLES[g[base + S_DOWN]!]!, expansion: NAS_EXPANSIONS[g[base + S_EXP]!]!,
      multipliers: Array.from({ length: depth }, (_, b) => Array.from({ length: NAS_BLOCK_SLOTS }, (_, k) => mult(multGene(s, b, k)))),
    });
  }
  const hidden = [NAS_HIDDEN[g[G_HEAD + H_HIDDEN1]!]!, NAS_HIDDEN[g[G_HEAD + H_HIDDEN2]!]!].filter((h) => h > 0);
  return {
    inputShape: [...space.inputShape], classes: space.classes,
    stem: { width: NAS_WIDTHS[g[G_STEM_WIDTH]!]!, kernel: NAS_KERNELS[g[G_STEM_KERNEL]!]!, multiplier: mult(G_STEM_MULT) },
    stages,
    head: { pool: NAS_HEAD_POOLS[g[G_HEAD + H_POOL]!]!, hidden, multipliers: [mult(G_HEAD + H_MULTS), mult(G_HEAD + H_MULTS + 1), mult(G_HEAD + H_MULTS + 2)] },
  };
}

/** A short text of the architecture, e.g. "stem16k3 | residual16x1 | residual32x1/stride | residual64x1/stride | gap". */
export function describeArchitecture(a: NasArchitecture): string {
  const parts = [`stem${a.stem.width}k${a.stem.kernel}`];
  for (const s of a.stages) {
    const t = s.type === "inverted" ? `inverted-t${s.expansion}` : s.type;
    parts.push(`${t}${s.width}k${s.kernel}x${s.depth}${s.downsample === "none" ? "" : `/${s.downsample}`}`);
  }
  parts.push([a.head.pool, ...a.head.hidden.map((h) => `fc${h}`)].join(" "));
  return parts.join(" | ");
}

/** Hand-designed reference points of the space, written as genomes (multiplier gene values all `mult`). */
export const NAS_REFERENCE_NETWORKS = ["lenet5", "resnet8", "resnet20", "mobilenetv2"] as const;
export type NasReferenceNetwork = (typeof NAS_REFERENCE_NETWORKS)[number];

interface StageChoice { type: NasBlockType; kernel: number; depth: number; width: number; downsample: NasDownsample; expansion?: number }

/** The genome of an architecture given by its choices (every multiplier gene `mult`), repaired. */
export function encodeArchitecture(space: NasSpace, a: { stemWidth: number; stemKernel: number; stages: StageChoice[]; pool: NasHeadPool; hidden: number[] }, mult = 0): number[] {
  const idx = <T>(xs: readonly T[], v: T, what: string): number => {
    const i = xs.indexOf(v);
    if (i < 0) throw new AxnnError(`${String(v)} is not one of ${xs.join(", ")}`, { field: what });
    return i;
  };
  if (a.stages.length < 1 || a.stages.length > NAS_MAX_STAGES) throw new AxnnError(`expected 1 to ${NAS_MAX_STAGES} stages, got ${a.stages.length}`, { field: "stages" });
  if (a.hidden.length > 2) throw new AxnnError(`expected at most 2 hidden dense layers, got ${a.hidden.length}`, { field: "hidden" });
  const card = geneCardinalities(space);
  const g = card.map((c) => Math.min(mult, c - 1));
  g[G_STAGES] = a.stages.length - 1;
  g[G_STEM_WIDTH] = idx(NAS_WIDTHS, a.stemWidth as (typeof NAS_WIDTHS)[number], "stem width");
  g[G_STEM_KERNEL] = idx(NAS_KERNELS, a.stemKernel as 3 | 5, "stem kernel");
  a.stages.forEach((s, i) => {
    const base = stageBase(i);
    if (s.depth < 1 || s.depth > NAS_MAX_DEPTH) throw new AxnnError(`expected a depth of 1 to ${NAS_MAX_DEPTH}, got ${s.depth}`, { field: `stage ${i + 1}` });
    g[base + S_TYPE] = idx(NAS_BLOCK_TYPES, s.type, "block type");
    g[base + S_KERNEL] = idx(NAS_KERNELS, s.kernel as 3 | 5, "kernel");
    g[base + S_DEPTH] = s.depth - 1;
    g[base + S_WIDTH] = idx(NAS_WIDTHS, s.width as (typeof NAS_WIDTHS)[number], "width");
    g[base + S_DOWN] = idx(NAS_DOWNSAMPLES, s.downsample, "downsample");
    g[base + S_EXP] = idx(NAS_EXPANSIONS, (s.expansion ?? 1) as 1 | 3 | 6, "expansion");
  });
  g[G_HEAD + H_POOL] = idx(NAS_HEAD_POOLS, a.pool, "head pool");
  g[G_HEAD + H_HIDDEN1] = idx(NAS_HIDDEN, (a.hidden[0] ?? 0) as (typeof NAS_HIDDEN)[number], "hidden");
  g[G_HEAD + H_HIDDEN2] = idx(NAS_HIDDEN, (a.hidden[1] ?? 0) as (typeof NAS_HIDDEN)[number], "hidden");
  return repairGenome(space, g);
}

/**
 * The space's versions of hand-designed networks: LeNet-5 (conv5x5 6, pool, conv5x5 16, pool, fc 120,
 * 84; with BatchNorm and "same" padding), the CIFAR ResNet-8 and ResNet-20 (16/32/64, 1 or 3 basic
 * blocks per stage, stride-2 downsampling, option-A shortcuts), and a three-stage MobileNetV2
 * (stem 32, inverted residuals t=1 16, t=6 24 stride, t=6 32 stride).
 */
export function referenceGenome(space: NasSpace, name: NasReferenceNetwork, mult = 0): number[] {
  switch (name) {
    case "lenet5":
      return encodeArchitecture(space, {
        stemWidth: 6, stemKernel: 5, pool: "maxpool", hidden: [120, 84],
        stages: [{ type: "plain", kernel: 5, depth: 1, width: 16, downsample: "maxpool" }],
      }, mult);
    case "resnet8":
    case "resnet20": {
      const depth = name === "resnet8" ? 1 : 3;
      return encodeArchitecture(space, {
        stemWidth: 16, stemKernel: 3, pool: "gap", hidden: [],
        stages: [
          { type: "residual", kernel: 3, depth, width: 16, downsample: "none" },
          { type: "residual", kernel: 3, depth, width: 32, downsample: "stride" },
          { type: "residual", kernel: 3, depth, width: 64, downsample: "stride" },
        ],
      }, mult);
    }
    case "mobilenetv2":
      return encodeArchitecture(space, {
        stemWidth: 32, stemKernel: 3, pool: "gap", hidden: [],
        stages: [
          { type: "inverted", kernel: 3, depth: 1, width: 16, downsample: "none", expansion: 1 },
          { type: "inverted", kernel: 3, depth: 2, width: 24, downsample: "stride", expansion: 6 },
          { type: "inverted", kernel: 3, depth: 3, width: 32, downsample: "stride", expansion: 6 },
        ],
      }, mult);
  }
}
