import { join } from "node:path";
import { writeFileAtomic } from "../util/fs.js";
import { ACTIVATION_BITS, portRoles, tableIndex, encodeOperand, type Multiplier } from "../multipliers/multiplier.js";
import { errorHistogram, errorMatrix, errorMetrics, type ErrorMetrics } from "../multipliers/metrics.js";
import { el, formatSig, niceTicks, svgDocument, text, tickLabel } from "./svg.js";
import { encodePng, pngDataUri, svgToPng } from "./png.js";

/** PNGs are rendered at this multiple of the SVG size (crisp when printed at the SVG size). */
export const FIGURE_PNG_SCALE = 2;

export interface MultiplierFigures {
  heatmapSvg: string;
  heatmapPng: Uint8Array;
  histogramSvg: string;
  histogramPng: Uint8Array;
}

/**
 * ColorBrewer RdBu (11 classes), from most negative (dark blue) through the neutral
 * light grey of zero to most positive (dark red): diverging and readable in greyscale.
 */
const DIVERGING_STOPS: [number, number, number][] = [
  [0x05, 0x30, 0x61], [0x21, 0x66, 0xac], [0x43, 0x93, 0xc3], [0x92, 0xc5, 0xde], [0xd1, 0xe5, 0xf0],
  [0xf7, 0xf7, 0xf7],
  [0xfd, 0xdb, 0xc7], [0xf4, 0xa5, 0x82], [0xd6, 0x60, 0x4d], [0xb2, 0x18, 0x2b], [0x67, 0x00, 0x1f],
];

/** Colour of `t` in [-1, 1] (clamped) on the diverging map; 0 is the neutral middle. */
export function divergingColor(t: number): [number, number, number] {
  const x = ((Math.max(-1, Math.min(1, t)) + 1) / 2) * (DIVERGING_STOPS.length - 1);
  const k = Math.min(DIVERGING_STOPS.length - 2, Math.floor(x));
  const f = x - k;
  const a = DIVERGING_STOPS[k]!, b = DIVERGING_STOPS[k + 1]!;
  return [0, 1, 2].map((c) => Math.round(a[c]! + (b[c]! - a[c]!) * f)) as [number, number, number];
}

const hex = (rgb: [number, number, number]): string => `#${rgb.map((c) => c.toString(16).padStart(2, "0")).join("")}`;

/** Operand values in axis order (ascending) for one operand of `bits` bits. */
function valueRange(bits: number, signed: boolean): { min: number; max: number } {
  return signed ? { min: -(1 << (bits - 1)), max: (1 << (bits - 1)) - 1 } : { min: 0, max: (1 << bits) - 1 };
}

// Heat-map layout, in SVG user units (px).
const HM = { left: 88, top: 78, plot: 512, barGap: 26, barWidth: 18, width: 760, height: 660 };

/** Centre of the heat-map cell of operand values (act, weight), in SVG units. */
export function heatmapCellCenter(m: Multiplier, act: number, weight: number): { x: number; y: number } {
  const a = valueRange(ACTIVATION_BITS, m.signed);
  const w = valueRange(m.weightBits, m.signed);
  const cellW = HM.plot / (1 << m.weightBits), cellH = HM.plot / (1 << ACTIVATION_BITS);
  // Activation grows upwards, weight to the right, like the axes of a plot of a*w.
  return { x: HM.left + (weight - w.min + 0.5) * cellW, y: HM.top + (a.max - act + 0.5) * cellH };
}

/** Tick values on an operand axis: every value when few, else quarters and both ends. */
function operandTicks(min: number, max: number): number[] {
  const count = max - min + 1;
  if (count <= 8) return Array.from({ length: count }, (_, i) => min + i);
  const step = count / 4;
  const ticks = [0, 1, 2, 3].map((k) => min + k * step);
  ticks.push(max);
  return ticks;
}

function titleLines(m: Multiplier, metrics: ErrorMetrics, what: string): string[] {
  const kind = `${m.signed ? "signed" : "unsigned"} 8\u00d7${m.weightBits}`;
  const caption = `${kind} \u00b7 MAE ${formatSig(metrics.mae_pct)} % \u00b7 WCE ${formatSig(metrics.wce_pct)} % \u00b7 EP ${formatSig(metrics.ep_pct)} % \u00b7 MRE ${formatSig(metrics.mre_pct)} %`;
  return [`${m.name}: ${what}`, caption];
}

function titleBlock(lines: string[], centreX: number): string[] {
  return [
    text(centreX, 30, lines[0]!, { "text-anchor": "middle", "font-size": 18, "font-weight": "bold", fill: "#111" }),
    text(centreX, 53, lines[1]!, { "text-anchor": "middle", "font-size": 13.5, fill: "#333" }),
  ];
}

