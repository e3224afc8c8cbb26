// From a decoded genome to a network: the float model (src/nn ModelBuilder, as the zoo builds its
// networks), its approximable layers as the energy model sees them (computed from the architecture
// alone, without building: what the energy predictor prices during the search), and its per-layer
// multiplier assignment.
import { ModelBuilder } from "../../nn/builder.js";
import type { Model } from "../../nn/graph.js";
import { makeTensor } from "../../nn/tensor.js";
import { convLayer, denseLayer, depthwiseLayer, layerOutputSize, type NetworkLayer } from "../../energy/network.js";
import type { MultiplierAssignment } from "../../multipliers/assignment.js";
import { BN_EPSILON } from "../../zoo/common.js";
import { type NasArchitecture, type NasStage } from "./space.js";

/** Names of the layers in each slot of a block (see usedSlots), by block type. */
const SLOT_NAMES: Record<NasStage["type"], [string, string, string]> = {
  plain: ["conv", "", ""],
  separable: ["dw", "pw", ""],
  residual: ["conv1", "conv2", "proj"],
  inverted: ["expand", "dw", "project"],
};

const blockPrefix = (s: number, b: number) => `s${s + 1}.b${b + 1}`;

/**
 * Builds the float network of an architecture, He-uniform weights from `seed`, identity BatchNorms.
 * Stem: conv k x k + BN + ReLU. A stage: its downsampling (a 2x2 pool before its blocks, or stride 2
 * in its first block), then `depth` blocks: plain (conv + BN + ReLU), separable (depthwise + BN +
 * ReLU, pointwise + BN + ReLU), residual (conv-BN-ReLU-conv-BN plus the shortcut, ReLU; shortcut:
 * identity, or option A (1x1 stride-2 subsampling, zero channels padded) where the shape changes
 * and the width grows, else a 1x1 projection conv + BN) or inverted residual (MobileNetV2: expand
 * 1x1 + BN + ReLU6 unless t = 1, depthwise + BN + ReLU6, project 1x1 + BN, added to the input where
 * the shape allows). Head: global average pooling, flatten, or 2x2 max pooling and flatten; up to
 * two hidden dense layers with ReLU; the classifier "fc".
 */
export function buildNetwork(a: NasArchitecture, opts: { seed?: number; name?: string; zeroWeights?: boolean } = {}): Model {
  const b = new ModelBuilder(opts.name ?? "nas", { seed: opts.seed ?? 1 });
  const [c, h, w] = a.inputShape;
  // Zero weights: the structure alone, for callers that set the weights themselves or only need shapes (drawing He-uniform weights dominates a build).
  const zeros = (shape: number[]) => (opts.zeroWeights ? makeTensor(shape) : undefined);
  const bn = (x: string, name: string) => b.batchNorm(x, { name: `${name}.bn`, epsilon: BN_EPSILON });
  const conv = (x: string, name: string, outChannels: number, kernel: number, stride = 1) =>
    bn(b.conv2d(x, { outChannels, kernel, stride, padding: (kernel - 1) / 2, bias: false, name, weight: zeros([outChannels, b.shapeOf(x)[1]!, kernel, kernel]) }), name);
  const dw = (x: string, name: string, kernel: number, stride = 1) =>
    bn(b.depthwiseConv2d(x, { kernel, stride, padding: (kernel - 1) / 2, bias: false, name, weight: zeros([b.shapeOf(x)[1]!, 1, kernel, kernel]) }), name);

  let x = b.relu(conv(b.input("input", [null, c, h, w]), "stem", a.stem.width, a.stem.kernel), "stem.relu");
  let channels = a.stem.width;
  a.stages.forEach((st, s) => {
    if (st.downsample === "maxpool") x = b.maxPool(x, { kernel: 2, name: `s${s + 1}.pool` });
    if (st.downsample === "avgpool") x = b.avgPool(x, { kernel: 2, name: `s${s + 1}.pool` });
    for (let i = 0; i < st.depth; i++) {
      const p = blockPrefix(s, i);
      const names = SLOT_NAMES[st.type].map((n) => `${p}.${n}`);
      const stride = i === 0 && st.downsample === "stride" ? 2 : 1;
      const inC = channels;
      switch (st.type) {
        case "plain":
          x = b.relu(conv(x, names[0]!, st.width, st.kernel, stride), `${p}.relu`);
          break;
        case "separable":
          x = b.relu(dw(x, names[0]!, st.kernel, stride), `${p}.dw.relu`);
          x = b.relu(conv(x, names[1]!, st.width, 1), `${p}.pw.relu`);
          break;
        case "residual": {
          let y = b.relu(conv(x, names[0]!, st.width, st.kernel, stride), `${p}.relu1`);
          y = conv(y, names[1]!, st.width, st.kernel);
          let shortcut = x;
          if (st.width < inC) {
            shortcut = conv(x, names[2]!, st.width, 1, stride);
          } else {
            if (stride !== 1) shortcut = b.maxPool(shortcut, { kernel: 1, stride, name: `${p}.shortcut.subsample` });
            if (st.width > inC) {
              const extra = st.width - inC, before = Math.floor(extra / 2);
              shortcut = b.pad(shortcut, [0, before, 0, 0, 0, extra - before, 0, 0], { name: `${p}.shortcut.pad` });
            }
          }
          x = b.relu(b.add(y, shortcut, `${p}.add`), `${p}.relu2`);
          break;
        }
        case "inverted": {
          const hidden = inC * st.expansion;
          let y = st.expansion === 1 ? x : b.relu6(conv(x, names[0]!, hidden, 1), `${p}.expand.relu6`);
          y = b.relu6(dw(y, names[1]!, st.kernel, stride), `${p}.dw.relu6`);
          y = conv(y, names[2]!, st.width, 1);
          x = stride === 1 && inC === st.width ? b.add(x, y, `${p}.add`) : y;
          break;
        }
      }
      channels = st.width;
    }
  });
  if (a.head.pool === "gap") x = b.globalAvgPool(x, "head.gap");
  if (a.head.pool === "maxpool") x = b.maxPool(x, { kernel: 2, name: "head.pool" });
  x = b.flatten(x, 1, "head.flatten");
  a.head.hidden.forEach((units, i) => {
    x = b.relu(b.dense(x, { outFeatures: units, name: `fc${i + 1}`, weight: zeros([units, b.shapeOf(x)[1]!]) }), `fc${i + 1}.relu`);
  });
  b.output(b.dense(x, { outFeatures: a.classes, name: "fc", weight: zeros([a.classes, b.shapeOf(x)[1]!]) }));
  return b.build();
}

