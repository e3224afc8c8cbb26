import { AxnnError } from "../util/errors.js";
import type { Architecture } from "./arch.js";
import { parseFactorList, parsePermutation } from "./arch.js";
import type { Problem } from "./problem.js";
import { checkKeys, expectArray, expectNumber, expectObject, expectString, isObject, parseYamlText } from "./yaml.js";
import { readFileSync } from "node:fs";

/** One loop: `for dim in [0:bound)`, temporal or spatial along the mesh's X or Y. */
export interface Loop {
  dim: number;
  bound: number;
  spatial?: "X" | "Y";
}

/** What one storage level of the architecture does: its loops (outermost first) and what it keeps. */
export interface LevelMapping {
  /** Temporal loops, outermost first. */
  temporal: Loop[];
  /** Spatial loops that fan this level's tile out to the next inner level, outermost first. */
  spatial: Loop[];
  /** keep[d]: this level stores data space d (else it bypasses it). */
  keep: boolean[];
}

/** A mapping: one entry per `arch.levels` entry, same order (outermost first). */
export interface Mapping {
  levels: LevelMapping[];
}

function emptyLevels(arch: Architecture, problem: Problem): LevelMapping[] {
  return arch.levels.map(() => ({ temporal: [], spatial: [], keep: problem.dataSpaces.map(() => false) }));
}

function dimIndex(problem: Problem, name: string, file: string, field: string, line?: number): number {
  const i = problem.dims.indexOf(name);
  if (i < 0) throw new AxnnError(`"${name}" is not a dimension of the problem (${problem.dims.join(", ")})`, { file, field, line });
  return i;
}

function levelIndex(arch: Architecture, name: string, file: string, field: string, line?: number): number {
  const i = arch.levels.findIndex((l) => l.name === name);
  if (i < 0) throw new AxnnError(`no storage level named "${name}" in the architecture (levels: ${arch.levels.map((l) => l.name).join(", ")})`, { file, field, line });
  return i;
}

const HEADER = /^\s*([A-Za-z_][\w.]*)\s*\[(.*)\]\s*$/;
const LOOP = /^[\s|]*for\s+([A-Za-z_]\w*)\s+in\s+\[0:(\d+)\)\s*(\(Spatial-([XY])\))?\s*$/;

/** Parses Timeloop's `map.txt` printout (the loop nest under each level's header). */
export function parseMapTxt(text: string, arch: Architecture, problem: Problem, file: string): Mapping {
  const levels = emptyLevels(arch, problem);
  let current = -1;
  let sawCompute = false;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/\s+$/, "");
    const lineNo = i + 1;
    if (line.trim() === "" || /^\s*-+\s*$/.test(line)) return;
    if (/<<\s*Compute\s*>>/.test(line)) {
      sawCompute = true;
      return;
    }
    const h = HEADER.exec(line);
    if (h && !/\bfor\b/.test(line)) {
      current = levelIndex(arch, h[1]!, file, "level", lineNo);
      const entries = h[2]!.trim();
      if (entries !== "") {
        for (const m of entries.matchAll(/([A-Za-z_]\w*)\s*:\s*(\d+)(\s*\(\d+\))?/g)) {
          const d = problem.dataSpaces.findIndex((ds) => ds.name === m[1]);
          if (d < 0) throw new AxnnError(`"${m[1]}" is not a data space (${problem.dataSpaces.map((x) => x.name).join(", ")})`, { file, line: lineNo });
          levels[current]!.keep[d] = true;
        }
      }
      return;
    }
    const l = LOOP.exec(line);
    if (l) {
      if (current < 0) throw new AxnnError("loop before any level header", { file, line: lineNo });
      const loop: Loop = { dim: dimIndex(problem, l[1]!, file, "loop", lineNo), bound: Number(l[2]) };
      if (loop.bound < 1) throw new AxnnError(`loop bound must be at least 1`, { file, line: lineNo });
      if (l[4]) {
        loop.spatial = l[4] as "X" | "Y";
        levels[current]!.spatial.push(loop);
      } else {
        if (levels[current]!.spatial.length > 0) throw new AxnnError("temporal loop after spatial loops of the same level", { file, line: lineNo });
        levels[current]!.temporal.push(loop);
      }
      return;
    }
    if (/\[0:\d+,\d+\)/.test(line)) throw new AxnnError("imperfectly factorised loops ([0:a,b)) are not supported", { file, line: lineNo });
    throw new AxnnError(`cannot read this line of a map.txt: "${line.trim()}"`, { file, line: lineNo });
  });
  // Older Timeloop builds (and v3.0.3's mapper) end the printout without a << Compute >> line.
  if (current < 0 && !sawCompute) throw new AxnnError("no level header (NAME [ ... ]): not a Timeloop map.txt", { file });
  return { levels };
}

