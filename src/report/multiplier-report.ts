import { join } from "node:path";
import { writeFileAtomic } from "../util/fs.js";
import type { Characterisation } from "../multipliers/characterise.js";
import type { ResolvedMultiplier } from "../multipliers/resolve.js";
import { writeVerilog } from "../multipliers/netlist/verilog-write.js";
import { multiplierFigures } from "./multiplier-figures.js";
import { renderHtmlReport, type ReportBlock } from "./html.js";

/**
 * `axnn mult show`: a directory with the metrics as JSON, the error heat map and histogram
 * (SVG and PNG), the netlist when there is one, and a self-contained report.html.
 */
export function writeMultiplierReport(r: ResolvedMultiplier, c: Characterisation, dir: string): string[] {
  const m = r.multiplier;
  const fig = multiplierFigures(m);
  const written: string[] = [];
  const put = (name: string, data: string | Uint8Array): void => {
    const path = join(dir, name);
    writeFileAtomic(path, data);
    written.push(path);
  };
  put("metrics.json", JSON.stringify(c, null, 2) + "\n");
  put("error-heatmap.svg", fig.heatmapSvg);
  put("error-heatmap.png", fig.heatmapPng);
  put("error-histogram.svg", fig.histogramSvg);
  put("error-histogram.png", fig.histogramPng);
  if (r.netlist) put(`${m.name}.v`, r.verilogText ?? writeVerilog(r.netlist));

  const metricRows: [string, number | string | undefined][] = [
    ["MAE", c.mae], ["MAE %", c.mae_pct], ["WCE", c.wce], ["WCE %", c.wce_pct], ["MRE %", c.mre_pct],
    ["WCRE %", c.wcre_pct], ["EP %", c.ep_pct], ["MSE", c.mse], ["bias (mean signed error)", c.bias],
  ];
  const costRows: [string, number | string | undefined][] = [
    ["published power (mW)", c.power_mw], ["published area (um2)", c.area_um2], ["published delay (ns)", c.delay_ns],
    ["estimated power (mW)", c.power_estimate], ["estimated area (um2)", c.area_estimate_um2],
  ];
  const blocks: ReportBlock[] = [
    {
      kind: "paragraph",
      text: `${m.signed ? "Signed" : "Unsigned"} 8x${m.weightBits} multiplier, table hash ${c.hash}, source: ${m.meta.source}` +
        `${m.meta.description ? ` (${m.meta.description})` : ""}${m.meta.aliases?.length ? `; also known as ${m.meta.aliases.join(", ")}` : ""}.`,
    },
    { kind: "heading", text: "Error metrics (uniform operands, EvoApproxLib definitions)" },
    { kind: "table", columns: ["metric", "value"], rows: metricRows.filter(([, v]) => v !== undefined).map(([k, v]) => [k, v!]) },
    { kind: "heading", text: "Hardware cost" },
    {
      kind: "table",
      columns: ["figure", "value"],
      rows: costRows.filter(([, v]) => v !== undefined).map(([k, v]) => [k, v!]),
      caption: c.power_estimate_detail
        ? `Estimate: ${c.power_estimate_detail.stimulus}, ${c.power_estimate_detail.samples} samples at ${c.power_estimate_detail.frequency_MHz} MHz, ${c.power_estimate_detail.library}`
        : undefined,
    },
  ];
  if (c.gates) blocks.push({ kind: "table", columns: ["cell / gate", "count"], rows: Object.entries(c.gates), caption: "Gate counts after removing unused and constant logic" });
  blocks.push(
    { kind: "heading", text: "Error of every operand pair" },
    { kind: "figure", svg: fig.heatmapSvg, caption: "approx - exact for every (activation, weight) pair" },
    { kind: "figure", svg: fig.histogramSvg, caption: "Distribution of the error over all operand pairs" },
  );
  if (m.meta.reference) blocks.push({ kind: "paragraph", text: `Reference: ${m.meta.reference}` });
  put("report.html", renderHtmlReport(`Multiplier ${m.name}`, blocks));
  return written;
}
