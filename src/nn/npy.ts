import { readFileSync } from "node:fs";
import { AxnnError } from "../util/errors.js";
import { checkLimit } from "../util/limits.js";
import { writeFileAtomic } from "../util/fs.js";
import { sizeOf, type Tensor } from "./tensor.js";
import { halfToFloat } from "../util/float16.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** Element types read (converted to float32): little-endian floats, signed/unsigned integers, bool. */
const READERS: Record<string, { bytes: number; get: (v: DataView, o: number) => number }> = {
  f4: { bytes: 4, get: (v, o) => v.getFloat32(o, true) },
  f8: { bytes: 8, get: (v, o) => v.getFloat64(o, true) },
  f2: { bytes: 2, get: (v, o) => halfToFloat(v.getUint16(o, true)) },
  i1: { bytes: 1, get: (v, o) => v.getInt8(o) },
  u1: { bytes: 1, get: (v, o) => v.getUint8(o) },
  b1: { bytes: 1, get: (v, o) => v.getUint8(o) },
  i2: { bytes: 2, get: (v, o) => v.getInt16(o, true) },
  u2: { bytes: 2, get: (v, o) => v.getUint16(o, true) },
  i4: { bytes: 4, get: (v, o) => v.getInt32(o, true) },
  u4: { bytes: 4, get: (v, o) => v.getUint32(o, true) },
  i8: { bytes: 8, get: (v, o) => Number(v.getBigInt64(o, true)) },
  u8: { bytes: 8, get: (v, o) => Number(v.getBigUint64(o, true)) },
};

/** Parses a NumPy .npy file (format versions 1-3, C order) into a float32 tensor. */
export function parseNpy(bytes: Uint8Array, file = "<npy>"): Tensor {
  const bad = (msg: string): never => {
    throw new AxnnError(msg, { file });
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) bad("not a NumPy .npy file (no \\x93NUMPY magic)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  if (major < 1 || major > 3) bad(`unsupported .npy format version ${major}`);
  const headerLen = major === 1 ? view.getUint16(8, true) : bytes.length >= 12 ? view.getUint32(8, true) : bad("truncated header");
  const headerStart = major === 1 ? 10 : 12;
  if (headerStart + headerLen > bytes.length) bad("truncated header");
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) bad(`cannot parse the header ${JSON.stringify(header.trim())}`);
  if (fortran === "True") bad("Fortran-order arrays are not supported; save with np.ascontiguousarray");
  const shape = shapeText!.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) bad(`bad shape (${shapeText})`);
  const m = /^([<>|=])([a-z])(\d+)$/.exec(descr!);
  const kind = m ? `${m[2]}${m[3]}` : "";
  const reader = READERS[kind];
  if (!m || !reader || (m[1] === ">" && reader.bytes > 1)) {
    bad(`unsupported dtype '${descr}'; expected little-endian float (f2/f4/f8), integer or bool`);
  }
  const n = sizeOf(shape);
  checkLimit("tensorElements", n, `the header's shape (${shape.join(", ")}) claims an array too large to read`, { file });
  const start = headerStart + headerLen;
  const need = n * reader!.bytes;
  if (bytes.length - start < need) bad(`truncated data: shape (${shape.join(", ")}) of ${descr} needs ${need} bytes, the file has ${bytes.length - start}`);
  const data = new Float32Array(n);
  if (kind === "f4" && (view.byteOffset + start) % 4 === 0) {
    data.set(new Float32Array(bytes.buffer, bytes.byteOffset + start, n));
  } else {
    for (let i = 0; i < n; i++) data[i] = reader!.get(view, start + i * reader!.bytes);
  }
  return { shape, data };
}

export function readNpy(file: string): Tensor {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
  return parseNpy(bytes, file);
}

/** Serialises a tensor as a version 1.0 .npy file of little-endian float32. */
export function encodeNpy(t: Tensor): Uint8Array {
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  // The whole preamble (magic, version, length, header, newline) is padded to a multiple of 64 bytes.
  const unpadded = 10 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + t.data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const view = new DataView(out.buffer);
  const start = 10 + header.length;
  for (let i = 0; i < t.data.length; i++) view.setFloat32(start + 4 * i, t.data[i]!, true);
  return out;
}

export function writeNpy(file: string, t: Tensor): void {
  writeFileAtomic(file, encodeNpy(t));
}
