import { AxnnError } from "../util/errors.js";
import { suggestions } from "../util/suggest.js";
import { checkKeys, expectArray, expectNumber, expectObject, expectPositiveInt, expectString, isObject, readYamlFile, type YamlObject } from "./yaml.js";

/** Mapping constraints attached to a level (Timeloop's `constraints:` / constraint `targets:`). */
export interface LevelConstraints {
  keep?: string[];
  bypass?: string[];
  /** Fixed temporal factors per dimension name (0 = the whole remaining dimension, as in Timeloop). */
  temporalFactors?: Record<string, number>;
  temporalPermutation?: string[];
  spatialFactors?: Record<string, number>;
  spatialPermutation?: string[];
  /** Dimensions before this index of the spatial permutation go to X, the rest to Y. */
  spatialSplit?: number;
}

/**
 * One storage level (outermost first). A `dummy` level is the placeholder Timeloop's v0.4 front end
 * inserts for a container with a spatial mesh (`inter_<name>_spatial`): it keeps nothing, costs
 * nothing and only fans out.
 */
export interface StorageLevel {
  name: string;
  className: string;
  dummy: boolean;
  instances: number;
  meshX: number;
  meshY: number;
  /** Fan-out to the next inner level (or the compute), split into the mesh's X and Y. */
  fanoutX: number;
  fanoutY: number;
  /** Words per vector access (width / (datawidth * cluster size)). */
  blockSize: number;
  clusterSize: number;
  datawidth: number;
  /** Capacity in words; undefined = unbounded (DRAM). */
  sizeWords?: number;
  readBandwidth?: number;
  writeBandwidth?: number;
  attributes: YamlObject;
  constraints: LevelConstraints;
}

export interface ComputeLevel {
  name: string;
  className: string;
  instances: number;
  meshX: number;
  meshY: number;
  multiplierWidth?: number;
  adderWidth?: number;
  attributes: YamlObject;
}

export interface Architecture {
  version: "0.3" | "0.4";
  file: string;
  levels: StorageLevel[];
  compute: ComputeLevel;
  /** What `lenient` loading let through (unknown attribute keys), one line each. */
  warnings: string[];
}

export interface ArchitectureLoadOptions {
  /** Unknown attribute keys become warnings (in `Architecture.warnings`) instead of errors. */
  lenient?: boolean;
}

/** Attribute keys the model reads (with Timeloop's aliases). */
const MODELLED_ATTRIBUTES = [
  "datawidth", "word-bits", "word_bits", "word_width", "width", "memory_width", "data_storage_width",
  "depth", "memory_depth", "data_storage_depth", "entries", "block_size", "block-size", "n_words",
  "cluster_size", "cluster-size", "read_bandwidth", "read-bandwidth", "write_bandwidth", "write-bandwidth",
  "meshX", "meshY", "technology", "multiplier_width", "adder_width",
];

/**
 * Keys Timeloop or Accelergy know that do not change this model's result: energies come from the
 * ERT (Accelergy's estimator inputs), and sparse, area and latency settings are not modelled.
 */
const IGNORED_ATTRIBUTES = [
  "type", "n_banks", "num_banks", "num-banks", "n_ports", "nports", "num_ports", "num-ports", "n_rdwr_ports", "n_rd_ports", "n_wr_ports",
  "n_rw_ports", "update_fifo_depth", "has_power_gating", "power_gated_at", "global_cycle_seconds", "action_latency_cycles", "latency",
  "min_utilization", "min-utilization", "reduction_supported", "metadata_storage_width", "metadata_storage_depth", "metadata_datawidth",
  "metadata_block_size", "metadata_word_bits", "metadata_counter_width", "metadata_width", "metadata_depth", "compression_supported",
  "decompression_supported", "concordant_compressed_tile_traversal", "tile_partition_supported", "n_bits", "precision", "area",
  "area_scale", "depthscale", "widthscale", "dynamic_energy_scale", "static_energy_scale", "energy_scale", "real_depth", "version",
  "width_a", "width_b", "cluster_area", "cluster-area", "network_fill_latency", "network_drain_latency", "network_read",
  "network_update", "network_fill", "network_drain", "network_operand", "network_result",
];

