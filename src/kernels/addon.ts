// The native addon (build/Release/axnn_native.node): loading it, and its run-time switches (GEMM
// backend, thread count; the ISA level is chosen through the backend registry, registry.ts).
// Without it, the kernels run the TypeScript reference kernels, after one warning on stderr.
// Semantics: docs/kernels.md.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { AxnnError } from "../util/errors.js";

export type IsaLevel = "avx512" | "avx512bw" | "avx2" | "neon" | "scalar";

// ---- the addon ----

export interface NativeAddon {
  convLut(input: Uint8Array, weights: Uint8Array, geometry: Int32Array, padCode: number, rows: Int32Array, rows16: Uint16Array, planes: Uint8Array, planeCount: number, min: number, out: Int32Array): void;
  convExact(input: Uint8Array, weights: Uint8Array, geometry: Int32Array, padCode: number, signed: boolean, out: Int32Array): void;
  convFloat(input: Float32Array, weights: Float32Array, geometry: Int32Array, padValue: number, out: Float32Array): void;
  denseLut(input: Uint8Array, weights: Uint8Array, dims: Int32Array, rows: Int32Array, rows16: Uint16Array, planes: Uint8Array, planeCount: number, min: number, out: Int32Array): void;
  denseExact(input: Uint8Array, weights: Uint8Array, dims: Int32Array, signed: boolean, out: Int32Array): void;
  denseFloat(input: Float32Array, weights: Float32Array, dims: Int32Array, out: Float32Array): void;
  gemmFloat(a: Float32Array, b: Float32Array, c: Float32Array, dims: Int32Array, transA: boolean, transB: boolean, accumulate: boolean): void;
  convFloatGemm(input: Float32Array, weights: Float32Array, geometry: Int32Array, out: Float32Array): void;
  channelMoments(input: Float32Array, dims: Int32Array, mean: Float64Array, variance: Float64Array): void;
  batchNormApply(input: Float32Array, dims: Int32Array, mean: Float64Array, invStd: Float64Array, scale: Float32Array, bias: Float32Array, out: Float32Array): void;
  batchNormBackward(input: Float32Array, outputGrad: Float32Array, dims: Int32Array, mean: Float64Array, invStd: Float64Array, scale: Float32Array, batchStats: boolean, dInput: Float32Array | null, dScale: Float32Array, dBias: Float32Array): void;
  reluFloat(input: Float32Array, out: Float32Array): void;
  addFloat(a: Float32Array, b: Float32Array, out: Float32Array): void;
  fakeQuantize(input: Float32Array, params: Float64Array, codes: Uint8Array, fake: Float32Array, mask: Uint8Array): void;
  minMaxFloat(input: Float32Array, out: Float64Array): void;
  dequantizeAcc(acc: Int32Array, dims: Int32Array, constant: Float64Array, scale: Float64Array, bias: Float64Array, zw: Int32Array, sums: Int32Array | null, hi: number, out: Float32Array): void;
  reluBackwardFloat(input: Float32Array, outputGrad: Float32Array, dInput: Float32Array): void;
  conv2dBackwardFloat(input: Float32Array, weights: Float32Array, outputGrad: Float32Array, geometry: Int32Array, dInput: Float32Array | null, dWeights: Float32Array | null, dBias: Float32Array | null): void;
  denseBackwardFloat(input: Float32Array, weights: Float32Array, outputGrad: Float32Array, dims: Int32Array, dInput: Float32Array | null, dWeights: Float32Array | null, dBias: Float32Array | null): void;
  gemmBackend(): "own" | "openblas";
  setGemmBackend(backend: string): void;
  openBlasStatus(): string;
  isaLevels(): IsaLevel[];
  getIsa(): IsaLevel;
  setIsa(level: string): IsaLevel;
  threads(): number;
  setLutAlgorithm(algorithm: string): void;
}

const ADDON_URL = new URL("../../../build/Release/axnn_native.node", import.meta.url);
let addonState: { addon: NativeAddon | null; error?: AxnnError } | undefined;

