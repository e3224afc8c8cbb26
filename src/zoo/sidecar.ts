import { existsSync, readFileSync, rmSync } from "node:fs";
import { z } from "zod";
import { AxnnError } from "../util/errors.js";
import { checkSchema, parseJson } from "../util/json.js";
import { writeFileAtomic } from "../util/fs.js";
import type { Model } from "../nn/graph.js";
import { approximableLayers } from "../nn/analysis.js";
import { exportOnnx } from "../onnx/export.js";
import { loadOnnx } from "../onnx/import.js";
import { CALIBRATION_METHODS, type CalibrationOptions } from "../quant/calibrate.js";
import type { QuantParams, QuantScheme } from "../quant/params.js";
import type { MultiplierAssignment } from "../multipliers/assignment.js";

/**
 * What an ONNX file cannot say about an axnn model: its quantization settings and which multiplier
 * each layer uses. exportOnnx writes no metadata_props (and loadOnnx reads none), so this lives in a
 * sidecar JSON file next to the model, `<model>.axnn.json` for `<model>.onnx`:
 *
 *   {"format": "axnn-model-sidecar", "version": 1,
 *    "quantization": {"scheme": "sym", "perChannel": true, "bits": 8,
 *                     "calibration": {"method": "percentile", "percentile": 99.99}, "weightCalibration": "minmax",
 *                     "activations": {"<layer>": {"scale": 0.02, "zeroPoint": 0, "qmin": -128, "qmax": 127}}},
 *    "multipliers": {"default": "<multiplier>", "layers": {"<layer>": "<multiplier>"}},
 *    "input": {"normalize": "standard"},
 *    "zoo": {"name": "resnet20", "options": {...}}}
 *
 * Every section is optional. "multipliers" has the format of a --mult-config file
 * (src/multipliers/assignment.ts). "input.normalize" is the pixel normalisation the model was
 * trained with (a --normalize spec). Layer names are checked against the model's approximable layers.
 * `axnn train` and `axnn finetune` write it; `axnn eval`, `axnn sensitivity` and `axnn energy net`
 * take their defaults from it.
 */
export interface ModelQuantization {
  scheme: QuantScheme;
  perChannel: boolean;
  /** Integer width of activations and weights (default 8). */
  bits?: number;
  calibration?: CalibrationOptions;
  weightCalibration?: "minmax" | "mse";
  /** Calibrated input parameters per approximable layer, when the model has been calibrated. */
  activations?: Record<string, QuantParams>;
}

export interface ModelSidecar {
  quantization?: ModelQuantization;
  multipliers?: MultiplierAssignment;
  /** How the model's input is prepared from the dataset's pixels. */
  input?: { normalize: string };
  /** How the model was built, when it came from the zoo (free-form options, kept as given). */
  zoo?: { name: string; options?: Record<string, unknown> };
}

export const SIDECAR_FORMAT = "axnn-model-sidecar";
export const SIDECAR_VERSION = 1;

/** `dir/m.onnx` -> `dir/m.axnn.json` (any other name: the name plus `.axnn.json`). */
export function sidecarPath(onnxPath: string): string {
  return (onnxPath.toLowerCase().endsWith(".onnx") ? onnxPath.slice(0, -5) : onnxPath) + ".axnn.json";
}

const finite = z.number().finite();
const int = z.number().int();
const quantParamsSchema = z.object({ scale: finite.positive(), zeroPoint: int, qmin: int, qmax: int }).strict()
  .refine((p) => p.qmin < p.qmax && p.zeroPoint >= p.qmin && p.zeroPoint <= p.qmax, { message: "expected qmin < qmax and qmin <= zeroPoint <= qmax" });

const sidecarSchema = z.object({
  format: z.literal(SIDECAR_FORMAT),
  version: z.literal(SIDECAR_VERSION),
  quantization: z.object({
    scheme: z.enum(["sym", "asym"]),
    perChannel: z.boolean(),
    bits: int.min(2).max(16).optional(),
    calibration: z.object({ method: z.enum(CALIBRATION_METHODS as [string, ...string[]]), percentile: finite.gt(50).max(100).optional() }).strict().optional(),
    weightCalibration: z.enum(["minmax", "mse"]).optional(),
    activations: z.record(z.string(), quantParamsSchema).optional(),
  }).strict().optional(),
  multipliers: z.object({ default: z.string().min(1).optional(), layers: z.record(z.string(), z.string().min(1)).optional() }).strict().optional(),
  input: z.object({ normalize: z.string().min(1) }).strict().optional(),
  zoo: z.object({ name: z.string().min(1), options: z.record(z.string(), z.unknown()).optional() }).strict().optional(),
}).strict();

