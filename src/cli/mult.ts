import { extname } from "node:path";
import type { Command } from "commander";
import { AxnnError } from "../util/errors.js";
import { progressBar } from "../util/progress.js";
import { MultiplierLibrary } from "../multipliers/library.js";
import { characterise } from "../multipliers/characterise.js";
import { listCatalogue, POWER_ESTIMATE_SOURCE, readMultiplierFile, resolveMultiplier, type CatalogueRow } from "../multipliers/resolve.js";
import { findMultiplierNetlists, importEvoApproxCheckout } from "../multipliers/evoapprox-import.js";
import { writeTfapprox } from "../multipliers/tfapprox.js";
import { writeTableFile } from "../multipliers/table-file.js";
import type { OperandDistribution } from "../multipliers/metrics.js";
import { errorMetrics } from "../multipliers/metrics.js";
import { describeGenerators, generate, generatorKinds, getGenerator } from "../multipliers/generators/index.js";
import { writeVerilog } from "../multipliers/netlist/verilog-write.js";
import { describeGateCounts } from "../multipliers/netlist/cost.js";
import { writeFileAtomic } from "../util/fs.js";
import { writeMultiplierReport } from "../report/multiplier-report.js";
import { addOutOption, parseNumberOption, printJson, readJsonFile, signedness, textTable } from "./common.js";

interface SignOpts { signed?: boolean; unsigned?: boolean }

function distributionFrom(file: string): OperandDistribution {
  const j = readJsonFile(file);
  if (!j || typeof j !== "object" || Array.isArray(j)) {
    throw new AxnnError('expected {"activation": [256 counts], "weight": [2^N counts]} or {"joint": [256 * 2^N counts]}', { file });
  }
  const o = j as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(",");
  if (keys === "activation,weight") return { activation: o.activation as number[], weight: o.weight as number[] };
  if (keys === "joint") return { joint: o.joint as number[] };
  throw new AxnnError(`keys must be "activation" and "weight", or "joint"; got ${keys || "none"}`, { file });
}

/** The power column's source in one word: published synthesis figures, a netlist estimate, or the user's. */
function powerFrom(source: string | undefined): string {
  if (!source) return "";
  if (source === POWER_ESTIMATE_SOURCE) return "estimate";
  return source.startsWith("published") ? "published" : source;
}