/** Keys Timeloop reads that change its result but this model does not take: refused unless at their default. */
const UNSUPPORTED_ATTRIBUTES: Record<string, unknown> = {
  multiple_buffering: 1, "multiple-buffering": 1, allow_overbooking: false, vector_access_energy: undefined, "vector-access-energy": undefined,
  addr_gen_energy: undefined, "addr-gen-energy": undefined, sizeKB: undefined, shared_bandwidth: undefined, bandwidth: undefined, instances: undefined,
};

const KNOWN_ATTRIBUTES = [...MODELLED_ATTRIBUTES, ...IGNORED_ATTRIBUTES, ...Object.keys(UNSUPPORTED_ATTRIBUTES)];

/**
 * Checks one `attributes:` block as written: a key neither the model nor Timeloop/Accelergy knows
 * (a typo such as `deepth:`, which would otherwise leave the buffer unbounded) is an error naming
 * the file, the component and the nearest known key, or a warning when `lenient`.
 */
function checkAttributes(attrs: YamlObject, file: string, field: string, component: string, opts: ArchitectureLoadOptions, warnings: string[]): void {
  for (const [key, value] of Object.entries(attrs)) {
    if (key in UNSUPPORTED_ATTRIBUTES) {
      const dflt = UNSUPPORTED_ATTRIBUTES[key];
      if (dflt === undefined || value !== dflt) {
        throw new AxnnError(`attribute "${key}" of ${component} changes Timeloop's result but is not modelled here${dflt === undefined ? "" : ` (only ${String(dflt)})`}`, { file, field: `${field}.${key}` });
      }
      continue;
    }
    if (KNOWN_ATTRIBUTES.includes(key)) continue;
    const near = suggestions(key, KNOWN_ATTRIBUTES);
    const msg = `unknown attribute "${key}" of ${component}${near.length ? `; did you mean "${near[0]}"?` : ""}`;
    if (!opts.lenient) throw new AxnnError(`${msg} (--lenient makes this a warning)`, { file, field: `${field}.${key}` });
    warnings.push(`${file}: ${field}.${key}: ${msg}; ignored`);
  }
}

const COMPUTE_CLASS = /(^|_)(intmac|fpmac|mac|lmac|compute|multiplier)$/i;

function isComputeClass(cls: string, subclass?: string): boolean {
  return COMPUTE_CLASS.test(cls) || (subclass !== undefined && COMPUTE_CLASS.test(subclass));
}

function num(attrs: YamlObject, keys: string[], file: string, field: string): number | undefined {
  for (const k of keys) {
    if (attrs[k] !== undefined) return expectNumber(attrs[k], file, `${field}.attributes.${k}`);
  }
  return undefined;
}

/**
 * Parses Timeloop's `factors`: a list ["R=1", ...] or a string "R=1 S=1", or the `R1 S1` form (no
 * `=`) that Timeloop's mapper writes into its own mapping YAML.
 */
export function parseFactorList(v: unknown, file: string, field: string): Record<string, number> {
  const items = typeof v === "string" ? v.trim().split(/\s+/) : expectArray(v, file, field).map((x, i) => expectString(x, file, `${field}[${i}]`));
  const out: Record<string, number> = {};
  for (const item of items) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\d+)$/.exec(item.trim()) ?? /^([A-Za-z_]+)(\d+)$/.exec(item.trim());
    if (!m) throw new AxnnError(`expected DIM=NUMBER or DIMNUMBER, got "${item}"`, { file, field });
    if (out[m[1]!] !== undefined) throw new AxnnError(`factor of ${m[1]} given twice`, { file, field });
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Parses a permutation: a list of names, or Timeloop's string ("NPQR SCM" or "RSCMN"; letters = dims). */
export function parsePermutation(v: unknown, file: string, field: string): string[] {
  if (typeof v === "string") return [...v.replace(/\s+/g, "")];
  return expectArray(v, file, field).map((x, i) => expectString(x, file, `${field}[${i}]`));
}

