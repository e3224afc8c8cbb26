import { existsSync } from "node:fs";
import { AxnnError } from "../util/errors.js";
import { dataPath } from "../util/paths.js";
import { applyConstraintTargets, loadArchitecture, type Architecture, type ArchitectureLoadOptions } from "./arch.js";
import { checkErtCoversArch, loadErt, type Ert } from "./ert.js";
import { readYamlFile } from "./yaml.js";

/** Built-in designs (data/energy/<name>/): the shared Timeloop reference architectures and their ERTs. */
export const PRESET_NAMES = ["eyeriss", "simba", "eyeriss-v03", "simba-v03"] as const;

export interface LoadedDesign {
  arch: Architecture;
  ert: Ert;
}

export function isPresetName(name: string): boolean {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/**
 * Loads an architecture and its ERT: `archRef` is a preset name or a YAML file; `ertFile` is needed
 * for a file (a preset brings its own, which `ertFile` overrides); `constraintsFile` adds
 * Timeloop-style constraint targets.
 */
export function loadDesign(archRef: string, ertFile?: string, constraintsFile?: string, opts: ArchitectureLoadOptions = {}): LoadedDesign {
  let arch: Architecture;
  let ert: Ert;
  if (isPresetName(archRef)) {
    const dir = dataPath("energy", archRef);
    arch = loadArchitecture(`${dir}/arch.yaml`);
    const cons = `${dir}/constraints.yaml`;
    if (existsSync(cons)) applyConstraintTargets(arch, readYamlFile(cons), cons);
    ert = loadErt(ertFile ?? `${dir}/ERT_summary.yaml`);
  } else {
    if (!existsSync(archRef)) {
      throw new AxnnError(`neither a preset (${PRESET_NAMES.join(", ")}) nor an existing file`, { file: archRef, field: "--arch" });
    }
    arch = loadArchitecture(archRef, opts);
    if (ertFile === undefined) throw new AxnnError("an architecture file needs --ert ERT_summary.yaml (presets bring their own)", { field: "--ert" });
    ert = loadErt(ertFile);
  }
  if (constraintsFile !== undefined) applyConstraintTargets(arch, readYamlFile(constraintsFile), constraintsFile);
  checkErtCoversArch(ert, arch);
  return { arch, ert };
}
