import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { exactMultiplier, multiplierFromFunction, multiply, type Multiplier } from "../src/multipliers/multiplier.js";
import { readTfapprox } from "../src/multipliers/tfapprox.js";
import { divergingColor, FIGURE_PNG_SCALE, heatmapCellCenter, multiplierFigures, writeMultiplierFigures } from "../src/report/multiplier-figures.js";
import { niceTicks } from "../src/report/svg.js";
import { needsSharedData, SHARED_LUT_DIR } from "./shared.js";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height the root <svg> element declares. */
function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg);
  assert.ok(root, "has an <svg> element");
  const width = Number(/\bwidth="([\d.]+)"/.exec(root[0])?.[1]);
  const height = Number(/\bheight="([\d.]+)"/.exec(root[0])?.[1]);
  return { width, height };
}

/** Crude well-formedness: every opened element is closed in order (enough for our flat SVG). */
function assertBalancedTags(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `closing </${name}>`);
    else stack.push(name!);
  }
  assert.deepEqual(stack, []);
}

function pixel(png: PNG, x: number, y: number): [number, number, number] {
  const i = (Math.round(y) * png.width + Math.round(x)) * 4;
  return [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
}

/** An 8x8 multiplier exact except for a large error where a > 200 and w < 55 (asymmetric, to catch transposition). */
const patched: Multiplier = multiplierFromFunction("patched_u8x8", (a, w) => (a > 200 && w < 55 ? a * w - 5000 : a * w));

test("figures are well-formed SVG with the name and the metrics in the title", () => {
  const f = multiplierFigures(patched);
  for (const svg of [f.heatmapSvg, f.histogramSvg]) {
    assert.ok(svg.includes("<svg"));
    assert.ok(svg.includes("xmlns=\"http://www.w3.org/2000/svg\""));
    assert.ok(svg.includes("patched_u8x8"));
    assertBalancedTags(svg);
  }
  // 55 x 55 erroneous pairs of 65,536 have error 5000: MAE% = 55*55*5000/65536/65536*100.
  const maePct = (55 * 55 * 5000 * 100) / 65536 / 65536;
  assert.ok(f.heatmapSvg.includes(`MAE ${Number(maePct.toPrecision(3))} %`), "MAE% in the heat-map title");
  assert.ok(f.heatmapSvg.includes(`WCE ${Number(((5000 * 100) / 65536).toPrecision(3))} %`), "WCE% in the heat-map title");
  assert.ok(f.heatmapSvg.includes("activation a (port B)") && f.heatmapSvg.includes("weight w (port A)"));
});

test("PNGs have the PNG signature and twice the SVG size; a zero-error cell and a large-error cell differ in colour", () => {
  const f = multiplierFigures(patched);
  for (const [svg, png] of [[f.heatmapSvg, f.heatmapPng], [f.histogramSvg, f.histogramPng]] as const) {
    assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
    const decoded = PNG.sync.read(Buffer.from(png));
    const size = svgSize(svg);
    assert.equal(decoded.width, size.width * FIGURE_PNG_SCALE);
    assert.equal(decoded.height, size.height * FIGURE_PNG_SCALE);
  }
  const heat = PNG.sync.read(Buffer.from(f.heatmapPng));
  const at = (a: number, w: number) => {
    const c = heatmapCellCenter(patched, a, w);
    return pixel(heat, c.x * FIGURE_PNG_SCALE, c.y * FIGURE_PNG_SCALE);
  };
  const zeroCell = at(20, 230);
  const errorCell = at(230, 20);
  assert.equal(multiply(patched, 20, 230), 20 * 230);
  assert.equal(multiply(patched, 230, 20), 230 * 20 - 5000);
  // Zero error is the neutral light middle of the map, the worst negative error its dark blue end.
  const near = (p: number[], q: number[]) => p.every((v, i) => Math.abs(v - q[i]!) <= 3);
  assert.ok(near(zeroCell, divergingColor(0)), `zero-error cell ${zeroCell}`);
  assert.ok(near(errorCell, divergingColor(-1)), `large-error cell ${errorCell}`);
  assert.ok(!near(zeroCell, errorCell));
});

test("signed 8x4 heat map has 16 weight columns labelled with values and port B for the weight", () => {
  const m = multiplierFromFunction("s8x4", (a, w) => a * w + (w === -8 ? 1 : 0), { signed: true, weightBits: 4 });
  const f = multiplierFigures(m);
  assert.ok(f.heatmapSvg.includes("weight w (port B)") && f.heatmapSvg.includes("activation a (port A)"));
  assert.ok(f.heatmapSvg.includes(">\u22128<") && f.heatmapSvg.includes(">7<") && f.heatmapSvg.includes(">\u2212128<"));
  const heat = PNG.sync.read(Buffer.from(f.heatmapPng));
  // Only the w = -8 column errs (+1, the worst positive error): dark red; its neighbour is neutral.
  const c8 = heatmapCellCenter(m, 10, -8), c7 = heatmapCellCenter(m, 10, -7);
  assert.ok(pixel(heat, c8.x * FIGURE_PNG_SCALE, c8.y * FIGURE_PNG_SCALE).every((v, i) => Math.abs(v - divergingColor(1)[i]!) <= 3));
  assert.ok(pixel(heat, c7.x * FIGURE_PNG_SCALE, c7.y * FIGURE_PNG_SCALE).every((v, i) => Math.abs(v - divergingColor(0)[i]!) <= 3));
});

test("an exact multiplier still draws (all cells neutral, one histogram bar)", () => {
  const f = multiplierFigures(exactMultiplier(false, 8));
  assert.ok(f.heatmapSvg.includes("MAE 0 %"));
  const heat = PNG.sync.read(Buffer.from(f.heatmapPng));
  const c = heatmapCellCenter(exactMultiplier(false, 8), 100, 100);
  assert.ok(pixel(heat, c.x * FIGURE_PNG_SCALE, c.y * FIGURE_PNG_SCALE).every((v, i) => Math.abs(v - divergingColor(0)[i]!) <= 3));
});

test("writeMultiplierFigures writes the four files atomically and returns their paths", needsSharedData, () => {
  const m = readTfapprox(join(SHARED_LUT_DIR, "mul8u_JQQ.bin"));
  const dir = join(mkdtempSync(join(tmpdir(), "axnn-fig-")), "nested");
  const paths = writeMultiplierFigures(m, dir);
  assert.deepEqual(paths, ["error-heatmap.svg", "error-heatmap.png", "error-histogram.svg", "error-histogram.png"].map((n) => join(dir, n)));
  // writeFileAtomic leaves no temporary files behind and creates missing directories.
  assert.deepEqual(readdirSync(dir).sort(), ["error-heatmap.png", "error-heatmap.svg", "error-histogram.png", "error-histogram.svg"]);
  assert.deepEqual([...readFileSync(paths[1]!).subarray(0, 8)], PNG_SIGNATURE);
  assert.ok(readFileSync(paths[0]!, "utf8").includes("mul8u_JQQ"));
  // Writing again renames new files over the old ones (new inodes) instead of rewriting them in place.
  const inodes = paths.map((p) => statSync(p).ino);
  writeMultiplierFigures(m, dir);
  paths.forEach((p, i) => assert.notEqual(statSync(p).ino, inodes[i], `${p} replaced by rename`));
});

test("nice ticks cover the range with 1-2-5 steps and include zero", () => {
  assert.deepEqual(niceTicks(-79, 79, 8), [-60, -40, -20, 0, 20, 40, 60]);
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
});