export function registerMult(program: Command): void {
  const mult = program.command("mult").description("approximate multipliers: import, generate, characterise, list");
  const signFlags = (c: Command): Command =>
    c.option("--signed", "read the file as a signed (two's complement) multiplier").option("--unsigned", "read the file as unsigned");

  signFlags(addOutOption(
    mult
      .command("lut")
      .description("write a multiplier's table (default TFApprox .bin: 16-bit little-endian, [activation][weight])")
      .argument("<multiplier>", "netlist.v, table.bin/.json/.csv, library or generator name, or hash")
      .option("--format <format>", "tfapprox | json | csv (default: from the output file's extension, else tfapprox)"),
    "file", "output file", { required: true },
  )).action((ref: string, opts: SignOpts & { out: string; format?: string }) => {
    const { multiplier } = resolveMultiplier(ref, { signed: signedness(opts) });
    const ext = extname(opts.out).toLowerCase();
    const format = opts.format ?? (ext === ".json" ? "json" : ext === ".csv" ? "csv" : "tfapprox");
    if (format === "tfapprox") writeTfapprox(multiplier, opts.out);
    else if (format === "json" || format === "csv") {
      if (ext !== `.${format}`) throw new AxnnError(`--format ${format} needs an output file ending in .${format}`, { field: "--out" });
      writeTableFile(multiplier, opts.out);
    } else throw new AxnnError(`unknown format "${format}"; expected tfapprox, json or csv`, { field: "--format" });
    process.stderr.write(`wrote ${opts.out} (${multiplier.signed ? "signed" : "unsigned"} 8x${multiplier.weightBits}, ${format})\n`);
  });

  signFlags(
    mult
      .command("metrics")
      .description("error metrics (EvoApproxLib definitions), table hash and, for netlists, gate counts and estimated power")
      .argument("<multiplier>", "netlist.v, table.bin/.json/.csv, library or generator name, or hash")
      .option("--dist <file.json>", 'operand distribution: {"activation": [...], "weight": [...]} or {"joint": [...]}, counts per raw code')
      .option("--samples <n>", "operand pairs simulated for the power estimate", "10000")
      .option("--seed <n>", "seed of the power-estimate operand stream", "1")
      .option("--json", "print one JSON object"),
  ).action((ref: string, opts: SignOpts & { dist?: string; samples: string; seed: string; json?: boolean }) => {
    const r = resolveMultiplier(ref, { signed: signedness(opts) });
    const c = characterise(r, {
      distribution: opts.dist ? distributionFrom(opts.dist) : undefined,
      power: { samples: parseNumberOption(opts.samples, "--samples", { min: 2, integer: true }), seed: parseNumberOption(opts.seed, "--seed", { integer: true }) },
    });
    if (opts.json) return printJson(c);
    const rows: [string, string | number | undefined][] = [
      ["name", c.name], ["signed", String(c.signed)], ["operands", `8x${c.weight_bits}, ${c.operands}`], ["hash", c.hash],
      ["MAE", c.mae], ["MAE %", c.mae_pct], ["WCE", c.wce], ["WCE %", c.wce_pct], ["MRE %", c.mre_pct], ["WCRE %", c.wcre_pct],
      ["EP %", c.ep_pct], ["MSE", c.mse], ["bias", c.bias], ["power (mW)", c.power_mw !== undefined ? `${c.power_mw} (${c.power_source})` : undefined],
      ["power estimate (mW)", c.power_estimate], ["gates", c.gates ? Object.entries(c.gates).map(([k, v]) => `${k}:${v}`).join(" ") : undefined],
    ];
    process.stdout.write(textTable(["", ""], rows.filter(([, v]) => v !== undefined)).split("\n").slice(2).join("\n") + "\n");
  });

  mult
    .command("list")
    .description("the built-in catalogue (generated designs, EvoApproxLib) and your library ($AXNN_HOME or ~/.axnn)")
    .option("--origin <origin>", "only generated | evoapprox | library")
    .option("--available", "only multipliers whose table is available here")
    .option("--json", "print JSON")
    .action((opts: { origin?: string; available?: boolean; json?: boolean }) => {
      if (opts.origin && !["generated", "evoapprox", "library"].includes(opts.origin)) {
        throw new AxnnError(`unknown origin "${opts.origin}"; expected generated, evoapprox or library`, { field: "--origin" });
      }
      const rows = listCatalogue({
        estimatePower: true,
        describe: (r) => {
          const e = errorMetrics(r.multiplier);
          return { mae_pct: e.mae_pct, wce_pct: e.wce_pct, ep_pct: e.ep_pct };
        },
      }).filter((r) => (!opts.origin || r.origin === opts.origin) && (!opts.available || r.available));
      if (opts.json) return printJson(rows);
      process.stdout.write(
        textTable(
          ["name", "origin", "type", "hash", "here", "MAE %", "WCE %", "EP %", "power mW", "power from", "aliases"],
          rows.map((r: CatalogueRow) => [
            r.name, r.origin, `${r.signed ? "s" : "u"}8x${r.weight_bits}`, r.hash, r.available ? "yes" : "no",
            r.mae_pct, r.wce_pct, r.ep_pct, r.power_mw, powerFrom(r.power_source), r.aliases?.join(" ") ?? "",
          ]),
        ) + "\n",
      );
    });

  signFlags(
    mult
      .command("import")
      .description("add a multiplier file (.bin, .v, .json, .csv) to your library")
      .argument("<file>")
      .requiredOption("--name <name>", "library name")
      .option("--power-mw <mW>", "power of the circuit in mW (e.g. from your own synthesis)")
      .option("--force", "replace a different multiplier of the same name")
      .option("--json", "print the library record as JSON"),
  ).action((file: string, opts: SignOpts & { name: string; powerMw?: string; force?: boolean; json?: boolean }) => {
    const r = readMultiplierFile(file, { signed: signedness(opts), name: opts.name });
    let m = { ...r.multiplier, name: opts.name };
    if (opts.powerMw !== undefined) {
      m = { ...m, meta: { ...m.meta, powerMw: parseNumberOption(opts.powerMw, "--power-mw", { min: 0 }), costSource: "user" } };
    }
    const rec = new MultiplierLibrary().save(m, { overwrite: opts.force, netlistText: r.verilogText });
    if (opts.json) return printJson(rec);
    process.stdout.write(`imported ${rec.name} (${rec.signed ? "signed" : "unsigned"} 8x${rec.weight_bits}, hash ${rec.hash}) into ${new MultiplierLibrary().dir}\n`);
  });

  mult
    .command("import-evoapprox")
    .description("import every 8x8 and 8xN multiplier netlist of an EvoApproxLib checkout into your library")
    .argument("<dir>", "EvoApproxLib checkout (or any folder of mul8*_*.v files)")
    .option("--force", "replace library entries of the same name with different tables")
    .option("--json", "print the result as JSON")
    .action((dir: string, opts: { force?: boolean; json?: boolean }) => {
      const lib = new MultiplierLibrary();
      const bar = progressBar("importing", findMultiplierNetlists(dir).length, { quiet: opts.json, unit: "files" });
      const res = importEvoApproxCheckout(dir, lib, { onFile: () => bar.tick(), overwrite: opts.force });
      bar.stop();
      if (opts.json) return printJson({ library: lib.dir, ...res });
      process.stdout.write(
        `${res.files} netlist files, ${res.imported.length} distinct tables imported into ${lib.dir}, ${res.duplicates} duplicates (same table)\n`,
      );
      for (const f of res.failed) process.stderr.write(`axnn: warning: skipped ${f.error}\n`);
      if (res.files === 0) throw new AxnnError("no 8x8 or 8xN multiplier netlists (mul8*_*.v) found", { file: dir });
    });

  signFlags(addOutOption(
    mult
      .command("show")
      .description("metrics, error heat map and histogram (SVG, PNG) and an HTML report of one multiplier")
      .argument("<multiplier>")
      .option("--json", "print the metrics and written files as JSON"),
    "dir", "output directory", { required: true },
  )).action((ref: string, opts: SignOpts & { out: string; json?: boolean }) => {
    const r = resolveMultiplier(ref, { signed: signedness(opts) });
    const c = characterise(r);
    const files = writeMultiplierReport(r, c, opts.out);
    if (opts.json) return printJson({ metrics: c, files });
    process.stdout.write(`${c.name}: MAE% ${c.mae_pct.toPrecision(3)}, WCE% ${c.wce_pct.toPrecision(3)}, EP% ${c.ep_pct.toPrecision(3)}\n`);
    for (const f of files) process.stdout.write(`wrote ${f}\n`);
  });

  addOutOption(mult
    .command("generate")
    .description(`build a classic design as a gate-level netlist: ${generatorKinds().join(", ")}`)
    .argument("<kind>", "design kind (see docs/generators.md)")
    .argument("[params...]", "parameters as key=value, e.g. k=4 n=8 signed=true")
    .option("--save", "add it to your library")
    .option("--json", "print the metrics as JSON")
    .addHelpText("after", `\nDesigns and their parameters (key=value; docs/generators.md):\n${describeGenerators()}\n\nExample: axnn mult generate drum k=4 signed=true -o drum.v`), "file.v", "write the netlist as Verilog")
    .action((kind: string, params: string[], opts: { out?: string; save?: boolean; json?: boolean }) => {
      const def = getGenerator(kind);
      const values: Record<string, unknown> = {};
      for (const p of params) {
        const eq = p.indexOf("=");
        if (eq <= 0) throw new AxnnError(`expected key=value, got "${p}"; ${kind} takes n, signed${def.params.map((s) => `, ${s.name}`).join("")}`, { field: "params" });
        const [k, v] = [p.slice(0, eq), p.slice(eq + 1)];
        values[k] = v === "true" ? true : v === "false" ? false : /^-?\d+$/.test(v) ? Number(v) : v;
      }
      const g = generate(kind, values);
      const verilog = writeVerilog(g.netlist);
      if (opts.out) writeFileAtomic(opts.out, verilog);
      if (opts.save) new MultiplierLibrary().save(g.multiplier, { netlistText: verilog, overwrite: false });
      const c = characterise({ multiplier: g.multiplier, netlist: g.netlist, origin: "generated" });
      if (opts.json) return printJson(c);
      process.stdout.write(`${c.name}: MAE% ${c.mae_pct.toPrecision(3)}, WCE% ${c.wce_pct.toPrecision(3)}, power estimate ${c.power_estimate?.toPrecision(3)} mW, ${describeGateCounts(c.gates!)}\n`);
      if (opts.out) process.stdout.write(`wrote ${opts.out}\n`);
    });
}
