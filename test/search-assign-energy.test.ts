// `search assign` with energies from a predictor or the MAC sum instead of the energy model, and
// the QAT fine-tuning of the front (--finetune-front).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convLayer, layerMacs, layersFromModel, type NetworkLayer } from "../src/energy/network.js";
import { loadOnnx } from "../src/onnx/import.js";
import type { DatasetRow } from "../src/predict/dataset.js";
import { designConstants, EnergyPredictors, savePredictors, trainPredictors } from "../src/predict/predictors.js";
import { runEvaluation } from "../src/eval/evaluate.js";
import { choiceEnergy, prepareAssignment, searchAssignment } from "../src/search/index.js";
import { isAxnnError } from "../src/util/errors.js";
import { writeTinyCnn, writeTwoClassIdx } from "./tiny-idx.js";

const MULTS = ["trunc_k8_u8x8", "drum_k3_u8x8", "bam_h3_v9_u8x8"];
const SMALL = { validationSize: 48, calibrationSize: 32, testLimit: 48, mapperEvaluations: 200 };

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), "axnn-assign-energy-"));
  const { data } = writeTwoClassIdx(dir, 160, 5);
  const model = join(dir, "tiny.onnx");
  writeTinyCnn(model, 4);
  return { dir, data, model };
}

/** Synthetic training rows of the predictor: these layers (and scaled copies), memory energy 3 pJ per MAC plus 1e-4 per MAC squared. */
function rowsOf(layers: NetworkLayer[]): DatasetRow[] {
  const { macPj } = designConstants("eyeriss");
  return [1, 2, 3, 4, 5, 6].map((scale, i) => {
    const records = layers.map((l) => {
      const layer = { ...l, outChannels: l.outChannels * scale };
      const macs = layerMacs(layer);
      const computePj = macs * macPj;
      return { layer, multiplier: "exact", powerRatio: 1, macs, energyPj: macs * (3 + 1e-4 * macs) + computePj, computePj };
    });
    const sum = (k: "macs" | "energyPj" | "computePj") => records.reduce((s, r) => s + r[k], 0);
    return {
      id: `row-${i}`, arch: "eyeriss", family: "fixed", base: "tiny", seed: 1, index: i, macs: sum("macs"), energyPj: sum("energyPj"), computePj: sum("computePj"), multiplierPj: 0,
      distinctShapes: records.length, searchMs: 1, evalMs: 1, referenceMs: 2, measuredMs: 1, maxEvaluations: 10, layers: records,
    };
  });
}

