import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, extname } from "node:path";
import { AxnnError } from "../util/errors.js";
import { evoApproxByName, evoApproxCatalogue, evoApproxMatches, type EvoApproxEntry } from "./evoapprox-catalogue.js";
import { defaultCatalogue, generate, generatorName, parseGeneratorName } from "./generators/index.js";
import { MultiplierLibrary } from "./library.js";
import { lutHash, signedFromName, type Multiplier, type MultiplierMeta } from "./multiplier.js";
import type { Netlist } from "./netlist/ir.js";
import { parseVerilog } from "./netlist/verilog-read.js";
import { netlistToMultiplier } from "./netlist/simulate.js";
import { estimatePower } from "./netlist/cost.js";
import { readTableFile } from "./table-file.js";
import { readTfapprox } from "./tfapprox.js";
import { suggestions } from "../util/suggest.js";

/**
 * Turning what a user types (a file, a name, a hash) into a multiplier. Lookup order:
 * an existing file; the user library (name, alias, hash); a generator name
 * (`drum_k4_u8x8`); an EvoApproxLib name from the built-in catalogue, whose table must have
 * been imported into the user library; a table hash among the built-in generated designs.
 */
export interface ResolvedMultiplier {
  multiplier: Multiplier;
  /** The gate-level netlist, when the multiplier has one (Verilog files, generated designs, imported netlists). */
  netlist?: Netlist;
  /** The Verilog text the netlist came from, if it came from a file. */
  verilogText?: string;
  origin: "file" | "library" | "generated";
}

export interface ResolveOptions {
  /** Override the signedness of a file (default: from the file or module name). */
  signed?: boolean;
  library?: MultiplierLibrary;
}

const FILE_EXTENSIONS = [".bin", ".v", ".json", ".csv"];

/** Adds EvoApproxLib's published figures and names to a multiplier whose table it published. */
export function withPublishedFigures(m: Multiplier): Multiplier {
  const entries = evoApproxMatches(m);
  if (entries.length === 0) return m;
  const e = entries.find((x) => x.version === "v1.0") ?? entries[0]!;
  const names = [...new Set(entries.map((x) => x.name))].filter((n) => n !== m.name);
  const meta: MultiplierMeta = {
    ...m.meta,
    powerMw: m.meta.powerMw ?? e.powerMw,
    areaUm2: m.meta.areaUm2 ?? e.areaUm2,
    delayNs: m.meta.delayNs ?? e.delayNs,
    technology: m.meta.technology ?? "PDK45 (45 nm)",
    costSource: m.meta.costSource ?? (m.meta.powerMw === undefined ? "published (EvoApproxLib)" : undefined),
    aliases: [...new Set([...(m.meta.aliases ?? []), ...names])],
    catalogueHash: e.hash,
  };
  return { ...m, meta };
}

export function readMultiplierFile(file: string, opts: { signed?: boolean; name?: string } = {}): ResolvedMultiplier {
  const ext = extname(file).toLowerCase();
  if (ext === ".bin") return { multiplier: withPublishedFigures(readTfapprox(file, opts)), origin: "file" };
  if (ext === ".json" || ext === ".csv") return { multiplier: withPublishedFigures(readTableFile(file, opts)), origin: "file" };
  if (ext === ".v") {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
    }
    const netlist = parseVerilog(text, { file });
    const signed = opts.signed ?? signedFromName(netlist.name);
    const m = netlistToMultiplier(netlist, signed, { source: "netlist" }, file);
    return { multiplier: withPublishedFigures(opts.name ? { ...m, name: opts.name } : m), netlist, verilogText: text, origin: "file" };
  }
  throw new AxnnError(`unknown multiplier file type "${ext}"; expected one of ${FILE_EXTENSIONS.join(", ")}`, { file });
}

function loadFromLibrary(lib: MultiplierLibrary, key: string): ResolvedMultiplier | undefined {
  const rec = lib.find(key);
  if (!rec) return undefined;
  const multiplier = lib.load(rec);
  const path = lib.netlistPath(rec);
  if (path && existsSync(path)) {
    const verilogText = readFileSync(path, "utf8");
    return { multiplier, netlist: parseVerilog(verilogText, { file: path }), verilogText, origin: "library" };
  }
  return { multiplier, origin: "library" };
}

function generated(kind: string, params: Record<string, unknown>): ResolvedMultiplier {
  const g = generate(kind, params);
  return { multiplier: g.multiplier, netlist: g.netlist, origin: "generated" };
}

