import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/nn/tensor.js";
import { quantizeModel, type LayerArithmetic } from "../src/quant/model.js";
import { plannedRunner } from "../src/plan/runner.js";
import { uniformRandom } from "../src/util/random.js";
import { approximateTop1, candidateArithmetic } from "../src/search/nas/candidate.js";
import { buildNetwork } from "../src/search/nas/network.js";
import { decodeGenome, describeArchitecture, geneCardinalities, repairGenome, type NasSpace } from "../src/search/nas/space.js";

// Candidates are scored on compiled execution plans; the reference engine (QuantizedModel.run) is the
// obviously-correct twin: same logits bit for bit, same top-1, over random architectures of the space
// (plain, residual, separable and inverted blocks, every head) with mixed multipliers.
test("nas candidate: top-1 on compiled plans equals the reference engine's, logits bit for bit", () => {
  const spaces: NasSpace[] = [
    { inputShape: [1, 12, 12], classes: 5, multipliers: ["exact", "drum_k4_u8x8", "trunc_k6c_u8x8"] },
    { inputShape: [3, 10, 10], classes: 4, multipliers: ["drum_k4_u8x8", "exact"] },
  ];
  const random = uniformRandom(11);
  const kinds = new Set<string>();
  let projections = 0;
  for (let i = 0; i < 20; i++) {
    const space = spaces[i % 2]!;
    const genome = repairGenome(space, geneCardinalities(space).map((c) => Math.floor(random() * c)));
    const arch = decodeGenome(space, genome);
    const name = describeArchitecture(arch);
    for (const k of ["residual", "separable", "inverted", "plain"]) if (name.includes(k)) kinds.add(k);
    const model = buildNetwork(arch, { seed: i });
    // A projection shortcut: an Add of two convolutions (the plan fuses it into one of them only).
    if (model.nodes.some((n) => n.name.endsWith(".proj"))) projections++;
    const rng = new Rng(100 + i);
    const calib = [{ input: rng.uniformTensor([8, ...space.inputShape], -1, 1) }];
    const { arithmetic, quant } = candidateArithmetic(arch);
    const q = quantizeModel(model, calib, quant);
    const x = rng.uniformTensor([7, ...space.inputShape], -1.2, 1.2);
    const run = new Map<string, LayerArithmetic>(arithmetic);
    const out = model.outputs[0]!;
    const reference = q.run({ input: x }, run)[out]!;
    const planned = plannedRunner(q, run)({ input: x })[out]!;
    assert.deepEqual(planned.shape, reference.shape, name);
    assert.deepEqual(Array.from(planned.data), Array.from(reference.data), `logits of ${name}`);
    const batches = {
      batches: [0, 1].map((b) => ({ input: rng.uniformTensor([b === 0 ? 16 : 5, ...space.inputShape], -1, 1), labels: Uint8Array.from({ length: b === 0 ? 16 : 5 }, () => Math.floor(random() * space.classes)) })),
      count: 21,
    };
    assert.equal(approximateTop1(q, arithmetic, batches), approximateTop1(q, arithmetic, batches, { reference: true }), `top-1 of ${name}`);
  }
  assert.ok(projections >= 2, `${projections} networks with a projection shortcut`);
  assert.deepEqual([...kinds].sort(), ["inverted", "plain", "residual", "separable"], "the sample covered every block type");
});
