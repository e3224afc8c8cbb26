/** Small helpers for hand-written SVG figures. */

/** Font stack of all figures: DejaVu Sans is what the PNG rasteriser finds on our systems. */
export const FIGURE_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

type AttrValue = string | number | undefined;

/** One element; attributes with undefined values are left out, numbers are rounded to 0.01. */
export function el(tag: string, attrs: Record<string, AttrValue>, children: string | string[] = ""): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === "number" ? fmtCoord(v) : escapeXml(v!)}"`)
    .join("");
  const body = Array.isArray(children) ? children.join("") : children;
  return body === "" ? `<${tag}${a}/>` : `<${tag}${a}>${body}</${tag}>`;
}

export function text(x: number, y: number, content: string, attrs: Record<string, AttrValue> = {}): string {
  return el("text", { x, y, ...attrs }, escapeXml(content));
}

function fmtCoord(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** "Nice" tick values (1, 2, 5 x 10^k steps) covering [lo, hi] with about `target` ticks. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return ticks;
}

/** A tick label: integers as such, others with few digits, a true minus sign. */
export function tickLabel(v: number): string {
  const s = Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  return s.replace(/^-/, "\u2212");
}

/** A number for a caption with `digits` significant digits ("0.0374", "12.3", "3100"). */
export function formatSig(v: number, digits = 3): string {
  if (v === 0) return "0";
  const abs = Math.abs(v);
  if (abs >= 10 ** digits) return tickLabel(Math.round(v));
  return tickLabel(Number(v.toPrecision(digits)));
}

/** Wraps a body into a standalone SVG document of the given size, white background. */
export function svgDocument(width: number, height: number, body: string[], title: string): string {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>\n`,
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${escapeXml(FIGURE_FONT)}">`,
    el("title", {}, escapeXml(title)),
    el("rect", { x: 0, y: 0, width, height, fill: "#ffffff" }),
    ...body,
    `</svg>\n`,
  ].join("");
}