/**
 * Parses Timeloop's mapping YAML (`mapping:` list of {target, type: temporal|spatial|bypass|dataspace,
 * factors, permutation (innermost first), split, keep, bypass}).
 */
export function parseMappingYaml(doc: unknown, arch: Architecture, problem: Problem, file: string): Mapping {
  const top = expectObject(doc, file, "(top level)");
  checkKeys(top, ["mapping"], file, "(top level)");
  const levels = emptyLevels(arch, problem);
  const seen = new Set<string>();
  expectArray(top.mapping, file, "mapping").forEach((raw, i) => {
    const f = `mapping[${i}]`;
    const o = expectObject(raw, file, f);
    checkKeys(o, ["target", "type", "factors", "permutation", "split", "keep", "bypass"], file, f);
    const li = levelIndex(arch, expectString(o.target, file, `${f}.target`), file, `${f}.target`);
    const type = expectString(o.type, file, `${f}.type`);
    const key = `${li}:${type}`;
    if (seen.has(key)) throw new AxnnError(`second "${type}" entry for ${arch.levels[li]!.name}`, { file, field: f });
    seen.add(key);
    const lm = levels[li]!;
    if (type === "bypass" || type === "dataspace" || type === "datatype") {
      const names = (k: "keep" | "bypass") => (o[k] === undefined ? [] : expectArray(o[k], file, `${f}.${k}`).map((x) => expectString(x, file, `${f}.${k}`)));
      for (const n of names("keep")) {
        const d = problem.dataSpaces.findIndex((ds) => ds.name === n);
        if (d < 0) throw new AxnnError(`"${n}" is not a data space`, { file, field: `${f}.keep` });
        lm.keep[d] = true;
      }
      for (const n of names("bypass")) {
        if (problem.dataSpaces.findIndex((ds) => ds.name === n) < 0) throw new AxnnError(`"${n}" is not a data space`, { file, field: `${f}.bypass` });
      }
      return;
    }
    if (type !== "temporal" && type !== "spatial") throw new AxnnError(`unknown type "${type}" (expected temporal, spatial, bypass)`, { file, field: `${f}.type` });
    const factors = o.factors === undefined ? {} : parseFactorList(o.factors, file, `${f}.factors`);
    for (const k of Object.keys(factors)) dimIndex(problem, k, file, `${f}.factors`);
    const perm = o.permutation === undefined ? [...problem.dims] : parsePermutation(o.permutation, file, `${f}.permutation`);
    for (const k of perm) dimIndex(problem, k, file, `${f}.permutation`);
    // Dimensions missing from the permutation go innermost, in problem order.
    const order = [...perm, ...problem.dims.filter((d) => !perm.includes(d))];
    if (type === "temporal") {
      // Permutation lists innermost first; we store outermost first.
      lm.temporal = order
        .map((n) => ({ dim: problem.dims.indexOf(n), bound: factors[n] ?? 1 }))
        .filter((l) => l.bound > 1)
        .reverse();
    } else {
      const split = o.split === undefined ? problem.dims.length : expectNumber(o.split, file, `${f}.split`);
      const withAxis = order.map((n, k) => ({ dim: problem.dims.indexOf(n), bound: factors[n] ?? 1, spatial: (k < split ? "X" : "Y") as "X" | "Y" }));
      const xs = withAxis.filter((l) => l.spatial === "X" && l.bound > 1).reverse();
      const ys = withAxis.filter((l) => l.spatial === "Y" && l.bound > 1).reverse();
      lm.spatial = [...xs, ...ys];
    }
  });
  return { levels };
}