/** One approximable layer of an architecture: its shape for the energy model and its multiplier. */
export interface NasLayer {
  layer: NetworkLayer;
  multiplier: string;
}

/**
 * The approximable layers of an architecture in execution order (the order buildNetwork creates
 * them, which is the order of macsPerLayer on the built model), computed from the architecture alone
 * with the energy model's layer constructors.
 */
export function architectureLayers(a: NasArchitecture): NasLayer[] {
  const out: NasLayer[] = [];
  let [h, w] = [a.inputShape[1], a.inputShape[2]];
  const push = (layer: NetworkLayer, multiplier: string): NetworkLayer => {
    out.push({ layer, multiplier });
    return layer;
  };
  const conv = (name: string, inC: number, outC: number, k: number, stride: number, m: string) => {
    const l = push(convLayer(name, { inChannels: inC, outChannels: outC, inSize: [h, w], kernel: k, stride }), m);
    [h, w] = layerOutputSize(l);
  };
  const dw = (name: string, ch: number, k: number, stride: number, m: string) => {
    const l = push(depthwiseLayer(name, { inChannels: ch, inSize: [h, w], kernel: k, stride }), m);
    [h, w] = layerOutputSize(l);
  };
  conv("stem", a.inputShape[0], a.stem.width, a.stem.kernel, 1, a.stem.multiplier);
  let channels = a.stem.width;
  a.stages.forEach((st, s) => {
    if (st.downsample === "maxpool" || st.downsample === "avgpool") [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
    for (let i = 0; i < st.depth; i++) {
      const p = blockPrefix(s, i);
      const names = SLOT_NAMES[st.type].map((n) => `${p}.${n}`);
      const m = st.multipliers[i]!;
      const stride = i === 0 && st.downsample === "stride" ? 2 : 1;
      const inC = channels;
      if (st.type === "plain") conv(names[0]!, inC, st.width, st.kernel, stride, m[0]!);
      if (st.type === "separable") {
        dw(names[0]!, inC, st.kernel, stride, m[0]!);
        conv(names[1]!, inC, st.width, 1, 1, m[1]!);
      }
      if (st.type === "residual") {
        const [inH, inW] = [h, w];
        conv(names[0]!, inC, st.width, st.kernel, stride, m[0]!);
        conv(names[1]!, st.width, st.width, st.kernel, 1, m[1]!);
        if (st.width < inC) {
          const [outH, outW] = [h, w];
          [h, w] = [inH, inW];
          conv(names[2]!, inC, st.width, 1, stride, m[2]!);
          [h, w] = [outH, outW];
        }
      }
      if (st.type === "inverted") {
        const hidden = inC * st.expansion;
        if (st.expansion !== 1) conv(names[0]!, inC, hidden, 1, 1, m[0]!);
        dw(names[1]!, hidden, st.kernel, stride, m[1]!);
        conv(names[2]!, hidden, st.width, 1, 1, m[2]!);
      }
      channels = st.width;
    }
  });
  let features = channels;
  if (a.head.pool === "flatten") features = channels * h * w;
  if (a.head.pool === "maxpool") features = channels * Math.floor(h / 2) * Math.floor(w / 2);
  a.head.hidden.forEach((units, i) => {
    push(denseLayer(`fc${i + 1}`, { inFeatures: features, outFeatures: units }), a.head.multipliers[i]!);
    features = units;
  });
  push(denseLayer("fc", { inFeatures: features, outFeatures: a.classes }), a.head.multipliers[2]!);
  return out;
}

/** The per-layer multipliers as a --mult-config assignment (every layer listed; default exact). */
export function architectureAssignment(a: NasArchitecture): MultiplierAssignment {
  const layers: Record<string, string> = {};
  for (const l of architectureLayers(a)) layers[l.layer.name] = l.multiplier;
  return { default: "exact", layers };
}

/** Trainable parameters of the built network: conv and dense weights, dense biases, BatchNorm scales and biases (convs have no bias). */
export function architectureParams(a: NasArchitecture): number {
  let n = 0;
  for (const { layer: l } of architectureLayers(a)) {
    n += l.outChannels * (l.inChannels / l.groups) * l.kernelH * l.kernelW;
    if (l.kind === "dense") n += l.outChannels;
    else n += 2 * l.outChannels; // BatchNorm scale and bias, what training learns besides the weights
  }
  return n;
}
