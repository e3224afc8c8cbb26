import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { svgToPng } from "./png.js";

/**
 * Charts are Vega-Lite specifications rendered headless to SVG (Vega's own SVG renderer,
 * no canvas or browser needed) and rasterised to PNG with resvg.
 */
export type ChartSpec = TopLevelSpec;

const CONFIG = {
  font: "DejaVu Sans",
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#e6e6e6" },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, subtitleFontSize: 11, anchor: "start" as const },
  view: { stroke: "#888" },
};

export async function chartSvg(spec: ChartSpec): Promise<string> {
  const withConfig = { ...spec, config: { ...CONFIG, ...(spec as { config?: object }).config } } as ChartSpec;
  const view = new vega.View(vega.parse(compile(withConfig).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function chart(spec: ChartSpec): Promise<{ svg: string; png: Uint8Array }> {
  const svg = await chartSvg(spec);
  return { svg, png: svgToPng(svg, 2) };
}