/** Reads a mapping file: Timeloop's map.txt printout, or a mapping YAML. */
export function loadMapping(file: string, arch: Architecture, problem: Problem): Mapping {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AxnnError(`cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file });
  }
  if (looksLikeMapTxt(text)) return parseMapTxt(text, arch, problem, file);
  const doc = parseYamlText(text, file);
  if (isObject(doc) && doc.mapping !== undefined) return parseMappingYaml(doc, arch, problem, file);
  throw new AxnnError("neither a Timeloop map.txt (no << Compute >> or level header) nor a mapping YAML (no mapping: key)", { file });
}

/** A map.txt printout: a << Compute >> line, or a level header `NAME [ ... ]` underlined with dashes. */
function looksLikeMapTxt(text: string): boolean {
  return /<<\s*Compute\s*>>/.test(text) || /^\s*[A-Za-z_][\w.]*\s*\[[^\]\n]*\]\s*\r?\n\s*-{3,}\s*$/m.test(text);
}

/**
 * Why Timeloop's mapping format cannot express a mapping (null when it can): Timeloop gives each
 * dimension one temporal and one spatial factor per level, the spatial one along X or Y.
 */
export function timeloopInexpressible(mapping: Mapping, arch: Architecture, problem: Problem): string | null {
  for (let li = 0; li < mapping.levels.length; li++) {
    const lm = mapping.levels[li]!;
    const name = arch.levels[li]!.name;
    for (let d = 0; d < problem.dims.length; d++) {
      if (lm.temporal.filter((l) => l.dim === d && l.bound > 1).length > 1) return `${name} has two temporal loops over ${problem.dims[d]}`;
      const spatial = lm.spatial.filter((l) => l.dim === d && l.bound > 1);
      if (new Set(spatial.map((l) => l.spatial)).size > 1) return `${name} splits ${problem.dims[d]} over both X and Y`;
      if (spatial.length > 1) return `${name} has two spatial loops over ${problem.dims[d]}`;
    }
  }
  return null;
}

/** Timeloop's mapping YAML for a mapping (permutations innermost first); reads back with `loadMapping`. */
export function mappingToYaml(mapping: Mapping, arch: Architecture, problem: Problem): string {
  const why = timeloopInexpressible(mapping, arch, problem);
  if (why !== null) throw new AxnnError(`this mapping cannot be written as Timeloop mapping YAML: ${why}`);
  const lines: string[] = ["mapping:"];
  mapping.levels.forEach((lm, i) => {
    const name = arch.levels[i]!.name;
    const keep = problem.dataSpaces.filter((_, d) => lm.keep[d]).map((d) => d.name);
    const bypass = problem.dataSpaces.filter((_, d) => !lm.keep[d]).map((d) => d.name);
    lines.push(`  - target: ${name}`, `    type: bypass`, `    keep: [${keep.join(", ")}]`, `    bypass: [${bypass.join(", ")}]`);
    const fac = (loops: Loop[]) => problem.dims.map((d, k) => `${d}=${loops.filter((l) => l.dim === k).reduce((a, l) => a * l.bound, 1)}`).join(" ");
    const permOf = (loops: Loop[]) => {
      const inner = [...loops].reverse().map((l) => problem.dims[l.dim]!);
      return [...inner, ...problem.dims.filter((d) => !inner.includes(d))].join("");
    };
    lines.push(`  - target: ${name}`, `    type: temporal`, `    factors: ${fac(lm.temporal)}`, `    permutation: ${permOf(lm.temporal)}`);
    if (lm.spatial.length > 0) {
      const xs = lm.spatial.filter((l) => l.spatial === "X");
      const ys = lm.spatial.filter((l) => l.spatial === "Y");
      const xPerm = [...xs].reverse().map((l) => problem.dims[l.dim]!);
      const yPerm = [...ys].reverse().map((l) => problem.dims[l.dim]!);
      const rest = problem.dims.filter((d) => !xPerm.includes(d) && !yPerm.includes(d));
      lines.push(`  - target: ${name}`, `    type: spatial`, `    factors: ${fac(lm.spatial)}`, `    permutation: ${[...xPerm, ...yPerm, ...rest].join("")}`, `    split: ${xPerm.length}`);
    }
  });
  return lines.join("\n") + "\n";
}