/** Raster of the error cells: one pixel per operand pair, activation rows top = largest value. */
function heatmapRaster(m: Multiplier, err: Int32Array, limit: number): Uint8Array {
  const nW = 1 << m.weightBits;
  const a = valueRange(ACTIVATION_BITS, m.signed);
  const w = valueRange(m.weightBits, m.signed);
  const rgba = new Uint8Array(nW * 256 * 4);
  let p = 0;
  for (let row = 0; row < 256; row++) {
    const actCode = encodeOperand(a.max - row, ACTIVATION_BITS);
    for (let col = 0; col < nW; col++) {
      const e = err[tableIndex(actCode, encodeOperand(w.min + col, m.weightBits), m.weightBits)]!;
      const [r, g, b] = divergingColor(e / limit);
      rgba[p++] = r; rgba[p++] = g; rgba[p++] = b; rgba[p++] = 255;
    }
  }
  return encodePng(nW, 256, rgba);
}

export function heatmapSvg(m: Multiplier, metrics: ErrorMetrics = errorMetrics(m)): string {
  const err = errorMatrix(m);
  let limit = 0;
  for (const e of err) limit = Math.max(limit, Math.abs(e));
  if (limit === 0) limit = 1;
  const roles = portRoles(m.weightBits);
  const aR = valueRange(ACTIVATION_BITS, m.signed);
  const wR = valueRange(m.weightBits, m.signed);
  const { left, top, plot } = HM;
  const bottom = top + plot, right = left + plot;
  const body: string[] = [];
  body.push(...titleBlock(titleLines(m, metrics, "error of the product (approx \u2212 exact)"), left + plot / 2 + 30));

  body.push(el("image", {
    x: left, y: top, width: plot, height: plot, preserveAspectRatio: "none",
    "image-rendering": "optimizeSpeed", style: "image-rendering:pixelated",
    "xlink:href": pngDataUri(heatmapRaster(m, err, limit)),
  }));
  body.push(el("rect", { x: left, y: top, width: plot, height: plot, fill: "none", stroke: "#222", "stroke-width": 1 }));

  // Axes: ticks at cell centres.
  for (const v of operandTicks(wR.min, wR.max)) {
    const x = heatmapCellCenter(m, aR.min, v).x;
    body.push(el("line", { x1: x, y1: bottom, x2: x, y2: bottom + 6, stroke: "#222", "stroke-width": 1 }));
    body.push(text(x, bottom + 22, tickLabel(v), { "text-anchor": "middle", "font-size": 13, fill: "#222" }));
  }
  for (const v of operandTicks(aR.min, aR.max)) {
    const y = heatmapCellCenter(m, v, wR.min).y;
    body.push(el("line", { x1: left - 6, y1: y, x2: left, y2: y, stroke: "#222", "stroke-width": 1 }));
    body.push(text(left - 10, y + 4.5, tickLabel(v), { "text-anchor": "end", "font-size": 13, fill: "#222" }));
  }
  body.push(text(left + plot / 2, bottom + 48, `weight w (port ${roles.weight})`, { "text-anchor": "middle", "font-size": 15, fill: "#111" }));
  body.push(text(0, 0, `activation a (port ${roles.activation})`, { transform: `translate(${left - 56} ${top + plot / 2}) rotate(-90)`, "text-anchor": "middle", "font-size": 15, fill: "#111" }));

  // Colour bar: the same stops as the cells, linearly interpolated, so colours match exactly.
  const barX = right + HM.barGap;
  // Top of the bar is the most positive error; stop offsets must increase.
  const stops = [...DIVERGING_STOPS].reverse().map((c, i) => el("stop", { offset: `${(100 * i) / (DIVERGING_STOPS.length - 1)}%`, "stop-color": hex(c) }));
  body.push(el("defs", {}, el("linearGradient", { id: "errbar", x1: 0, y1: 0, x2: 0, y2: 1 }, stops)));
  body.push(el("rect", { x: barX, y: top, width: HM.barWidth, height: plot, fill: "url(#errbar)", stroke: "#222", "stroke-width": 1 }));
  for (const v of niceTicks(-limit, limit, 8).filter(Number.isInteger)) {
    const y = top + ((limit - v) / (2 * limit)) * plot;
    body.push(el("line", { x1: barX + HM.barWidth, y1: y, x2: barX + HM.barWidth + 5, y2: y, stroke: "#222", "stroke-width": 1 }));
    body.push(text(barX + HM.barWidth + 9, y + 4.5, tickLabel(v), { "font-size": 13, fill: "#222" }));
  }
  body.push(text(0, 0, "error (approx \u2212 exact)", { transform: `translate(${HM.width - 16} ${top + plot / 2}) rotate(-90)`, "text-anchor": "middle", "font-size": 15, fill: "#111" }));
  return svgDocument(HM.width, HM.height, body, `${m.name}: error heat map`);
}

// Histogram layout.
const HG = { left: 88, top: 78, plotW: 600, plotH: 340, width: 720, height: 500 };

