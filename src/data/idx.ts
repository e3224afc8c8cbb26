import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { AxnnError } from "../util/errors.js";
import { checkLimit, limitOf } from "../util/limits.js";

/**
 * IDX files (the MNIST format): two zero bytes, a type byte, the number of dimensions, then each
 * dimension as a big-endian uint32, then the data, big-endian. Gzipped files (`.gz`, or any file
 * starting with the gzip magic 1f 8b) are inflated first.
 */
export interface IdxArray {
  shape: number[];
  /** uint8 data stays a Uint8Array (images, labels); other types become a Float64Array. */
  data: Uint8Array | Float64Array;
  type: "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";
}

const TYPES: Record<number, { name: IdxArray["type"]; size: number }> = {
  0x08: { name: "uint8", size: 1 },
  0x09: { name: "int8", size: 1 },
  0x0b: { name: "int16", size: 2 },
  0x0c: { name: "int32", size: 4 },
  0x0d: { name: "float32", size: 4 },
  0x0e: { name: "float64", size: 8 },
};

export function parseIdx(bytes: Uint8Array, file = "<idx>"): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: limitOf("inflatedBytes") });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") checkLimit("inflatedBytes", Infinity, "the gzip data inflates past its size limit", { file });
      throw new AxnnError(`gzip data is corrupt or truncated (${(e as Error).message})`, { file });
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new AxnnError("not an IDX file (expected two zero bytes, a type byte and a dimension count)", { file });
  const type = TYPES[bytes[2]!];
  if (!type) throw new AxnnError(`unknown IDX data type 0x${bytes[2]!.toString(16).padStart(2, "0")}; expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e`, { file });
  const rank = bytes[3]!;
  if (rank === 0) throw new AxnnError("IDX file with 0 dimensions", { file });
  const headerSize = 4 + 4 * rank;
  if (bytes.length < headerSize) throw new AxnnError(`truncated IDX header: ${rank} dimensions need ${headerSize} bytes, the file has ${bytes.length}`, { file });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_v, i) => view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  checkLimit("tensorElements", count, `the header's shape [${shape.join(", ")}] claims an array too large to read`, { file });
  const need = headerSize + count * type.size;
  if (bytes.length < need) throw new AxnnError(`truncated IDX data: shape [${shape.join(", ")}] of ${type.name} needs ${need} bytes, the file has ${bytes.length}`, { file });
  if (type.name === "uint8") return { shape, data: bytes.slice(headerSize, need), type: type.name };
  const data = new Float64Array(count);
  for (let i = 0, o = headerSize; i < count; i++, o += type.size) {
    switch (type.name) {
      case "int8": data[i] = view.getInt8(o); break;
      case "int16": data[i] = view.getInt16(o, false); break;
      case "int32": data[i] = view.getInt32(o, false); break;
      case "float32": data[i] = view.getFloat32(o, false); break;
      default: data[i] = view.getFloat64(o, false);
    }
  }
  return { shape, data, type: type.name };
}

export function readIdx(file: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
  return parseIdx(bytes, file);
}

/** Encodes an IDX file (uint8 data only), for tests and exports. */
export function encodeIdxUint8(shape: readonly number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * shape.length);
  return out;
}
