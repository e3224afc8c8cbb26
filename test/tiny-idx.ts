// A tiny two-class image problem as IDX files, and a tiny CNN for it (CLI tests of train/eval).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeIdxUint8 } from "../src/data/idx.js";
import { ModelBuilder } from "../src/nn/builder.js";
import { writeOnnx } from "../src/onnx/index.js";
import { uniformRandom } from "../src/util/random.js";

/**
 * n noisy 6x6 images, class 0 bright on top and class 1 bright at the bottom (alternating), written
 * to dir/img.idx and dir/lab.idx. Returns the `--data` spec and the raw arrays.
 */
export function writeTwoClassIdx(dir: string, n: number, seed: number): { data: string; images: Uint8Array; labels: Uint8Array } {
  const rand = uniformRandom(seed);
  const images = new Uint8Array(n * 36), labels = new Uint8Array(n);
  for (let s = 0; s < n; s++) {
    labels[s] = s % 2;
    for (let p = 0; p < 36; p++) images[s * 36 + p] = Math.floor(((p < 18) === (s % 2 === 0) ? 120 : 30) + rand() * 100);
  }
  writeFileSync(join(dir, "img.idx"), encodeIdxUint8([n, 6, 6], images));
  writeFileSync(join(dir, "lab.idx"), encodeIdxUint8([n], labels));
  return { data: `idx:${join(dir, "img.idx")},${join(dir, "lab.idx")}`, images, labels };
}

/** conv 3x3 (outChannels) + ReLU + dense 2 + softmax on [N, 1, 6, 6] input "x", written as ONNX to `file`. */
export function writeTinyCnn(file: string, outChannels: number): void {
  const b = new ModelBuilder("tiny", { seed: 2 });
  const x = b.input("x", [null, 1, 6, 6]);
  b.output(b.softmax(b.dense(b.flatten(b.relu(b.conv2d(x, { outChannels, kernel: 3 }))), { outFeatures: 2 })));
  writeOnnx(file, b.build());
}