export function histogramSvg(m: Multiplier, metrics: ErrorMetrics = errorMetrics(m)): string {
  const h = errorHistogram(m);
  const { left, top, plotW, plotH } = HG;
  const bottom = top + plotH;
  const body: string[] = [];
  const lines = titleLines(m, metrics, "distribution of the error (uniform operands)");
  // Bias and RMSE belong with the histogram; in the caption they never cover a bar.
  lines[1] += ` \u00b7 bias ${formatSig(metrics.bias)} \u00b7 RMSE ${formatSig(Math.sqrt(metrics.mse))}`;
  body.push(...titleBlock(lines, HG.width / 2));

  // x in error units; bin k covers integer errors start + k*w ... start + (k+1)*w - 1.
  let x0 = h.start - 0.5, x1 = h.start + h.counts.length * h.binWidth - 0.5;
  // Show at least 21 error values, so that a few bars do not fill the whole width.
  const pad = Math.max(0, (21 - (x1 - x0)) / 2);
  x0 -= Math.ceil(pad);
  x1 += Math.ceil(pad);
  const xs = (v: number) => left + ((v - x0) / (x1 - x0)) * plotW;
  // y: share of operand pairs in %, log scale from the decade below the smallest share.
  let minShare = 100;
  for (const c of h.counts) if (c > 0) minShare = Math.min(minShare, (100 * c) / h.total);
  // At least two decades, so that a single 100 % bar (an exact multiplier) still has an axis.
  const yLo = Math.min(0, Math.floor(Math.log10(minShare) + 1e-9)), yHi = 2;
  const ys = (share: number) => bottom - ((Math.log10(share) - yLo) / (yHi - yLo)) * plotH;

  for (let d = yLo; d <= yHi; d++) {
    const y = ys(10 ** d);
    body.push(el("line", { x1: left, y1: y, x2: left + plotW, y2: y, stroke: "#e3e3e3", "stroke-width": 1 }));
    body.push(el("line", { x1: left - 6, y1: y, x2: left, y2: y, stroke: "#222", "stroke-width": 1 }));
    body.push(text(left - 10, y + 4.5, tickLabel(Number((10 ** d).toPrecision(1))), { "text-anchor": "end", "font-size": 13, fill: "#222" }));
  }
  for (let k = 0; k < h.counts.length; k++) {
    const c = h.counts[k]!;
    if (c === 0) continue;
    const lo = h.start + k * h.binWidth, hi = lo + h.binWidth - 1;
    const colour = hi < 0 ? "#2166ac" : lo > 0 ? "#b2182b" : "#4d4d4d";
    const xa = xs(lo - 0.5), xb = xs(hi + 0.5);
    const gap = xb - xa > 4 ? 0.6 : 0;
    body.push(el("rect", { x: xa + gap, y: ys((100 * c) / h.total), width: Math.max(0.8, xb - xa - 2 * gap), height: bottom - ys((100 * c) / h.total), fill: colour }));
  }
  body.push(el("rect", { x: left, y: top, width: plotW, height: plotH, fill: "none", stroke: "#222", "stroke-width": 1 }));
  // Errors are integers: no fractional ticks.
  for (const v of niceTicks(x0, x1, 7).filter(Number.isInteger)) {
    const x = xs(v);
    body.push(el("line", { x1: x, y1: bottom, x2: x, y2: bottom + 6, stroke: "#222", "stroke-width": 1 }));
    body.push(text(x, bottom + 22, tickLabel(v), { "text-anchor": "middle", "font-size": 13, fill: "#222" }));
  }
  const binNote = h.binWidth > 1 ? ` \u2014 bins of ${h.binWidth}` : "";
  body.push(text(left + plotW / 2, bottom + 48, `error (approx \u2212 exact)${binNote}`, { "text-anchor": "middle", "font-size": 15, fill: "#111" }));
  body.push(text(0, 0, "share of operand pairs (%)", { transform: `translate(${left - 62} ${top + plotH / 2}) rotate(-90)`, "text-anchor": "middle", "font-size": 15, fill: "#111" }));
  return svgDocument(HG.width, HG.height, body, `${m.name}: error histogram`);
}

/** Heat map of the error over all operand pairs and histogram of the signed error, as SVG and PNG. */
export function multiplierFigures(m: Multiplier): MultiplierFigures {
  const metrics = errorMetrics(m);
  const hm = heatmapSvg(m, metrics);
  const hg = histogramSvg(m, metrics);
  return { heatmapSvg: hm, heatmapPng: svgToPng(hm, FIGURE_PNG_SCALE), histogramSvg: hg, histogramPng: svgToPng(hg, FIGURE_PNG_SCALE) };
}

/** Writes error-heatmap.svg/.png and error-histogram.svg/.png into `dir`; returns their paths. */
export function writeMultiplierFigures(m: Multiplier, dir: string): string[] {
  const f = multiplierFigures(m);
  const files: [string, string | Uint8Array][] = [
    ["error-heatmap.svg", f.heatmapSvg],
    ["error-heatmap.png", f.heatmapPng],
    ["error-histogram.svg", f.histogramSvg],
    ["error-histogram.png", f.histogramPng],
  ];
  return files.map(([name, data]) => {
    const path = join(dir, name);
    writeFileAtomic(path, data);
    return path;
  });
}