test("search assign --energy sum and --energy predictor: each layer and multiplier priced once, sums equal to the predictor on the whole network", () => {
  const { dir, data, model } = fixture();
  try {
    const layers = layersFromModel(loadOnnx(model), { inputShape: [1, 1, 6, 6] });
    const { macPj, multiplierShare: share } = designConstants("eyeriss");

    const sum = prepareAssignment({ model, data, multipliers: MULTS, energy: "sum", ...SMALL });
    const ratios = [1, ...sum.candidates.map((c) => c.powerRatio)];
    assert.ok(ratios.slice(1).every((r) => r < 1), "every candidate saves power");
    layers.forEach((l, i) => {
      const macs = layerMacs(l);
      ratios.forEach((r, k) => {
        assert.ok(Math.abs(sum.energyPj[i]![k]! - macs * macPj * (1 - share + share * r)) <= 1e-9 * sum.energyPj[i]![k]!);
        assert.ok(Math.abs(sum.multiplierPj[i]![k]! - macs * macPj * share * r) <= 1e-9 * sum.multiplierPj[i]![k]!);
      });
    });
    assert.equal(sum.exact.energyPj, choiceEnergy(sum, [0, 0]).energyPj);
    assert.equal(sum.energySource, "sum");

    // A predictor trained on (scaled copies of) this network's layers: inside its domain.
    const file = join(dir, "predictor.json");
    savePredictors(file, trainPredictors(rowsOf(layers), { trees: 5 }));
    const learned = EnergyPredictors.load(file);
    const status: string[] = [];
    const p = prepareAssignment({ model, data, multipliers: MULTS, energy: "predictor", predictor: file, onStatus: (s) => status.push(s), ...SMALL });
    assert.equal(p.predictorDomain?.inside, true);
    assert.ok(!status.some((s) => /outside/.test(s)), status.join("\n"));
    for (let a = 0; a <= MULTS.length; a++) {
      for (let b = 0; b <= MULTS.length; b++) {
        const whole = learned.learned("eyeriss", [{ layer: layers[0]!, powerRatio: ratios[a]! }, { layer: layers[1]!, powerRatio: ratios[b]! }]);
        const e = choiceEnergy(p, [a, b]).energyPj;
        assert.ok(Math.abs(e - whole) <= 1e-9 * whole, `choice ${a},${b}: ${e} vs ${whole}`);
      }
    }

    // A predictor trained on much larger layers: the search warns, as `axnn predict energy` does, and records it.
    const far = join(dir, "far.json");
    savePredictors(far, trainPredictors(rowsOf([convLayer("big", { inChannels: 64, outChannels: 64, inSize: 32, kernel: 3 })]), { trees: 5 }));
    const warned: string[] = [];
    const q = prepareAssignment({ model, data, multipliers: MULTS, energy: "predictor", predictor: far, onStatus: (s) => warned.push(s), ...SMALL });
    assert.equal(q.predictorDomain?.inside, false);
    assert.ok(warned.some((s) => /^warning: learned: layer conv\w*: .* is outside the training range/.test(s)), warned.join("\n"));

    const fails = (o: object, re: RegExp) => assert.throws(() => prepareAssignment({ model, data, multipliers: MULTS, ...SMALL, ...o }), (e) => isAxnnError(e) && re.test(e.message));
    fails({ energy: "predictor" }, /--energy predictor needs --predictor FILE/);
    fails({ energy: "model", predictor: file }, /--predictor is only used with --energy predictor/);
    fails({ energy: "guess" }, /--energy: expected model, predictor or sum, got "guess"/);
    fails({ energy: "predictor", predictor: join(dir, "none.json") }, /none\.json.*no such file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("search assign --finetune-front: each front member retrained, before and after as axnn eval measures them, and resumed without retraining", async () => {
  const { dir, data, model } = fixture();
  try {
    const out = join(dir, "out");
    const opts = { model, data, multipliers: MULTS, outDir: out, seed: 2, budget: 8, populationSize: 4, baselines: false, energy: "sum" as const, finetuneFront: { epochs: 1, trainSamples: 64 }, ...SMALL };
    const r = await searchAssignment(opts);
    assert.ok(r.front.length > 0);
    for (const [i, pt] of r.front.entries()) {
      const ft = pt.finetune!;
      assert.equal(ft.model, `finetuned/member-${String(i + 1).padStart(2, "0")}.onnx`);
      assert.ok(existsSync(join(out, ft.model)));
      // The model as written, evaluated as `axnn eval` would (its sidecar names the multipliers), gives the reported "after".
      const after = runEvaluation({ model: join(out, ft.model), data, limit: SMALL.testLimit, seed: 2, calibrationSize: SMALL.calibrationSize });
      assert.equal(after.approx_top1, ft.after_test_top1);
      const before = runEvaluation({ model, data, multConfig: join(out, `configs/member-${String(i + 1).padStart(2, "0")}.json`), limit: SMALL.testLimit, seed: 2, calibrationSize: SMALL.calibrationSize });
      assert.equal(before.approx_top1, ft.before_test_top1);
    }
    // Resumed: the records are read back, nothing retrained (a retraining would rewrite the models).
    const written = r.front.map((pt) => statSync(join(out, pt.finetune!.model)).mtimeMs);
    const again = await searchAssignment({ ...opts, resume: true });
    assert.deepEqual(again.front.map((pt) => pt.finetune), r.front.map((pt) => pt.finetune));
    assert.deepEqual(again.front.map((pt) => statSync(join(out, pt.finetune!.model)).mtimeMs), written);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
