import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { parseDevice, selectDevice } from "../kernels/index.js";
import { AxnnError } from "../util/errors.js";
import { parseJson } from "../util/json.js";

/** Prints a result as one JSON object on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n");
}

/** `--signed` / `--unsigned` to a boolean, or undefined for "from the name". */
export function signedness(opts: { signed?: boolean; unsigned?: boolean }): boolean | undefined {
  if (opts.signed && opts.unsigned) throw new AxnnError("give --signed or --unsigned, not both", { field: "--signed" });
  return opts.signed ? true : opts.unsigned ? false : undefined;
}

/**
 * The one parser of numeric options: a finite number, an integer with `integer`, at least `min`,
 * above 0 with `positive`. An undefined value (an option not given) stays undefined.
 */
export function parseNumberOption(value: string, name: string, opts?: NumberOptionRules): number;
export function parseNumberOption(value: string | undefined, name: string, opts?: NumberOptionRules): number | undefined;
export function parseNumberOption(value: string | undefined, name: string, opts: NumberOptionRules = {}): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (value.trim() === "" || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.positive && v <= 0)) {
    const what = opts.integer ? "integer" : "number";
    const expected = opts.positive ? `a positive ${what}` : `${opts.integer ? "an integer" : "a number"}${opts.min !== undefined ? ` >= ${opts.min}` : ""}`;
    throw new AxnnError(`expected ${expected}, got "${value}"`, { field: name });
  }
  return v;
}

export interface NumberOptionRules {
  min?: number;
  integer?: boolean;
  /** Greater than 0. */
  positive?: boolean;
}

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AxnnError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
  return parseJson(text, file);
}

/** A plain text table with aligned columns. */
export function textTable(columns: string[], rows: (string | number | undefined)[][]): string {
  const fmt = (v: string | number | undefined): string =>
    v === undefined ? "-" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3)) : v;
  const cells = rows.map((r) => r.map(fmt));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/**
 * `--device cpu|gpu|auto` (default: the AXNN_DEVICE environment variable, else the CPU) on a
 * command that runs kernels, applied before its action: useDevice.
 */
export function deviceOption(cmd: Command): Command {
  return cmd
    .addOption(new Option("--device <device>", "where the kernels run: cpu, gpu (WebGPU; an error without a usable adapter) or auto (a hardware GPU when there is one, else the CPU)").env("AXNN_DEVICE"))
    .hook("preAction", (_command, action) => useDevice(action));
}

/**
 * Selects the device `cmd`'s --device (or AXNN_DEVICE) names, if any: an AxnnError naming the
 * option or the variable when the value is unknown or gpu has no usable adapter; a one-line note
 * on stderr when auto runs on the CPU. Child processes (search nas) follow through AXNN_DEVICE.
 */
export function useDevice(cmd: Command): void {
  const value = cmd.opts().device as string | undefined;
  if (value === undefined || value === "") return;
  const field = cmd.getOptionValueSource("device") === "env" ? "AXNN_DEVICE" : "--device";
  const choice = selectDevice(parseDevice(value, field), field);
  if (choice.note) process.stderr.write(`axnn: ${choice.note}\n`);
}

/**
 * The one output option of every command: `-o, --out <what>`. `--output`, the spelling some
 * commands had, stays as a hidden alias. With `required`, a missing one is a usage error.
 */
export function addOutOption(cmd: Command, what: string, description: string, opts: { required?: boolean; default?: string } = {}): Command {
  cmd.option(`-o, --out <${what}>`, description, opts.default).addOption(new Option(`--output <${what}>`).hideHelp());
  return cmd.hook("preAction", (_self, action) => {
    const given = action.opts() as { out?: string; output?: string };
    if (given.output !== undefined) {
      if (action.getOptionValueSource("out") === "cli") throw new AxnnError("give -o/--out once (--output is its old name)", { field: "--out" });
      action.setOptionValue("out", given.output);
    }
    // Worded as commander's own missing-option error.
    if (opts.required && action.opts().out === undefined) throw new AxnnError(`required option '-o, --out <${what}>' not specified`);
  });
}
