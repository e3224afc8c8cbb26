import { AxnnError } from "../util/errors.js";
import type { Architecture, StorageLevel } from "./arch.js";
import { checkKeys, expectArray, expectNumber, expectObject, expectString, readYamlFile, type YamlObject } from "./yaml.js";

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

/** Records `energy` as the action's price, keeping the largest of repeated entries (argument variants). */
function putMax(table: ActionTable, action: string, energy: number): void {
  table[action] = Math.max(table[action] ?? -Infinity, energy);
}

/**
 * Parses `ERT_summary.yaml`. An action is priced as Timeloop's ERT parser prices it: the maximum over
 * its argument variants, i.e. the summary's `max_energy` (v0.3) or `energy` (v0.4) — never
 * `average_energy`, which Timeloop does not use.
 */
export function parseErtSummary(doc: unknown, file: string): Ert {
  const top = expectObject(doc, file, "(top level)");
  if (top.ERT !== undefined) return parseFullErt(top, file);
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
      if (action.energy === undefined && action.max_energy === undefined) {
        throw new AxnnError(`action "${aname}" has no energy or max_energy (Timeloop prices an action with the maximum over its arguments)`, { file, field: af });
      }
      putMax(table, aname, expectNumber(action.energy ?? action.max_energy, file, `${af}.${action.energy !== undefined ? "energy" : "max_energy"}`));
    });
    components.set(name, table);
  });
  return { file, components };
}

/** Accelergy's full `ERT.yaml` (`ERT: {version, tables}`): each action's maximum over its argument variants. */
function parseFullErt(top: YamlObject, file: string): Ert {
  checkKeys(top, ["ERT"], file, "(top level)");
  const ert = expectObject(top.ERT, file, "ERT");
  checkKeys(ert, ["version", "tables"], file, "ERT");
  const components = new Map<string, ActionTable>();
  expectArray(ert.tables, file, "ERT.tables").forEach((raw, i) => {
    const f = `ERT.tables[${i}]`;
    const entry = expectObject(raw, file, f);
    checkKeys(entry, ["name", "actions"], file, f);
    const table: ActionTable = {};
    expectArray(entry.actions, file, `${f}.actions`).forEach((a, j) => {
      const af = `${f}.actions[${j}]`;
      const action = expectObject(a, file, af);
      checkKeys(action, ["name", "arguments", "energy"], file, af);
      putMax(table, expectString(action.name, file, `${af}.name`), expectNumber(action.energy, file, `${af}.energy`));
    });
    components.set(ertComponentName(expectString(entry.name, file, `${f}.name`)), table);
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
  /** Actions the ERT does not name, priced by Timeloop's built-in default instead (see `timeloopDefaultAccessEnergy`). */
  defaulted: ("read" | "write" | "update")[];
}

export interface ComputeEnergies {
  compute: number;
  leak: number;
}

/**
 * Timeloop's table from its own actions to ERT action names, in priority order
 * (`storageOperationMappings` in model/topology.hpp), in the generation each dialect is checked
 * against: v3.0.3 for v0.3 designs, the 2024 build for v0.4. An ERT action neither lists (such as
 * v0.3 `reg_storage`'s `access`) is ignored by Timeloop.
 */
const STORAGE_ACTIONS = {
  "0.3": { read: ["random_read", "read"], write: ["random_fill", "write"], update: ["random_update", "random_fill", "write"] },
  "0.4": { read: ["random_read", "read"], write: ["random_fill", "random_write", "fill", "write"], update: ["random_update", "random_write", "update", "write"] },
} as const;

/** Timeloop's compute actions in priority order (`arithmeticOperationMappings`). */
const COMPUTE_ACTIONS = ["mac_random", "mult_random", "mac", "mult", "compute"] as const;

/**
 * The energy per vector access Timeloop uses for an action its ERT table does not name: its built-in
 * PAT model (pat.cpp `DRAMEnergy`/`SRAMEnergy`, buffer.cpp `ParseSpecs`), per instance of a cluster.
 */
export function timeloopDefaultAccessEnergy(level: StorageLevel): number {
  const dram = level.className.includes("DRAM") || level.attributes.technology === "DRAM";
  if (dram) return (200 * level.datawidth * level.blockSize) / 16;
  const entries = level.sizeWords ?? 0;
  if (entries === 0) return 0;
  const width = level.datawidth * level.blockSize * level.clusterSize;
  const height = Math.ceil(entries / level.blockSize);
  // Linear in capacity between Eyeriss's 0.5 KB = 1 unit and 100 KB = 6 units, for a 16-bit access.
  const kb = (width * height) / (8 * 1024);
  const units = ((6 - 1) / (100 - 0.5)) * (kb - 0.5) + 1;
  return (units * width) / 16 / level.clusterSize;
}

/**
 * A storage level's energies as Timeloop prices them: each action from the first ERT action Timeloop's
 * table lists for it (see `STORAGE_ACTIONS`; `version` is the architecture's dialect), else Timeloop's
 * built-in default (see `timeloopDefaultAccessEnergy`).
 */
export function storageEnergies(ert: Ert, level: StorageLevel, version: Architecture["version"]): StorageEnergies {
  const t = ert.components.get(level.name);
  if (!t) throw new AxnnError(`no entry for component "${level.name}" (entries: ${[...ert.components.keys()].join(", ")})`, { file: ert.file, field: "ERT_summary.table_summary" });
  const defaulted: StorageEnergies["defaulted"] = [];
  const price = (op: "read" | "write" | "update"): number => {
    for (const a of STORAGE_ACTIONS[version][op]) if (t[a] !== undefined) return t[a]!;
    defaulted.push(op);
    return timeloopDefaultAccessEnergy(level);
  };
  const read = price("read"), write = price("write"), update = price("update");
  return { read, write, update, leak: t.leak ?? 0, defaulted };
}

/** Compute unit: Timeloop's first listed action (`mac_random`, `mult_random`, `mac`, `mult`, `compute`). */
export function computeEnergies(ert: Ert, name: string): ComputeEnergies {
  const t = ert.components.get(name);
  if (!t) throw new AxnnError(`no entry for compute unit "${name}" (entries: ${[...ert.components.keys()].join(", ")})`, { file: ert.file, field: "ERT_summary.table_summary" });
  const action = COMPUTE_ACTIONS.find((a) => t[a] !== undefined);
  if (action === undefined) throw new AxnnError(`compute unit "${name}" has none of the actions ${COMPUTE_ACTIONS.join(", ")} (has: ${Object.keys(t).join(", ")})`, { file: ert.file, field: `ERT_summary.table_summary.${name}.actions` });
  return { compute: t[action]!, leak: t.leak ?? 0 };
}

/** Checks up front that every non-dummy level and the compute unit have ERT entries. */
export function checkErtCoversArch(ert: Ert, arch: Architecture): void {
  for (const l of arch.levels) if (!l.dummy) storageEnergies(ert, l, arch.version);
  computeEnergies(ert, arch.compute.name);
}