function parseConstraintBlock(c: unknown, file: string, field: string, into: LevelConstraints): void {
  const o = expectObject(c, file, field);
  checkKeys(o, ["dataspace", "temporal", "spatial"], file, field);
  if (o.dataspace !== undefined) {
    const d = expectObject(o.dataspace, file, `${field}.dataspace`);
    checkKeys(d, ["keep", "bypass", "keep_only", "bypass_only", "no_coalesce"], file, `${field}.dataspace`);
    if (d.keep !== undefined) into.keep = expectArray(d.keep, file, `${field}.dataspace.keep`).map((x) => expectString(x, file, `${field}.dataspace.keep`));
    if (d.bypass !== undefined) into.bypass = expectArray(d.bypass, file, `${field}.dataspace.bypass`).map((x) => expectString(x, file, `${field}.dataspace.bypass`));
  }
  if (o.temporal !== undefined) {
    const t = expectObject(o.temporal, file, `${field}.temporal`);
    checkKeys(t, ["factors", "permutation", "no_reuse", "no_iteration_over_dataspaces", "factors_only"], file, `${field}.temporal`);
    if (t.factors !== undefined) into.temporalFactors = parseFactorList(t.factors, file, `${field}.temporal.factors`);
    if (t.permutation !== undefined) into.temporalPermutation = parsePermutation(t.permutation, file, `${field}.temporal.permutation`);
  }
  if (o.spatial !== undefined) {
    const s = expectObject(o.spatial, file, `${field}.spatial`);
    checkKeys(s, ["factors", "permutation", "split", "no_reuse", "no_link_transfer", "factors_only"], file, `${field}.spatial`);
    if (s.factors !== undefined) into.spatialFactors = parseFactorList(s.factors, file, `${field}.spatial.factors`);
    if (s.permutation !== undefined) into.spatialPermutation = parsePermutation(s.permutation, file, `${field}.spatial.permutation`);
    if (s.split !== undefined) into.spatialSplit = expectNumber(s.split, file, `${field}.spatial.split`);
  }
}

function storageFromAttrs(
  name: string, className: string, attrs: YamlObject, instances: number, meshX: number, file: string, field: string,
  legacy: boolean, constraints: LevelConstraints,
): StorageLevel {
  const datawidth = num(attrs, legacy ? ["word-bits", "word_bits", "word_width", "datawidth"] : ["datawidth", "word-bits", "word_bits", "word_width"], file, field) ?? 8;
  const width = num(attrs, ["width", "memory_width", "data_storage_width"], file, field);
  const depth = num(attrs, ["depth", "memory_depth", "data_storage_depth"], file, field);
  const entries = num(attrs, ["entries"], file, field);
  const clusterSize = num(attrs, ["cluster_size", "cluster-size"], file, field) ?? 1;
  let blockSize = num(attrs, ["block_size", "block-size", "n_words"], file, field);
  if (blockSize === undefined) blockSize = width !== undefined ? Math.max(1, Math.floor(width / (datawidth * clusterSize))) : 1;
  if (meshX < 1 || instances % meshX !== 0) throw new AxnnError(`meshX ${meshX} does not divide the ${instances} instances`, { file, field });
  const isDram = /dram/i.test(className);
  return {
    name, className, dummy: false, instances, meshX, meshY: instances / meshX, fanoutX: 1, fanoutY: 1,
    blockSize, clusterSize, datawidth,
    // Timeloop: `entries` is the capacity in words, `depth` counts blocks.
    sizeWords: isDram ? undefined : entries ?? (depth === undefined ? undefined : depth * blockSize),
    readBandwidth: num(attrs, ["read_bandwidth", "read-bandwidth"], file, field),
    writeBandwidth: num(attrs, ["write_bandwidth", "write-bandwidth"], file, field),
    attributes: attrs,
    constraints,
  };
}

