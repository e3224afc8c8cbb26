// Figures. svg.ts holds internal drawing helpers (import it directly for new figures).
export * from "./multiplier-figures.js";
export { decodePng, encodePng, svgToPng } from "./png.js";
export * from "./html.js";
export * from "./charts.js";
export * from "./multiplier-report.js";
