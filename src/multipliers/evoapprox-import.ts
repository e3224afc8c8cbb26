import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { AxnnError, isAxnnError } from "../util/errors.js";
import { parseJson } from "../util/json.js";
import { evoApproxMatches, type EvoApproxEntry } from "./evoapprox-catalogue.js";
import type { LibraryRecord, MultiplierLibrary } from "./library.js";
import { lutHash, type Multiplier } from "./multiplier.js";
import { parseVerilog } from "./netlist/verilog-read.js";
import { netlistToMultiplier } from "./netlist/simulate.js";

/**
 * Reading an EvoApproxLib checkout: which files are 8x8 / 8xN multiplier netlists, and
 * the published figures that come with them (header comments of each .v, and the
 * library's meta.json). The netlists themselves are read by netlist/verilog-read.ts.
 */

/** Published figures of one circuit, as EvoApproxLib states them. */
export interface PublishedFigures {
  powerMw?: number;
  areaUm2?: number;
  delayNs?: number;
  maePct?: number;
  wcePct?: number;
  mrePct?: number;
  epPct?: number;
  wcrePct?: number;
  mae?: number;
  wce?: number;
  mse?: number;
}

/** `mul8u_1JFF`, `mul8s_1KR3`, `mul8x4u_0S7`, `mul8x4s_...`: 8x8 and 8xN multipliers only. */
const MULT_FILE_RE = /^(mul8(?:x([1-8]))?([us])_[A-Za-z0-9_]+?)(_pdk45|_gen)?\.v$/;

export interface NetlistFileInfo {
  path: string;
  /** Circuit name without the _pdk45/_gen suffix. */
  circuit: string;
  signed: boolean;
  weightBits: number;
  variant: "plain" | "pdk45" | "gen";
}

export function classifyNetlistFile(path: string): NetlistFileInfo | undefined {
  const m = MULT_FILE_RE.exec(basename(path));
  if (!m) return undefined;
  return {
    path,
    circuit: m[1]!,
    signed: m[3] === "s",
    weightBits: m[2] ? Number(m[2]) : 8,
    variant: m[4] === "_pdk45" ? "pdk45" : m[4] === "_gen" ? "gen" : "plain",
  };
}

/** All multiplier netlists under `dir` (recursively, skipping hidden directories). */
export function findMultiplierNetlists(dir: string): NetlistFileInfo[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new AxnnError("not a directory", { file: dir });
  const out: NetlistFileInfo[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith(".")) continue;
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) {
        const info = classifyNetlistFile(p);
        if (info) out.push(info);
      }
    }
  };
  walk(dir);
  return out;
}

const HEADER_KEYS: Record<string, keyof PublishedFigures> = {
  "MAE%": "maePct",
  "MAE": "mae",
  "WCE%": "wcePct",
  "WCE": "wce",
  "WCRE%": "wcrePct",
  "EP%": "epPct",
  "MRE%": "mrePct",
  "MSE": "mse",
  "PDK45_PWR": "powerMw",
  "PDK45_AREA": "areaUm2",
  "PDK45_DELAY": "delayNs",
};

/** Figures from a netlist's header comments (`// PDK45_PWR = 0.071 mW`, `// MAE% = 0.40 %`, ...). */
export function parseHeaderFigures(verilog: string): PublishedFigures {
  const out: PublishedFigures = {};
  for (const line of verilog.split("\n", 60)) {
    const m = /^\s*\/\/\s*([A-Z0-9_%]+)\s*=\s*([-+0-9.eE]+)/.exec(line);
    if (!m) continue;
    const key = HEADER_KEYS[m[1]!];
    const v = Number(m[2]);
    if (key && Number.isFinite(v)) out[key] = v;
  }
  return out;
}

/**
 * Figures per circuit name from EvoApproxLib's meta.json (a nested list of datasets whose
 * `instances` carry `name` and `params` {pwr, area, delay, mae%, wce%, ...}).
 */
export function parseMetaJson(text: string, file?: string): Map<string, PublishedFigures> {
  const root = parseJson(text, file);
  const out = new Map<string, PublishedFigures>();
  const num = (x: unknown): number | undefined => {
    const v = typeof x === "number" ? x : typeof x === "string" ? Number(x) : NaN;
    return Number.isFinite(v) ? v : undefined;
  };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== "object") return;
    const o = node as Record<string, unknown>;
    if (typeof o.name === "string" && o.params && typeof o.params === "object") {
      const p = o.params as Record<string, unknown>;
      const fig: PublishedFigures = {
        powerMw: num(p.pwr), areaUm2: num(p.area), delayNs: num(p.delay),
        maePct: num(p["mae%"]), wcePct: num(p["wce%"]), mrePct: num(p["mre%"]), epPct: num(p["ep%"]), wcrePct: num(p["wcre%"]),
      };
      for (const k of Object.keys(fig) as (keyof PublishedFigures)[]) if (fig[k] === undefined) delete fig[k];
      out.set(o.name, { ...out.get(o.name), ...fig });
    }
    for (const v of Object.values(o)) if (v && typeof v === "object") visit(v);
  };
  visit(root);
  return out;
}