/** The addon, loaded on first use; null when disabled (AXNN_NO_NATIVE=1) or not built. The ISA level is the backend registry's (registry.ts). */
export function native(): NativeAddon | null {
  if (addonState) {
    if (addonState.error) throw addonState.error;
    return addonState.addon;
  }
  if (process.env.AXNN_NO_NATIVE === "1") {
    addonState = { addon: null };
    return null;
  }
  let addon: NativeAddon | null = null;
  try {
    addon = createRequire(import.meta.url)(fileURLToPath(ADDON_URL)) as NativeAddon;
  } catch (e) {
    process.stderr.write(`axnn: native kernels not available (${(e as Error).message.split("\n")[0]}); using the much slower TypeScript kernels. Build them with \`npm run build:native\` (needs a C++ compiler and Python).\n`);
  }
  addonState = { addon };
  const forcedBlas = process.env.AXNN_BLAS;
  if (addon && forcedBlas) {
    try {
      setGemmBackend(forcedBlas as "own" | "openblas");
    } catch (e) {
      // Every kernel call fails alike: a typo in AXNN_BLAS must not silently run something else.
      addonState.error = e as AxnnError;
      throw e;
    }
  }
  return addon;
}

/** Threads of the native kernels' pool (AXNN_THREADS, else one per hardware thread); 1 without the addon. */
export function kernelThreads(): number {
  return native()?.threads() ?? 1;
}

// ---- the GEMM of training ----

/** Which GEMM the backward kernels run on: axnn's own, OpenBLAS's cblas_sgemm (loaded at run time), or the TypeScript reference. */
export type GemmBackend = "own" | "openblas" | "typescript";

/**
 * The GEMM in use now. AXNN_BLAS=openblas|own selects one when the addon loads (an unknown value,
 * or openblas where it cannot be loaded, fails every kernel call); the default is "own", which
 * measured faster (docs/kernels.md).
 */
export function gemmBackend(): GemmBackend {
  return native()?.gemmBackend() ?? "typescript";
}

/** Whether OpenBLAS (libopenblas.so.0, else libblas.so.3) can be loaded by the native kernels. */
export function openBlasAvailable(): boolean {
  const addon = native();
  return addon !== null && addon.openBlasStatus() === "";
}

/** Selects the native GEMM (for tests and benchmarks); AxnnError when it cannot be used. */
export function setGemmBackend(backend: "own" | "openblas"): void {
  if (backend !== "own" && backend !== "openblas") throw new AxnnError(`unknown GEMM backend "${backend}"; expected own or openblas`, { field: "AXNN_BLAS" });
  const addon = native();
  if (!addon) throw new AxnnError(`cannot select GEMM backend ${backend}: the native kernels are not loaded`, { field: "AXNN_BLAS" });
  const why = addon.openBlasStatus();
  if (backend === "openblas" && why !== "") throw new AxnnError(`OpenBLAS is not available (${why}); install it (Debian: apt-get install libopenblas0-pthread)`, { field: "AXNN_BLAS" });
  addon.setGemmBackend(backend);
}

// ---- the LUT convolution algorithm ----

/**
 * How the native LUT convolutions are computed: "direct" (a table lookup per product), "planes"
 * (each input channel mapped once through the table row of each distinct weight code, then
 * sums of shifted transformed planes), "separable" (in compiled plans, an int16 GEMM of the
 * table's factors where the table is f(a) * g(w) (src/multipliers/separable.ts) and a group has
 * 8 or more output channels, exact int8 layers included; elsewhere as auto), or "auto" (the
 * default: separable where it applies, else per layer from its shapes and the ISA level's
 * measured costs). direct and planes never take the separable GEMM (exact int8 layers then run
 * their direct core). The results are identical; this is for tests and benchmarks.
 */
export type LutAlgorithm = "auto" | "direct" | "planes" | "separable";

/** Selects the LUT convolution algorithm of the native kernels (all ISA levels); AxnnError when unknown or without the addon. */
export function setLutAlgorithm(algorithm: LutAlgorithm): void {
  if (!["auto", "direct", "planes", "separable"].includes(algorithm)) throw new AxnnError(`unknown LUT algorithm "${algorithm}"; expected auto, direct, planes or separable`, { field: "algorithm" });
  const addon = native();
  if (!addon) throw new AxnnError(`cannot select LUT algorithm ${algorithm}: the native kernels are not loaded`, { field: "algorithm" });
  addon.setLutAlgorithm(algorithm);
}
