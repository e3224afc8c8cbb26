import { readFileSync } from "node:fs";
import { dataPath } from "../util/paths.js";
import { lutHash, type Multiplier } from "./multiplier.js";

/**
 * One EvoApproxLib circuit as published (45 nm PDK figures and error metrics), from the
 * built-in catalogue data/evoapprox-catalogue.json. Names are not stable across library
 * versions, so `hash` (lutHash of its table) is the identity; `aliases` lists the names of
 * the same table in other versions.
 */
export interface EvoApproxEntry {
  name: string;
  signed: boolean;
  version: string;
  hash: string;
  powerMw: number;
  areaUm2: number;
  delayNs: number;
  maePct: number;
  wcePct: number;
  mrePct: number;
  epPct: number;
  wcrePct: number;
  maeAbs: number;
  wceAbs: number;
  mseAbs: number;
  paretoSubsets: string[];
  aliases: string[];
  verilogPath?: string;
  pdk45VerilogPath?: string;
}

let cached: EvoApproxEntry[] | undefined;

export function evoApproxCatalogue(): EvoApproxEntry[] {
  cached ??= JSON.parse(readFileSync(dataPath("evoapprox-catalogue.json"), "utf8")) as EvoApproxEntry[];
  return cached;
}

/** Published entries whose table has this hash (one per library version that has it). */
export function evoApproxByHash(hash: string): EvoApproxEntry[] {
  return evoApproxCatalogue().filter((e) => e.hash === hash);
}

/** The published entry of this name, newest library version first (names are reused across versions). */
export function evoApproxByName(name: string, version?: string): EvoApproxEntry | undefined {
  const order = ["v2022", "master", "v1.0"];
  return evoApproxCatalogue()
    .filter((e) => e.name === name && (version === undefined || e.version === version))
    .sort((a, b) => order.indexOf(a.version) - order.indexOf(b.version))[0];
}

/**
 * Published entries for a multiplier's table. The signed hashes of the shared EvoApproxLib
 * metrics were computed with port A as the row (the transpose of the TFApprox orientation
 * that the unsigned hashes and axnn use; seen on the six asymmetric mul8s circuits of
 * v1.0), so a signed 8x8 table also matches by the hash of its transpose.
 */
export function evoApproxMatches(m: Multiplier): EvoApproxEntry[] {
  const direct = evoApproxByHash(lutHash(m));
  if (direct.length > 0 || !m.signed || m.weightBits !== 8) return direct;
  return evoApproxByHash(lutHash(transposed(m)));
}

function transposed(m: Multiplier): Multiplier {
  const t = new Int32Array(m.table.length);
  for (let a = 0; a < 256; a++) for (let w = 0; w < 256; w++) t[w * 256 + a] = m.table[a * 256 + w]!;
  return { ...m, table: t };
}
