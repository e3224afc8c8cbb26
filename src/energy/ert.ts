import { AxnnError } from "../util/errors.js";
import type { Architecture } from "./arch.js";
import { checkKeys, expectArray, expectNumber, expectObject, expectString, readYamlFile } from "./yaml.js";

/** Energy per action (pJ) of one component, keyed by action name (read, write, update, leak, compute, ...). */
export type ActionTable = Record<string, number>;

/** Accelergy's energy reference table, keyed by the component's own name (path and [a..b] stripped). */
export interface Ert {
  file: string;
  components: Map<string, ActionTable>;
}

/** "system_top_level.PE[0..167].mac[1..168]" -> "mac". */
export function ertComponentName(full: string): string {
  return full.replace(/\[\d+\.\.\d+\]/g, "").split(".").pop() ?? full;
}

/** Parses `ERT_summary.yaml` (v0.3: average_energy; v0.4: energy). */
export function parseErtSummary(doc: unknown, file: string): Ert {
  const top = expectObject(doc, file, "(top level)");
  checkKeys(top, ["ERT_summary"], file, "(top level)");
  const summary = expectObject(top.ERT_summary, file, "ERT_summary");
  checkKeys(summary, ["version", "table_summary"], file, "ERT_summary");
  const components = new Map<string, ActionTable>();
  expectArray(summary.table_summary, file, "ERT_summary.table_summary").forEach((raw, i) => {
    const f = `ERT_summary.table_summary[${i}]`;
    const entry = expectObject(raw, file, f);
    checkKeys(entry, ["name", "actions", "primitive_estimation(s)"], file, f);
    const name = ertComponentName(expectString(entry.name, file, `${f}.name`));
    const table: ActionTable = {};
    expectArray(entry.actions, file, `${f}.actions`).forEach((a, j) => {
      const af = `${f}.actions[${j}]`;
      const action = expectObject(a, file, af);
      checkKeys(action, ["name", "energy", "average_energy", "max_energy", "min_energy", "arguments"], file, af);
      const aname = expectString(action.name, file, `${af}.name`);
      const e = action.energy ?? action.average_energy;
      // Actions with arguments (address-dependent) keep the first listed value.
      if (table[aname] === undefined) table[aname] = expectNumber(e, file, `${af}.energy`);
    });
    components.set(name, table);
  });
  return { file, components };
}

export function loadErt(file: string): Ert {
  return parseErtSummary(readYamlFile(file), file);
}

/** The energies the model needs for a storage level (pJ per vector access; leak per instance-cycle). */
export interface StorageEnergies {
  read: number;
  write: number;
  update: number;
  leak: number;
}

export interface ComputeEnergies {
  compute: number;
  leak: number;
}

/** Looks up one storage level; `update` falls back to `write` (v0.3 tables have no update action). */
export function storageEnergies(ert: Ert, name: string): StorageEnergies {
  const t = ert.components.get(name);
  if (!t) throw new AxnnError(`no entry for component "${name}" (entries: ${[...ert.components.keys()].join(", ")})`, { file: ert.file, field: "ERT_summary.table_summary" });
  // reg_storage (v0.3) has a single "access" action.
  const read = t.read ?? t.random_read ?? t.access;
  const write = t.write ?? t.random_write ?? t.access;
  if (read === undefined || write === undefined) {
    throw new AxnnError(`component "${name}" lacks a read or write action (has: ${Object.keys(t).join(", ")})`, { file: ert.file, field: `ERT_summary.table_summary.${name}.actions` });
  }
  return { read, write, update: t.update ?? write, leak: t.leak ?? 0 };
}

/** Compute unit: `compute` (v0.4) or `mac_random` (v0.3 intmac). */
export function computeEnergies(ert: Ert, name: string): ComputeEnergies {
  const t = ert.components.get(name);
  if (!t) throw new AxnnError(`no entry for compute unit "${name}" (entries: ${[...ert.components.keys()].join(", ")})`, { file: ert.file, field: "ERT_summary.table_summary" });
  const compute = t.compute ?? t.mac_random ?? t.multiply_random;
  if (compute === undefined) throw new AxnnError(`compute unit "${name}" lacks a compute (or mac_random) action (has: ${Object.keys(t).join(", ")})`, { file: ert.file, field: `ERT_summary.table_summary.${name}.actions` });
  return { compute, leak: t.leak ?? 0 };
}

/** Checks up front that every non-dummy level and the compute unit have ERT entries. */
export function checkErtCoversArch(ert: Ert, arch: Architecture): void {
  for (const l of arch.levels) if (!l.dummy) storageEnergies(ert, l.name);
  computeEnergies(ert, arch.compute.name);
}