/** meta.json figures of a checkout, if it has one at its root. */
export function readCheckoutMeta(dir: string): Map<string, PublishedFigures> {
  const file = join(dir, "meta.json");
  return existsSync(file) ? parseMetaJson(readFileSync(file, "utf8"), file) : new Map();
}

export function relativeTo(dir: string, path: string): string {
  return relative(dir, path) || basename(path);
}

export interface CheckoutImportResult {
  /** Netlist files found. */
  files: number;
  /** Distinct tables saved to the library. */
  imported: LibraryRecord[];
  /** Files whose table was already imported under another file (e.g. the _pdk45 variant). */
  duplicates: number;
  /** Files that could not be read, with the reason. */
  failed: { file: string; error: string }[];
}

/**
 * Imports every 8x8 and 8xN multiplier netlist of an EvoApproxLib checkout into the user
 * library, keyed by table hash: a circuit present as .v, _pdk45.v and _gen.v is imported
 * once. Published figures come from header comments, then meta.json, then axnn's built-in
 * catalogue (matched by hash). A file that fails is reported and the rest still imported.
 */
export function importEvoApproxCheckout(
  dir: string,
  lib: MultiplierLibrary,
  opts: { onFile?: (file: string) => void; overwrite?: boolean } = {},
): CheckoutImportResult {
  const files = findMultiplierNetlists(dir);
  const meta = readCheckoutMeta(dir);
  const byHash = new Map<string, { m: Multiplier; text: string; info: NetlistFileInfo }>();
  const result: CheckoutImportResult = { files: files.length, imported: [], duplicates: 0, failed: [] };
  for (const info of files) {
    opts.onFile?.(info.path);
    const rel = relativeTo(dir, info.path);
    try {
      const text = readFileSync(info.path, "utf8");
      const nl = parseVerilog(text, { file: rel });
      let m = netlistToMultiplier(nl, info.signed, { source: "evoapprox" }, rel);
      if (m.weightBits !== info.weightBits) {
        throw new AxnnError(`file name says 8x${info.weightBits} but the ports are 8x${m.weightBits}`, { file: rel });
      }
      const hash = lutHash(m);
      const seen = byHash.get(hash);
      // Prefer the plain .v text (it is what EvoApproxLib's figures were published for).
      if (seen && !(seen.info.variant !== "plain" && info.variant === "plain")) {
        result.duplicates++;
        continue;
      }
      if (seen) result.duplicates++;
      const published = evoApproxMatches(m);
      const fig = { ...evoFigures(published), ...meta.get(info.circuit), ...parseHeaderFigures(text) };
      m = {
        ...m,
        name: info.circuit,
        meta: {
          source: "evoapprox",
          description: `EvoApproxLib ${info.signed ? "signed" : "unsigned"} 8x${info.weightBits} multiplier`,
          reference: "V. Mrazek, L. Sekanina, Z. Vasicek, Libraries of Approximate Circuits: Automated Design and Application in CNN Accelerators, IEEE JETCAS 10(4), 2020",
          powerMw: fig.powerMw,
          areaUm2: fig.areaUm2,
          delayNs: fig.delayNs,
          technology: fig.powerMw !== undefined ? "PDK45 (45 nm)" : undefined,
          costSource: fig.powerMw !== undefined ? "published (EvoApproxLib)" : undefined,
          aliases: [...new Set(published.map((e) => e.name).filter((n) => n !== info.circuit))],
          catalogueHash: published[0]?.hash,
          file: rel,
        },
      };
      byHash.set(hash, { m, text, info });
    } catch (e) {
      if (!isAxnnError(e)) throw e;
      result.failed.push({ file: rel, error: e.message });
    }
  }
  for (const { m, text } of byHash.values()) {
    try {
      result.imported.push(lib.save(m, { netlistText: text, overwrite: opts.overwrite }));
    } catch (e) {
      if (!isAxnnError(e)) throw e;
      result.failed.push({ file: m.meta.file ?? m.name, error: e.message });
    }
  }
  return result;
}

function evoFigures(published: EvoApproxEntry[]): PublishedFigures {
  const e = published.find((x) => x.version === "v1.0") ?? published[0];
  return e ? { powerMw: e.powerMw, areaUm2: e.areaUm2, delayNs: e.delayNs } : {};
}
