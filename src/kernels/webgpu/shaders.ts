// WGSL compute shaders of the WebGPU backend: one convolution shader per arithmetic (table,
// exact int8 / uint8 products, float32), one invocation per output element, the loop nest and
// padding of conv2dIntReference / conv2dFloatReference (src/kernels/reference.ts). Dense layers
// run as 1x1 convolutions of a 1x1 image. i32 additions wrap in WGSL, as the CPU's int32
// accumulators do, so integer results are bit for bit the reference's.

/** The order of params[]: the geometry (geometryArray's), then the pad value, weightBits, output count, dispatch width. */
export const PARAM_COUNT = 22;

export type ConvKind = "lut" | "exact-signed" | "exact-unsigned" | "float";

function convShader(kind: ConvKind): string {
  const float = kind === "float";
  const elem = float ? "f32" : "i32";
  const read = float
    ? `fn act(i: u32) -> f32 { return input[i]; }
fn wgt(i: u32) -> f32 { return weights[i]; }`
    : `fn byteOf(word: u32, i: u32) -> u32 { return (word >> ((i & 3u) * 8u)) & 0xffu; }
fn act(i: u32) -> u32 { return byteOf(input[i >> 2u], i); }
fn wgt(i: u32) -> u32 { return byteOf(weights[i >> 2u], i); }`;
  const pad = float ? "bitcast<f32>(params[18])" : "params[18]";
  const step = kind === "lut" ? "acc = acc + table[(a << params[19]) | w];"
    : kind === "exact-signed" ? "acc = acc + (bitcast<i32>(a << 24u) >> 24u) * (bitcast<i32>(w << 24u) >> 24u);"
    : kind === "exact-unsigned" ? "acc = acc + bitcast<i32>(a * w);"
    : "acc = acc + a * w;";
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> params: array<u32, ${PARAM_COUNT}>;
@group(0) @binding(1) var<storage, read> input: array<${float ? "f32" : "u32"}>;
@group(0) @binding(2) var<storage, read> weights: array<${float ? "f32" : "u32"}>;
@group(0) @binding(3) var<storage, read> table: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<${elem}>;
${read}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params[21];
  if (idx >= params[20]) { return; }
  let C = params[1]; let H = params[2]; let W = params[3]; let M = params[4];
  let R = params[5]; let S = params[6]; let groups = params[7];
  let sh = params[8]; let sw = params[9]; let pt = i32(params[10]); let pl = i32(params[11]);
  let dh = params[14]; let dw = params[15]; let P = params[16]; let Q = params[17];
  let q = idx % Q; var t = idx / Q; let p = t % P; t = t / P; let m = t % M; let n = t / M;
  let Cg = C / groups; let Mg = M / groups; let group = m / Mg;
  var acc: ${elem} = ${float ? "0.0" : "0"};
  for (var cl = 0u; cl < Cg; cl++) {
    let c = group * Cg + cl;
    for (var r = 0u; r < R; r++) {
      let y = i32(p * sh + r * dh) - pt;
      for (var s = 0u; s < S; s++) {
        let x = i32(q * sw + s * dw) - pl;
        var a = ${pad};
        if (y >= 0 && y < i32(H) && x >= 0 && x < i32(W)) { a = act(((n * C + c) * H + u32(y)) * W + u32(x)); }
        let w = wgt(((m * Cg + cl) * R + r) * S + s);
        ${step}
      }
    }
  }
  out[idx] = acc;
}
`;
}

export const CONV_KINDS: readonly ConvKind[] = ["lut", "exact-signed", "exact-unsigned", "float"];
export const shaderSource = convShader;