export function resolveMultiplier(ref: string, opts: ResolveOptions = {}): ResolvedMultiplier {
  const lib = opts.library ?? new MultiplierLibrary();
  const looksLikeFile = ref.includes("/") || ref.includes("\\") || FILE_EXTENSIONS.includes(extname(ref).toLowerCase());
  if (existsSync(ref) && statSync(ref).isFile()) return readMultiplierFile(ref, { signed: opts.signed });
  if (looksLikeFile) throw new AxnnError("no such file", { file: ref });

  const checkSign = (r: ResolvedMultiplier): ResolvedMultiplier => {
    if (opts.signed !== undefined && opts.signed !== r.multiplier.signed) {
      throw new AxnnError(`${r.multiplier.name} is ${r.multiplier.signed ? "signed" : "unsigned"}; --${opts.signed ? "signed" : "unsigned"} applies only to files`, { field: ref });
    }
    return r;
  };

  const fromLib = loadFromLibrary(lib, ref);
  if (fromLib) return checkSign(fromLib);
  if (ref === "exact") return generated("exact", { signed: opts.signed ?? false });
  const gen = parseGeneratorName(ref);
  if (gen) return checkSign(generated(gen.kind, gen.params));

  const evo = evoApproxByName(ref);
  if (evo) {
    const installed = loadFromLibrary(lib, evo.hash);
    if (installed) return checkSign(installed);
    throw new AxnnError(
      `${ref} is an EvoApproxLib circuit (${evo.version}, table hash ${evo.hash}) whose table is not installed; ` +
        `import it with "axnn mult import-evoapprox <checkout>" or "axnn mult import <file.bin|file.v> --name ${ref}"`,
      { field: "multiplier" },
    );
  }
  if (/^[0-9a-f]{12}$/.test(ref)) {
    for (const { kind, params } of defaultCatalogue()) {
      const g = generated(kind, params);
      if (lutHash(g.multiplier) === ref) return checkSign(g);
    }
  }
  const known = [...lib.records().map((r) => r.name), ...defaultCatalogue().map((c) => generatorName(c.kind, c.params)), ...evoApproxCatalogue().map((e) => e.name)];
  const close = suggestions(ref, known);
  throw new AxnnError(
    `unknown multiplier "${ref}": not a file, a library name, a generator name or a known hash${close.length ? `; did you mean ${close.join(", ")}?` : ""} (see "axnn mult list")`,
    { field: "multiplier" },
  );
}

/** One row of `axnn mult list`. */
export interface CatalogueRow {
  name: string;
  origin: "generated" | "evoapprox" | "library";
  signed: boolean;
  weight_bits: number;
  hash: string;
  /** Whether the table is available here (generated designs always are; EvoApproxLib ones once imported). */
  available: boolean;
  power_mw?: number;
  power_source?: string;
  area_um2?: number;
  mae_pct?: number;
  wce_pct?: number;
  ep_pct?: number;
  aliases?: string[];
  description?: string;
}

/** power_source of a power figure estimated from a netlist's switching activity (mult metrics' power estimate). */
export const POWER_ESTIMATE_SOURCE = "estimate (switching activity, gscl45nm)";

function evoRow(entries: EvoApproxEntry[], available: boolean): CatalogueRow {
  const order = ["v2022", "master", "v1.0"];
  const sorted = [...entries].sort((a, b) => order.indexOf(a.version) - order.indexOf(b.version));
  const e = sorted.find((x) => x.version === "v1.0") ?? sorted[0]!;
  const aliases = [...new Set(sorted.map((x) => `${x.version}:${x.name}`))];
  return {
    name: e.name,
    origin: "evoapprox",
    signed: e.signed,
    weight_bits: 8,
    hash: e.hash,
    available,
    power_mw: e.powerMw,
    power_source: "published (PDK45)",
    area_um2: e.areaUm2,
    mae_pct: e.maePct,
    wce_pct: e.wcePct,
    ep_pct: e.epPct,
    aliases,
  };
}

/**
 * Everything `axnn mult list` shows: the built-in generated designs, the EvoApproxLib
 * catalogue (one row per table), and the user library. `describe` fills in error metrics
 * and power for the tables we have (computing them is the caller's choice: it costs a few
 * milliseconds per design). With `estimatePower`, designs with a netlist and no published or
 * given power get `mult metrics`' switching-activity estimate (the same defaults: 10,000
 * random operand pairs, seed 1; tens of milliseconds per design).
 */
export function listCatalogue(opts: {
  library?: MultiplierLibrary;
  describe?: (r: ResolvedMultiplier) => Partial<CatalogueRow>;
  estimatePower?: boolean;
} = {}): CatalogueRow[] {
  const estimate = (r: ResolvedMultiplier): Partial<CatalogueRow> =>
    opts.estimatePower && r.netlist ? { power_mw: estimatePower(r.netlist).totalMw, power_source: POWER_ESTIMATE_SOURCE } : {};
  const lib = opts.library ?? new MultiplierLibrary();
  const rows: CatalogueRow[] = [];
  for (const { kind, params } of defaultCatalogue()) {
    const g = generated(kind, params);
    const m = g.multiplier;
    rows.push({
      name: m.name, origin: "generated", signed: m.signed, weight_bits: m.weightBits, hash: lutHash(m), available: true,
      description: m.meta.description, ...estimate(g), ...opts.describe?.(g),
    });
  }
  const records = lib.records();
  const libHashes = new Set(records.flatMap((r) => [r.hash, r.meta.catalogueHash ?? r.hash]));
  const byHash = new Map<string, EvoApproxEntry[]>();
  for (const e of evoApproxCatalogue()) byHash.set(e.hash, [...(byHash.get(e.hash) ?? []), e]);
  for (const [hash, entries] of byHash) rows.push(evoRow(entries, libHashes.has(hash)));
  for (const r of records) {
    const resolved = loadFromLibrary(lib, r.name)!;
    rows.push({
      name: r.name, origin: "library", signed: r.signed, weight_bits: r.weight_bits, hash: r.hash, available: true,
      ...(r.meta.powerMw === undefined ? estimate(resolved) : {}),
      ...(r.meta.powerMw !== undefined ? { power_mw: r.meta.powerMw, power_source: r.meta.costSource } : {}), area_um2: r.meta.areaUm2, aliases: r.meta.aliases,
      description: r.meta.description, ...opts.describe?.(resolved),
    });
  }
  return rows;
}

export function defaultNameFor(file: string): string {
  return basename(file).replace(/(_pdk45|_gen)?\.(bin|v|json|csv)$/i, "");
}