/** Sets each level's fan-out from the instance counts of the level below it. */
function linkFanouts(levels: StorageLevel[], compute: ComputeLevel, file: string): void {
  for (let i = 0; i < levels.length; i++) {
    const outer = levels[i]!;
    const inner = i + 1 < levels.length ? levels[i + 1]! : compute;
    if (inner.instances % outer.instances !== 0) {
      throw new AxnnError(`${inner.name} has ${inner.instances} instances, not a multiple of ${outer.name}'s ${outer.instances}`, { file, field: inner.name });
    }
    const fanout = inner.instances / outer.instances;
    if (inner.meshX % outer.meshX !== 0) {
      throw new AxnnError(`inconsistent mesh: ${inner.name} meshX ${inner.meshX} is not a multiple of ${outer.name} meshX ${outer.meshX}`, { file, field: inner.name });
    }
    const fx = inner.meshX / outer.meshX;
    if (fanout % fx !== 0) throw new AxnnError(`inconsistent mesh between ${outer.name} and ${inner.name}: fan-out ${fanout} is not a multiple of the X fan-out ${fx}`, { file, field: inner.name });
    outer.fanoutX = fx;
    outer.fanoutY = fanout / fx;
  }
}

// ---------------------------------------------------------------- v0.4

function parseV04(arch: YamlObject, file: string, opts: ArchitectureLoadOptions): Architecture {
  checkKeys(arch, ["version", "nodes"], file, "architecture");
  const warnings: string[] = [];
  const levels: StorageLevel[] = [];
  let compute: ComputeLevel | undefined;
  const names = new Set<string>();

  const walk = (nodes: unknown[], field: string, ctx: { instances: number; meshX: number; attrs: YamlObject }): void => {
    nodes.forEach((raw, i) => {
      const f = `${field}[${i}]`;
      const node = expectObject(raw, file, f);
      const tag = node.__tag as string | undefined;
      if (tag === undefined) throw new AxnnError("node without a tag (expected !Container, !Component, !Parallel, !Hierarchical or !Nothing)", { file, field: f });
      if (tag === "Nothing") {
        checkKeys(node, ["constraints"], file, f);
        return;
      }
      if (tag === "Parallel" || tag === "Hierarchical" || tag === "Pipelined") {
        checkKeys(node, ["nodes", "name"], file, f);
        // Parallel siblings share the instances above them; Timeloop stacks them in listed order.
        walk(expectArray(node.nodes, file, `${f}.nodes`), `${f}.nodes`, ctx);
        return;
      }
      const name = expectString(node.name, file, `${f}.name`);
      if (node.attributes !== undefined) checkAttributes(expectObject(node.attributes, file, `${f}.attributes`), file, `${f}.attributes`, name, opts, warnings);
      const attrs = { ...ctx.attrs, ...(node.attributes === undefined ? {} : expectObject(node.attributes, file, `${f}.attributes`)) };
      const constraints: LevelConstraints = {};
      if (node.constraints !== undefined) parseConstraintBlock(node.constraints, file, `${f}.constraints`, constraints);
      let meshX = 1, meshY = 1;
      if (node.spatial !== undefined) {
        const sp = expectObject(node.spatial, file, `${f}.spatial`);
        checkKeys(sp, ["meshX", "meshY"], file, `${f}.spatial`);
        meshX = sp.meshX === undefined ? 1 : expectPositiveInt(sp.meshX, file, `${f}.spatial.meshX`);
        meshY = sp.meshY === undefined ? 1 : expectPositiveInt(sp.meshY, file, `${f}.spatial.meshY`);
      }
      if (tag === "Container") {
        checkKeys(node, ["name", "attributes", "spatial", "constraints", "networks", "max_utilization"], file, f);
        // Containers pass attributes (technology, datawidth, ...) down, as Accelergy does.
        ctx.attrs = { ...ctx.attrs, ...(node.attributes === undefined ? {} : expectObject(node.attributes, file, `${f}.attributes`)) };
        if (meshX * meshY > 1) {
          const dname = `inter_${name}_spatial`;
          if (names.has(dname)) throw new AxnnError(`duplicate level name "${dname}"`, { file, field: f });
          names.add(dname);
          levels.push({
            name: dname, className: "dummy", dummy: true, instances: ctx.instances, meshX: ctx.meshX, meshY: ctx.instances / ctx.meshX,
            fanoutX: 1, fanoutY: 1, blockSize: 1, clusterSize: 1, datawidth: 8, attributes: {}, constraints,
          });
          ctx.instances *= meshX * meshY;
          ctx.meshX *= meshX;
        }
        return;
      }
      if (tag !== "Component") throw new AxnnError(`unknown tag !${tag}`, { file, field: f });
      checkKeys(node, ["name", "class", "subclass", "attributes", "constraints", "spatial", "required_actions", "area_share", "enabled", "actions"], file, f);
      if (compute !== undefined) throw new AxnnError(`component "${name}" comes after the compute unit "${compute.name}"`, { file, field: f });
      if (names.has(name)) throw new AxnnError(`duplicate level name "${name}"`, { file, field: f });
      names.add(name);
      const cls = expectString(node.class, file, `${f}.class`);
      const sub = node.subclass === undefined ? undefined : expectString(node.subclass, file, `${f}.subclass`);
      if (meshX * meshY > 1) {
        // A component with its own mesh: an array of it directly under the previous level.
        ctx.instances *= meshX * meshY;
        ctx.meshX *= meshX;
      }
      if (isComputeClass(cls, sub)) {
        compute = {
          name, className: sub ?? cls, instances: ctx.instances, meshX: ctx.meshX, meshY: ctx.instances / ctx.meshX, attributes: attrs,
          multiplierWidth: num(attrs, ["multiplier_width"], file, f), adderWidth: num(attrs, ["adder_width"], file, f),
        };
      } else {
        levels.push(storageFromAttrs(name, sub ?? cls, attrs, ctx.instances, ctx.meshX, file, f, false, constraints));
      }
    });
  };
  walk(expectArray(arch.nodes, file, "architecture.nodes"), "architecture.nodes", { instances: 1, meshX: 1, attrs: {} });
  if (compute === undefined) throw new AxnnError("no compute unit (a component of class intmac/mac/compute)", { file, field: "architecture.nodes" });
  if (levels.filter((l) => !l.dummy).length === 0) throw new AxnnError("no storage level", { file, field: "architecture.nodes" });
  // A container's mesh only counts if something follows it; drop trailing dummies that fan out to nothing.
  linkFanouts(levels, compute, file);
  return { version: "0.4", file, levels, compute, warnings };
}