/**
 * Parses sidecar JSON. `layerNames` (the model's approximable layers), when given, must contain
 * every layer the sidecar names. Errors name the file and the field.
 */
export function parseSidecar(text: string, file: string, layerNames?: readonly string[]): ModelSidecar {
  const d = checkSchema(sidecarSchema, parseJson(text, file), file, (issue, path) => {
    if (issue.code === "unrecognized_keys") return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    if (path === "format") return `expected "${SIDECAR_FORMAT}"`;
    if (path === "version") return `expected ${SIDECAR_VERSION} (the version this axnn reads)`;
    return undefined;
  });
  const out: ModelSidecar = {};
  if (d.quantization) {
    const q = d.quantization;
    out.quantization = { scheme: q.scheme, perChannel: q.perChannel };
    if (q.bits !== undefined) out.quantization.bits = q.bits;
    if (q.calibration) out.quantization.calibration = { method: q.calibration.method as CalibrationOptions["method"], ...(q.calibration.percentile !== undefined ? { percentile: q.calibration.percentile } : {}) };
    if (q.weightCalibration) out.quantization.weightCalibration = q.weightCalibration;
    if (q.activations) out.quantization.activations = q.activations;
  }
  if (d.multipliers) out.multipliers = { default: d.multipliers.default ?? "exact", layers: d.multipliers.layers ?? {}, file };
  if (d.input) out.input = { normalize: d.input.normalize };
  if (d.zoo) out.zoo = d.zoo.options ? { name: d.zoo.name, options: d.zoo.options } : { name: d.zoo.name };
  if (layerNames) checkSidecarLayers(out, layerNames, file);
  return out;
}

/** Every layer named by the multiplier assignment or the activation parameters must be one of `layerNames`. */
export function checkSidecarLayers(s: ModelSidecar, layerNames: readonly string[], file?: string): void {
  const known = new Set(layerNames);
  const named: [string, string[]][] = [
    ["multipliers.layers", Object.keys(s.multipliers?.layers ?? {})],
    ["quantization.activations", Object.keys(s.quantization?.activations ?? {})],
  ];
  for (const [section, names] of named) {
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length > 0) {
      throw new AxnnError(
        `unknown layer${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `"${n}"`).join(", ")}; the model's approximable layers are: ${layerNames.join(", ")}`,
        { file, field: `${section}.${unknown[0]}` },
      );
    }
  }
}

/** The JSON text of a sidecar (stable key order, two-space indent). */
export function formatSidecar(s: ModelSidecar): string {
  const doc: Record<string, unknown> = { format: SIDECAR_FORMAT, version: SIDECAR_VERSION };
  if (s.quantization) doc.quantization = s.quantization;
  if (s.multipliers) doc.multipliers = { default: s.multipliers.default, layers: s.multipliers.layers };
  if (s.input) doc.input = s.input;
  if (s.zoo) doc.zoo = s.zoo;
  return JSON.stringify(doc, null, 2) + "\n";
}

/**
 * Writes the model as float ONNX to `onnxPath` and, when `sidecar` is given, its sidecar next to it
 * (layer names checked first). Without one, a stale sidecar from an earlier save is removed, so a
 * reload never pairs the new model with old settings.
 */
export function saveModel(onnxPath: string, model: Model, sidecar?: ModelSidecar): void {
  const side = sidecarPath(onnxPath);
  if (sidecar) checkSidecarLayers(sidecar, approximableLayers(model).map((l) => l.name), side);
  writeFileAtomic(onnxPath, exportOnnx(model));
  if (sidecar) writeFileAtomic(side, formatSidecar(sidecar));
  else rmSync(side, { force: true });
}

/** Loads an ONNX model and, when `<model>.axnn.json` exists, its sidecar (validated against the model's layers). */
export function loadModel(onnxPath: string): { model: Model; sidecar?: ModelSidecar; sidecarFile?: string } {
  const model = loadOnnx(onnxPath);
  const found = loadSidecar(onnxPath, approximableLayers(model).map((l) => l.name));
  return found ? { model, ...found } : { model };
}

/** The sidecar of the model file `onnxPath`, when there is one (layer names checked when given). */
export function loadSidecar(onnxPath: string, layerNames?: readonly string[]): { sidecar: ModelSidecar; sidecarFile: string } | undefined {
  const side = sidecarPath(onnxPath);
  if (!existsSync(side)) return undefined;
  let text: string;
  try {
    text = readFileSync(side, "utf8");
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: side });
  }
  return { sidecar: parseSidecar(text, side, layerNames), sidecarFile: side };
}

