import { Resvg } from "@resvg/resvg-js";
import { PNG } from "pngjs";

/** Encodes RGBA pixels (4 bytes per pixel, rows top to bottom) as a PNG file. */
export function encodePng(width: number, height: number, rgba: Uint8Array): Uint8Array {
  if (rgba.length !== width * height * 4) throw new Error(`RGBA buffer of ${rgba.length} bytes for a ${width}x${height} image`);
  const png = new PNG({ width, height, colorType: 6 });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return new Uint8Array(PNG.sync.write(png, { colorType: 6 }));
}

/** Decodes a PNG into its size and RGBA pixels. */
export function decodePng(bytes: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
}

export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString("base64")}`;
}

/**
 * Rasterises an SVG document with the system fonts (figures ask for DejaVu Sans).
 * `scale` multiplies the SVG's own width and height.
 */
export function svgToPng(svg: string, scale = 1): Uint8Array {
  const r = new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
    fitTo: scale === 1 ? { mode: "original" } : { mode: "zoom", value: scale },
    background: "#ffffff",
    // Nearest-neighbour scaling of embedded rasters: heat-map cells stay sharp squares.
    imageRendering: 1,
  });
  return new Uint8Array(r.render().asPng());
}