// ---------------------------------------------------------------- v0.3

const ARRAY_NAME = /^(.*)\[(\d+)\.\.(\d+)\]$/;

function splitArrayName(raw: string, file: string, field: string): { name: string; count: number } {
  const m = ARRAY_NAME.exec(raw.trim());
  if (!m) return { name: raw.trim(), count: 1 };
  const lo = Number(m[2]), hi = Number(m[3]);
  if (hi < lo) throw new AxnnError(`bad array range in "${raw}"`, { file, field });
  return { name: m[1]!, count: hi - lo + 1 };
}

function parseV03(arch: YamlObject, file: string, opts: ArchitectureLoadOptions): Architecture {
  checkKeys(arch, ["version", "subtree", "local"], file, "architecture");
  const warnings: string[] = [];
  const levels: StorageLevel[] = [];
  let compute: ComputeLevel | undefined;
  const names = new Set<string>();

  const walkTree = (node: YamlObject, field: string, instances: number, attrs: YamlObject): void => {
    checkKeys(node, ["name", "attributes", "local", "subtree"], file, field);
    const { name: treeName, count } = splitArrayName(expectString(node.name, file, `${field}.name`), file, `${field}.name`);
    if (node.attributes !== undefined) checkAttributes(expectObject(node.attributes, file, `${field}.attributes`), file, `${field}.attributes`, treeName, opts, warnings);
    const inst = instances * count;
    const a = { ...attrs, ...(node.attributes === undefined ? {} : expectObject(node.attributes, file, `${field}.attributes`)) };
    const locals = node.local === undefined ? [] : expectArray(node.local, file, `${field}.local`);
    locals.forEach((raw, i) => {
      const f = `${field}.local[${i}]`;
      const c = expectObject(raw, file, f);
      checkKeys(c, ["name", "class", "subclass", "attributes", "required_actions"], file, f);
      const { name, count: n } = splitArrayName(expectString(c.name, file, `${f}.name`), file, `${f}.name`);
      if (compute !== undefined) throw new AxnnError(`component "${name}" comes after the compute unit "${compute.name}"`, { file, field: f });
      if (names.has(name)) throw new AxnnError(`duplicate component name "${name}"`, { file, field: f });
      names.add(name);
      const cls = expectString(c.class, file, `${f}.class`);
      const sub = c.subclass === undefined ? undefined : expectString(c.subclass, file, `${f}.subclass`);
      if (c.attributes !== undefined) checkAttributes(expectObject(c.attributes, file, `${f}.attributes`), file, `${f}.attributes`, name, opts, warnings);
      const ca = { ...a, ...(c.attributes === undefined ? {} : expectObject(c.attributes, file, `${f}.attributes`)) };
      const total = inst * n;
      const own = c.attributes === undefined ? {} : (c.attributes as YamlObject);
      // Timeloop v0.3: meshX defaults to the instance count (a 1-D row).
      const meshX = own.meshX === undefined ? total : expectPositiveInt(own.meshX, file, `${f}.attributes.meshX`);
      if (total % meshX !== 0) throw new AxnnError(`meshX ${meshX} does not divide the ${total} instances`, { file, field: `${f}.attributes.meshX` });
      if (own.meshY !== undefined && expectPositiveInt(own.meshY, file, `${f}.attributes.meshY`) !== total / meshX) {
        throw new AxnnError(`meshY ${String(own.meshY)} disagrees with ${total} instances / meshX ${meshX}`, { file, field: `${f}.attributes.meshY` });
      }
      if (isComputeClass(cls, sub)) {
        compute = {
          name, className: sub ?? cls, instances: total, meshX, meshY: total / meshX, attributes: ca,
          multiplierWidth: num(ca, ["multiplier_width", "datawidth"], file, f), adderWidth: num(ca, ["adder_width"], file, f),
        };
      } else {
        levels.push(storageFromAttrs(name, sub ?? cls, ca, total, meshX, file, f, true, {}));
      }
    });
    const subs = node.subtree === undefined ? [] : expectArray(node.subtree, file, `${field}.subtree`);
    if (subs.length > 1) throw new AxnnError("more than one subtree at one level is not supported (heterogeneous designs)", { file, field: `${field}.subtree` });
    subs.forEach((s, i) => walkTree(expectObject(s, file, `${field}.subtree[${i}]`), `${field}.subtree[${i}]`, inst, a));
  };
  const roots = arch.subtree === undefined ? [] : expectArray(arch.subtree, file, "architecture.subtree");
  if (roots.length !== 1) throw new AxnnError("expected exactly one top-level subtree", { file, field: "architecture.subtree" });
  walkTree(expectObject(roots[0], file, "architecture.subtree[0]"), "architecture.subtree[0]", 1, {});
  if (compute === undefined) throw new AxnnError("no compute unit (a component of class intmac/mac/compute)", { file, field: "architecture.subtree" });
  if (levels.length === 0) throw new AxnnError("no storage level", { file, field: "architecture.subtree" });
  linkFanouts(levels, compute, file);
  return { version: "0.3", file, levels, compute, warnings };
}

/**
 * Applies a v0.3-style constraints file (`architecture_constraints:` / `mapspace_constraints:` with
 * `targets:`) to an architecture. Unknown targets are AxnnErrors.
 */
export function applyConstraintTargets(arch: Architecture, doc: unknown, file: string): void {
  const top = expectObject(doc, file, "(top level)");
  for (const key of Object.keys(top)) {
    if (!["architecture_constraints", "mapspace_constraints", "constraints"].includes(key)) {
      throw new AxnnError(`unknown key "${key}" (expected architecture_constraints or mapspace_constraints)`, { file, field: key });
    }
    const block = expectObject(top[key], file, key);
    checkKeys(block, ["targets"], file, key);
    expectArray(block.targets, file, `${key}.targets`).forEach((t, i) => {
      const f = `${key}.targets[${i}]`;
      const o = expectObject(t, file, f);
      checkKeys(o, ["target", "type", "keep", "bypass", "factors", "permutation", "split", "no_reuse"], file, f);
      const target = expectString(o.target, file, `${f}.target`);
      const level = arch.levels.find((l) => l.name === target);
      if (!level) throw new AxnnError(`no level named "${target}" (levels: ${arch.levels.map((l) => l.name).join(", ")})`, { file, field: `${f}.target` });
      const type = expectString(o.type, file, `${f}.type`);
      const c = level.constraints;
      if (type === "bypass" || type === "dataspace" || type === "datatype") {
        if (o.keep !== undefined) c.keep = expectArray(o.keep, file, `${f}.keep`).map((x) => expectString(x, file, `${f}.keep`));
        if (o.bypass !== undefined) c.bypass = expectArray(o.bypass, file, `${f}.bypass`).map((x) => expectString(x, file, `${f}.bypass`));
      } else if (type === "temporal") {
        if (o.factors !== undefined) c.temporalFactors = { ...c.temporalFactors, ...parseFactorList(o.factors, file, `${f}.factors`) };
        if (o.permutation !== undefined) c.temporalPermutation = parsePermutation(o.permutation, file, `${f}.permutation`);
      } else if (type === "spatial") {
        if (o.factors !== undefined) c.spatialFactors = { ...c.spatialFactors, ...parseFactorList(o.factors, file, `${f}.factors`) };
        if (o.permutation !== undefined) c.spatialPermutation = parsePermutation(o.permutation, file, `${f}.permutation`);
        if (o.split !== undefined) c.spatialSplit = expectNumber(o.split, file, `${f}.split`);
      } else if (type !== "utilization") {
        throw new AxnnError(`unknown constraint type "${type}" (expected temporal, spatial, bypass, dataspace)`, { file, field: `${f}.type` });
      }
    });
  }
}

/** Parses an architecture YAML in either dialect into one normalised form. */
export function parseArchitecture(doc: unknown, file: string, opts: ArchitectureLoadOptions = {}): Architecture {
  const top = expectObject(doc, file, "(top level)");
  checkKeys(top, ["architecture", "variables", "components"], file, "(top level)");
  const arch = expectObject(top.architecture, file, "architecture");
  const version = arch.version === undefined ? undefined : String(arch.version);
  if (arch.nodes !== undefined || version === "0.4") {
    if (version !== undefined && version !== "0.4") throw new AxnnError(`"nodes" needs version 0.4, got ${version}`, { file, field: "architecture.version" });
    return parseV04(arch, file, opts);
  }
  if (arch.subtree !== undefined || version === "0.3") return parseV03(arch, file, opts);
  throw new AxnnError("expected architecture.nodes (v0.4) or architecture.subtree (v0.3)", { file, field: "architecture" });
}

export function loadArchitecture(file: string, opts: ArchitectureLoadOptions = {}): Architecture {
  return parseArchitecture(readYamlFile(file), file, opts);
}

export function isArchDoc(doc: unknown): boolean {
  return isObject(doc) && isObject(doc.architecture);
}
