import { AxnnError } from "../../util/errors.js";
import type { Netlist } from "./ir.js";
import { counterBit, evaluateGate, netlistShape, simulate } from "./simulate.js";
import { GSCL45_CELLS, GSCL45_LIBRARY, GSCL45_VDD, gateCellKey, type CellFigures } from "./cells45.js";
import { mulberry32 } from "../../util/random.js";

/**
 * Hardware cost of a gate-level netlist: cells by type, area, and power from switching
 * activity priced with per-cell figures of a 45 nm library (cells45.ts).
 *
 * Model (docs/cost-model.md): a stream of operand pairs is simulated bit-parallel; every net's
 * transitions between consecutive vectors are counted. Each transition of a cell output costs
 * the cell's internal energy for that output, and each transition of any net costs
 * 0.5 * C * Vdd^2 with C the input pin capacitance it drives. Leakage is summed per cell.
 * Before pricing, logic a synthesis tool would remove is dropped: gates whose output reaches
 * no output port, and gates whose output is constant over all inputs (checked exhaustively
 * when the ports have at most 20 bits together); and loose XOR/AND/OR groups that form half
 * or full adders are priced as HA/FA cells, as synthesis maps them. Measured against
 * EvoApproxLib's published PDK45 power on 41 circuits: Spearman 0.99 (docs/cost-model.md).
 */

export interface PortStimulus {
  /** Values (or raw bit patterns) on port A, one per cycle. */
  a: ArrayLike<number>;
  /** Values (or raw bit patterns) on port B, one per cycle. */
  b: ArrayLike<number>;
}

export interface OperandStimulus {
  /** Activation operands, one per cycle; signed values or raw bit patterns. */
  activations: ArrayLike<number>;
  /** Weight operands, one per cycle; they go to the port the orientation rule gives them. */
  weights: ArrayLike<number>;
}

export interface PowerOptions {
  /** Operand stream to replay; default: `samples` uniformly random operand pairs. */
  stimulus?: OperandStimulus | PortStimulus;
  /** Number of random operand pairs (default 10,000). Ignored with `stimulus`. */
  samples?: number;
  /** Seed of the random stream (default 1). */
  seed?: number;
  /** Operations per second, one per clock cycle, in MHz (default 1000). */
  frequencyMHz?: number;
  /** Cell figures to price with (default: gscl45nm, cells45.ts). */
  library?: Readonly<Record<string, CellFigures>>;
  /** Supply voltage for net switching energy (default: the library's 1.1 V). */
  vdd?: number;
  /**
   * "zero": each net switches at most once per cycle (settled values only).
   * "unit": every cell switches one time unit after its inputs, so glitches count too.
   */
  delay?: "zero" | "unit";
  /**
   * Price loose XOR/AND/OR groups that form half or full adders as HA/FA cells, as synthesis
   * maps them (default true). Netlists made of cells are unaffected.
   */
  mapAdders?: boolean;
}

export interface TypePower {
  /** Cells (or loose gates) of this type; for "inputs", the input port bits that drive something. */
  count: number;
  /** Transitions per cycle of the outputs of these cells. */
  togglesPerCycle: number;
  /** Internal energy of these cells plus the switching energy of the nets they drive. */
  dynamicMw: number;
  leakageMw: number;
}

export interface PowerEstimate {
  dynamicMw: number;
  leakageMw: number;
  totalMw: number;
  /** Dynamic energy of one operation, fJ. */
  energyPerOpFj: number;
  /** Net transitions per cycle: cell outputs plus used input port bits. */
  togglesPerCycle: number;
  frequencyMHz: number;
  /** Operand pairs simulated (transitions are counted between consecutive ones). */
  samples: number;
  /** Per cell type; "inputs" holds the switching energy of the input port nets. */
  perType: Record<string, TypePower>;
  library: string;
}

/**
 * What `axnn mult metrics --json` prints for a netlist's cost: gate counts as written in the
 * netlist (live logic only), and area and power as priced (adders mapped).
 */
export interface NetlistCost {
  gates: Record<string, number>;
  area_estimate_um2: number;
  power_estimate: {
    total_mW: number;
    dynamic_mW: number;
    leakage_mW: number;
    frequency_MHz: number;
    toggles_per_cycle: number;
    samples: number;
    stimulus: string;
    delay_model: "zero" | "unit";
    library: string;
  };
}

const DEFAULT_SAMPLES = 10_000;
const DEFAULT_SEED = 1;
const DEFAULT_FREQUENCY_MHZ = 1000;
const DEFAULT_DELAY: "zero" | "unit" = "zero";
const DEFAULT_MAP_ADDERS = true;
/** Exhaustive constant detection up to this many input bits (2^20 vectors = 32,768 words). */
const MAX_EXHAUSTIVE_BITS = 20;

/** One priced instance: a library cell, a loose gate, or a cell type the library lacks. */
interface Unit {
  type: string;
  areaUm2: number;
  leakageNw: number;
  outputs: { net: number; energyFj: number }[];
  /** Input pins, each on the net (resolved through wires) it loads. */
  pins: { net: number; capFf: number }[];
}

interface Analysis {
  units: Unit[];
  /** Gates and cells removed as unused or constant (not counting wires and constants). */
  dropped: number;
  inputNets: number[];
}

export interface CountOptions {
  /** Cell figures (default gscl45nm); only decides which cell types are known. */
  library?: Readonly<Record<string, CellFigures>>;
  /** Count loose XOR/AND/OR groups that form half/full adders as HA/FA cells (default false). */
  mapAdders?: boolean;
}

/**
 * Cells (by type, from `nl.cells`) and loose gates (AND2, OR2, XOR2, NOT, ...) of the logic
 * that reaches an output, plus `total`; `dropped` counts unused or constant logic left out.
 * Wires (BUF) and constants are not counted.
 */
export function gateCounts(nl: Netlist, opts: CountOptions = {}): Record<string, number> {
  const { units, dropped } = analyze(nl, opts.library ?? GSCL45_CELLS, opts.mapAdders ?? false);
  const counts: Record<string, number> = {};
  for (const u of units) counts[u.type] = (counts[u.type] ?? 0) + 1;
  const sorted: Record<string, number> = {};
  for (const k of Object.keys(counts).sort()) sorted[k] = counts[k]!;
  sorted.total = units.length;
  if (dropped > 0) sorted.dropped = dropped;
  return sorted;
}

/**
 * gateCounts in words, as the generator's summary and the Verilog header both say it:
 * "276 library cells (AND2 169, FA 10, HA 5, NOT 14, OR2 78; 6 unused or constant gates removed)".
 * Every loose gate is one library cell (AND2X1...), every half/full adder one HA/FA cell.
 */
export function describeGateCounts(counts: Readonly<Record<string, number>>): string {
  const types = Object.entries(counts).filter(([k]) => k !== "total" && k !== "dropped").map(([k, v]) => `${k} ${v}`);
  const dropped = counts.dropped ? `; ${counts.dropped} unused or constant gate${counts.dropped === 1 ? "" : "s"} removed` : "";
  return `${counts.total} library cell${counts.total === 1 ? "" : "s"} (${types.join(", ")}${dropped})`;
}

/** Total cell area, um^2 (loose half/full adders mapped to HA/FA cells unless `mapAdders` is false). */
export function estimateArea(nl: Netlist, opts: CountOptions = {}): number {
  return analyze(nl, opts.library ?? GSCL45_CELLS, opts.mapAdders ?? DEFAULT_MAP_ADDERS).units.reduce((s, u) => s + u.areaUm2, 0);
}

export function estimatePower(nl: Netlist, opts: PowerOptions = {}): PowerEstimate {
  const library = opts.library ?? GSCL45_CELLS;
  const vdd = opts.vdd ?? GSCL45_VDD;
  const frequencyMHz = opts.frequencyMHz ?? DEFAULT_FREQUENCY_MHZ;
  if (!(frequencyMHz > 0) || !Number.isFinite(frequencyMHz)) throw new AxnnError(`frequency must be a positive number of MHz, got ${frequencyMHz}`, { field: "frequencyMHz" });
  if (!(vdd > 0)) throw new AxnnError(`supply voltage must be positive, got ${vdd}`, { field: "vdd" });

  const { units, inputNets } = analyze(nl, library, opts.mapAdders ?? DEFAULT_MAP_ADDERS);
  const { drive, samples } = opts.stimulus ? suppliedStimulus(nl, opts.stimulus) : randomStimulus(nl, opts.samples ?? DEFAULT_SAMPLES, opts.seed ?? DEFAULT_SEED);
  const words = Math.ceil(samples / 32);
  const values = simulate(nl, words, (net) => drive.get(net)!);
  const transitions = samples - 1;
  const delay = opts.delay ?? DEFAULT_DELAY;
  if (delay !== "zero" && delay !== "unit") throw new AxnnError(`delay model must be "zero" or "unit", got ${String(delay)}`, { field: "delay" });
  const unitToggles = delay === "unit" ? unitDelayToggles(nl, values, samples) : undefined;

  const toggleCache = new Map<number, number>();
  const togglesPerCycle = (net: number): number => {
    let t = toggleCache.get(net);
    if (t === undefined) {
      t = (unitToggles ? unitToggles[net]! : countToggles(values[net]!, samples)) / transitions;
      toggleCache.set(net, t);
    }
    return t;
  };

  // Switching energy of each net's load, charged to whatever drives the net.
  const loadFf = new Map<number, number>();
  for (const u of units) for (const p of u.pins) loadFf.set(p.net, (loadFf.get(p.net) ?? 0) + p.capFf);
  const netEnergyFj = (net: number): number => 0.5 * (loadFf.get(net) ?? 0) * vdd * vdd * togglesPerCycle(net);

  // fJ per cycle at f MHz: 1e-15 J * f * 1e6 /s = f * 1e-9 W = f * 1e-6 mW.
  const fjToMw = frequencyMHz * 1e-6;
  const perTypeFj = new Map<string, { count: number; toggles: number; energyFj: number; leakageNw: number }>();
  const entry = (type: string) => {
    let e = perTypeFj.get(type);
    if (!e) perTypeFj.set(type, (e = { count: 0, toggles: 0, energyFj: 0, leakageNw: 0 }));
    return e;
  };
  let totalToggles = 0;
  for (const u of units) {
    const e = entry(u.type);
    e.count++;
    e.leakageNw += u.leakageNw;
    for (const o of u.outputs) {
      const t = togglesPerCycle(o.net);
      e.toggles += t;
      totalToggles += t;
      e.energyFj += t * o.energyFj + netEnergyFj(o.net);
    }
  }
  const usedInputs = inputNets.filter((net) => loadFf.has(net));
  if (usedInputs.length > 0) {
    const e = entry("inputs");
    e.count = usedInputs.length;
    for (const net of usedInputs) {
      const t = togglesPerCycle(net);
      e.toggles += t;
      totalToggles += t;
      e.energyFj += netEnergyFj(net);
    }
  }

  const perType: Record<string, TypePower> = {};
  let energyPerOpFj = 0;
  let leakageNw = 0;
  for (const type of [...perTypeFj.keys()].sort()) {
    const e = perTypeFj.get(type)!;
    energyPerOpFj += e.energyFj;
    leakageNw += e.leakageNw;
    perType[type] = { count: e.count, togglesPerCycle: e.toggles, dynamicMw: e.energyFj * fjToMw, leakageMw: e.leakageNw * 1e-6 };
  }
  const dynamicMw = energyPerOpFj * fjToMw;
  const leakageMw = leakageNw * 1e-6;
  return {
    dynamicMw,
    leakageMw,
    totalMw: dynamicMw + leakageMw,
    energyPerOpFj,
    togglesPerCycle: totalToggles,
    frequencyMHz,
    samples,
    perType,
    library: library === GSCL45_CELLS ? GSCL45_LIBRARY : "custom",
  };
}

/** Gate counts, area and power in one object, as the CLI prints them. */
export function netlistCost(nl: Netlist, opts: PowerOptions = {}): NetlistCost {
  const library = opts.library ?? GSCL45_CELLS;
  const p = estimatePower(nl, opts);
  return {
    gates: gateCounts(nl, { library }),
    area_estimate_um2: estimateArea(nl, { library, mapAdders: opts.mapAdders }),
    power_estimate: {
      total_mW: p.totalMw,
      dynamic_mW: p.dynamicMw,
      leakage_mW: p.leakageMw,
      frequency_MHz: p.frequencyMHz,
      toggles_per_cycle: p.togglesPerCycle,
      samples: p.samples,
      stimulus: opts.stimulus ? "supplied operand stream" : `uniform random operand pairs, seed ${opts.seed ?? DEFAULT_SEED}`,
      delay_model: opts.delay ?? DEFAULT_DELAY,
      library: p.library,
    },
  };
}

/**
 * Transitions of every net when each cell (or loose gate) switches one time unit after its
 * inputs: glitches included. Starts each cycle from the previous vector's settled values, with
 * the new inputs applied, and steps until nothing changes. Wires (loose BUF) have no delay, and
 * gates inside one cell instance act together as the cell.
 */
function unitDelayToggles(nl: Netlist, settled: Uint32Array[], samples: number): Float64Array {
  const n = nl.netNames.length;
  const words = Math.ceil(samples / 32);
  const mask = new Uint32Array(words).fill(0xffffffff);
  mask[0] = mask[0]! & ~1; // vector 0 has no predecessor
  if (samples % 32 !== 0) mask[words - 1] = mask[words - 1]! & ((1 << (samples % 32)) - 1);
  const driverCell = new Int32Array(n).fill(-1);
  const isPort = new Uint8Array(n);
  for (const net of [...nl.portA, ...nl.portB]) isPort[net] = 1;
  for (const g of nl.gates) if (g.cell !== undefined) driverCell[g.output] = g.cell;
  const toggles = new Float64Array(n);
  // Each net starts at its settled value for the previous vector (one vector earlier in the stream).
  let state: Uint32Array[] = new Array(n);
  for (let net = 0; net < n; net++) {
    const v = settled[net];
    if (!v) continue;
    if (isPort[net]) { state[net] = v; toggles[net] = countToggles(v, samples); continue; }
    const prev = new Uint32Array(words);
    for (let i = 0; i < words; i++) prev[i] = ((v[i]! << 1) | (i > 0 ? v[i - 1]! >>> 31 : 0)) >>> 0;
    state[net] = prev;
  }
  const scratch = new Uint32Array(words);
  for (let step = 0; step <= nl.gates.length; step++) {
    const next: Uint32Array[] = state.slice();
    let changed = false;
    for (const g of nl.gates) {
      const wire = g.kind === "BUF" && g.cell === undefined;
      const pick = (x: number) => (isPort[x] || wire || (g.cell !== undefined && driverCell[x] === g.cell) ? next[x]! : state[x]!);
      const x = g.inputs.length > 0 ? pick(g.inputs[0]!) : scratch;
      const y = g.inputs.length > 1 ? pick(g.inputs[1]!) : scratch;
      const out = new Uint32Array(words);
      evaluateGate(g.kind, x, y, out);
      const old = state[g.output]!;
      let t = 0;
      for (let i = 0; i < words; i++) {
        const d = (out[i]! ^ old[i]!) & mask[i]!;
        if (d !== 0) t += popcount(d);
      }
      if (t > 0) { toggles[g.output]! += t; changed = true; }
      next[g.output] = out;
    }
    state = next;
    if (!changed) break;
  }
  return toggles;
}

/** Transitions between consecutive vectors 0..samples-1 of a bit-parallel net value. */
export function countToggles(v: Uint32Array, samples: number): number {
  const words = Math.ceil(samples / 32);
  let count = 0;
  for (let i = 0; i < words; i++) {
    const prevBit = i > 0 ? v[i - 1]! >>> 31 : 0;
    let t = (v[i]! ^ ((v[i]! << 1) | prevBit)) >>> 0;
    if (i === 0) t &= ~1; // vector 0 has no predecessor
    if (i === words - 1 && samples % 32 !== 0) t &= (1 << (samples % 32)) - 1; // vectors past the end
    count += popcount(t);
  }
  return count;
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function randomStimulus(nl: Netlist, samples: number, seed: number): { drive: Map<number, Uint32Array>; samples: number } {
  if (!Number.isInteger(samples) || samples < 2) throw new AxnnError(`samples must be an integer of at least 2, got ${samples}`, { field: "samples" });
  if (!Number.isFinite(seed)) throw new AxnnError(`seed must be a number, got ${seed}`, { field: "seed" });
  const words = Math.ceil(samples / 32);
  const next = mulberry32(seed);
  const drive = new Map<number, Uint32Array>();
  // Independent uniform bits on every port bit = uniform operand pairs.
  for (const net of [...nl.portA, ...nl.portB]) {
    const v = new Uint32Array(words);
    for (let i = 0; i < words; i++) v[i] = next();
    drive.set(net, v);
  }
  return { drive, samples };
}

function suppliedStimulus(nl: Netlist, s: OperandStimulus | PortStimulus): { drive: Map<number, Uint32Array>; samples: number } {
  let aValues: ArrayLike<number>;
  let bValues: ArrayLike<number>;
  let aField: string;
  let bField: string;
  if ("activations" in s && "weights" in s) {
    if (s.activations.length !== s.weights.length) {
      throw new AxnnError(`stimulus.activations has ${s.activations.length} entries but stimulus.weights has ${s.weights.length}; they must pair up`, { field: "stimulus" });
    }
    const { activation } = netlistShape(nl);
    aValues = activation === "A" ? s.activations : s.weights;
    bValues = activation === "A" ? s.weights : s.activations;
    aField = activation === "A" ? "stimulus.activations" : "stimulus.weights";
    bField = activation === "A" ? "stimulus.weights" : "stimulus.activations";
  } else if ("a" in s && "b" in s) {
    aValues = s.a;
    bValues = s.b;
    aField = "stimulus.a";
    bField = "stimulus.b";
  } else {
    throw new AxnnError("stimulus needs either activations and weights, or a and b", { field: "stimulus" });
  }
  if (aValues.length !== bValues.length) {
    throw new AxnnError(`${aField} has ${aValues.length} entries but ${bField} has ${bValues.length}; they must pair up`, { field: "stimulus" });
  }
  const samples = aValues.length;
  if (samples < 2) throw new AxnnError(`an operand stream needs at least 2 entries to have transitions, got ${samples}`, { field: aField });
  const drive = new Map<number, Uint32Array>();
  packPort(nl.portA, aValues, aField, drive);
  packPort(nl.portB, bValues, bField, drive);
  return { drive, samples };
}

function packPort(nets: number[], values: ArrayLike<number>, field: string, drive: Map<number, Uint32Array>): void {
  const width = nets.length;
  const lo = -(2 ** (width - 1));
  const hi = 2 ** width - 1;
  const words = Math.ceil(values.length / 32);
  const packed = nets.map(() => new Uint32Array(words));
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new AxnnError(`entry ${k} is ${v}; a ${width}-bit operand must be an integer from ${lo} to ${hi}`, { field });
    }
    const code = v < 0 ? v + 2 ** width : v;
    for (let bit = 0; bit < width; bit++) {
      if (Math.floor(code / 2 ** bit) % 2 === 1) packed[bit]![k >>> 5]! |= 1 << (k & 31);
    }
  }
  nets.forEach((net, bit) => drive.set(net, packed[bit]!));
}

const analysisCache = new WeakMap<Netlist, WeakMap<object, Map<boolean, Analysis>>>();

function analyze(nl: Netlist, library: Readonly<Record<string, CellFigures>>, mapAdders: boolean): Analysis {
  let perLib = analysisCache.get(nl);
  if (!perLib) analysisCache.set(nl, (perLib = new WeakMap()));
  let perMode = perLib.get(library);
  if (!perMode) perLib.set(library, (perMode = new Map()));
  let a = perMode.get(mapAdders);
  if (!a) perMode.set(mapAdders, (a = analyzeUncached(nl, library, mapAdders)));
  return a;
}

interface AdderMatch {
  type: "HA" | "FA";
  /** Gate indices the adder replaces. */
  gates: number[];
  sum: number;
  carry: number;
  /** Input nets (resolved through wires). */
  inputs: number[];
}

/**
 * Half and full adders among loose gates, as a synthesis tool would map them onto HA/FA cells:
 * FA: p = a^b, s = p^c, co = (a&b) | (p&c), with p, a&b and p&c used nowhere else;
 * HA: a^b and a&b on the same two nets.
 */
function findAdders(nl: Netlist, liveGate: Uint8Array, root: Int32Array): AdderMatch[] {
  const gates = nl.gates;
  const loose = (gi: number) => liveGate[gi] === 1 && gates[gi]!.cell === undefined;
  const driver = new Int32Array(nl.netNames.length).fill(-1);
  const users: number[][] = Array.from({ length: nl.netNames.length }, () => []);
  gates.forEach((g, gi) => {
    if (!liveGate[gi]) return;
    driver[g.output] = gi;
    for (const x of g.inputs) users[x]!.push(gi);
  });
  const isOutput = new Uint8Array(nl.netNames.length);
  for (const net of nl.output) isOutput[net] = 1;
  const pairKey = (x: number, y: number) => (root[x]! < root[y]! ? `${root[x]},${root[y]}` : `${root[y]},${root[x]}`);
  const byKindPair = new Map<string, number[]>();
  gates.forEach((g, gi) => {
    if (!loose(gi) || g.inputs.length !== 2) return;
    const k = `${g.kind}:${pairKey(g.inputs[0]!, g.inputs[1]!)}`;
    byKindPair.set(k, [...(byKindPair.get(k) ?? []), gi]);
  });
  const taken = new Uint8Array(gates.length);
  const free = (gi: number | undefined): gi is number => gi !== undefined && gi >= 0 && loose(gi) && !taken[gi];
  const onlyUsedBy = (net: number, allowed: number[]) => !isOutput[net] && users[net]!.every((u) => allowed.includes(u));
  const found = (kind: string, x: number, y: number) => (byKindPair.get(`${kind}:${pairKey(x, y)}`) ?? []).find((gi) => free(gi));
  const matches: AdderMatch[] = [];

  gates.forEach((s, si) => {
    if (!free(si) || s.kind !== "XOR") return;
    for (const [pIn, cIn] of [[0, 1], [1, 0]] as const) {
      const p = s.inputs[pIn]!, c = s.inputs[cIn]!;
      const pi = driver[p]!;
      if (!free(pi) || pi === si || gates[pi]!.kind !== "XOR") continue;
      const [a, b] = gates[pi]!.inputs as [number, number];
      const ti = found("AND", p, c);
      const gi = found("AND", a, b);
      if (!free(ti) || !free(gi)) continue;
      const coi = found("OR", gates[gi]!.output, gates[ti]!.output);
      if (!free(coi)) continue;
      if (!onlyUsedBy(p, [si, ti]) || !onlyUsedBy(gates[gi]!.output, [coi]) || !onlyUsedBy(gates[ti]!.output, [coi])) continue;
      const group = [pi, si, gi, ti, coi];
      group.forEach((x) => { taken[x] = 1; });
      matches.push({ type: "FA", gates: group, sum: s.output, carry: gates[coi]!.output, inputs: [root[a]!, root[b]!, root[c]!] });
      return;
    }
  });
  gates.forEach((x, xi) => {
    if (!free(xi) || x.kind !== "XOR") return;
    const [a, b] = x.inputs as [number, number];
    const yi = found("AND", a, b);
    if (!free(yi)) return;
    taken[xi] = 1;
    taken[yi] = 1;
    matches.push({ type: "HA", gates: [xi, yi], sum: x.output, carry: gates[yi]!.output, inputs: [root[a]!, root[b]!] });
  });
  return matches;
}

function analyzeUncached(nl: Netlist, library: Readonly<Record<string, CellFigures>>, mapAdders: boolean): Analysis {
  const n = nl.netNames.length;
  const gates = nl.gates;
  const constant = constantNets(nl);

  // Liveness: a cell is kept whole if any of its outputs is used; wires pass liveness on.
  const live = new Uint8Array(n);
  for (const net of nl.output) if (constant[net]! < 0) live[net] = 1;
  const liveGate = new Uint8Array(gates.length);
  const liveCell = new Uint8Array(nl.cells.length);
  for (let changed = true; changed; ) {
    changed = false;
    for (let gi = gates.length - 1; gi >= 0; gi--) {
      if (liveGate[gi]) continue;
      const g = gates[gi]!;
      const inLiveCell = g.cell !== undefined && liveCell[g.cell] === 1;
      if (!inLiveCell && !(live[g.output] && constant[g.output]! < 0)) continue;
      liveGate[gi] = 1;
      changed = true;
      if (g.cell !== undefined) liveCell[g.cell] = 1;
      for (const x of g.inputs) if (constant[x]! < 0) live[x] = 1;
    }
  }

  // Wires: a loose BUF's output carries its input's value; loads on it load the input's net.
  // (A BUF inside a cell instance is a real buffer cell.)
  const root = new Int32Array(n);
  for (let i = 0; i < n; i++) root[i] = i;
  for (const g of gates) if (g.kind === "BUF" && g.cell === undefined) root[g.output] = root[g.inputs[0]!]!;

  const consumers = new Int32Array(n); // live non-wire consumers, for cell outputs
  const isOutput = new Uint8Array(n);
  for (const net of nl.output) isOutput[root[net]!] = 1;

  const figuresOf = (key: string): CellFigures => {
    const f = library[key];
    if (!f) throw new Error(`cell library has no figures for ${key}`);
    return f;
  };

  const units: Unit[] = [];
  const cellGates: number[][] = nl.cells.map(() => []);
  gates.forEach((g, gi) => { if (g.cell !== undefined && liveGate[gi]) cellGates[g.cell]!.push(gi); });
  const cellOf = new Int32Array(n).fill(-1); // net -> cell whose gate drives it
  gates.forEach((g) => { if (g.cell !== undefined) cellOf[g.output] = g.cell; });
  gates.forEach((g, gi) => {
    if (!liveGate[gi] || (g.kind === "BUF" && g.cell === undefined)) return;
    for (const x of g.inputs) {
      const r = root[x]!;
      if (g.cell === undefined || cellOf[r] !== g.cell) consumers[r]!++;
    }
  });

  let dropped = 0;
  const claimed = new Uint8Array(gates.length);
  if (mapAdders && library.HA && library.FA) {
    for (const m of findAdders(nl, liveGate, root)) {
      const f = library[m.type]!;
      m.gates.forEach((gi) => { claimed[gi] = 1; });
      units.push({
        type: m.type,
        areaUm2: f.areaUm2,
        leakageNw: f.leakageNw,
        outputs: [{ net: m.sum, energyFj: f.outputEnergyFj.YS ?? singleEnergy(f) }, { net: m.carry, energyFj: f.outputEnergyFj.YC ?? singleEnergy(f) }],
        pins: m.inputs.map((net) => ({ net, capFf: f.inputCapFf })),
      });
    }
  }
  gates.forEach((g, gi) => {
    if (g.cell !== undefined || claimed[gi]) return;
    const key = gateCellKey(g.kind);
    if (key === undefined) return;
    if (!liveGate[gi]) { dropped++; return; }
    const f = figuresOf(key);
    units.push({
      type: key,
      areaUm2: f.areaUm2,
      leakageNw: f.leakageNw,
      outputs: [{ net: g.output, energyFj: singleEnergy(f) }],
      pins: g.inputs.map((x) => ({ net: root[x]!, capFf: f.inputCapFf })),
    });
  });

  nl.cells.forEach((cell, c) => {
    const members = cellGates[c]!;
    if (!liveCell[c]) {
      if (gates.some((g) => g.cell === c && gateCellKey(g.kind) !== undefined)) dropped++;
      return;
    }
    const f = library[cell.type];
    const inside = new Set(members.map((gi) => gates[gi]!.output));
    if (f) {
      const pinNets = new Set<number>();
      for (const gi of members) for (const x of gates[gi]!.inputs) if (!inside.has(x)) pinNets.add(root[x]!);
      const outputs = members
        .map((gi) => gates[gi]!)
        .filter((g) => g.kind !== "CONST0" && g.kind !== "CONST1" && constant[g.output]! < 0 && (consumers[g.output]! > 0 || isOutput[g.output]))
        .map((g) => ({ net: g.output, energyFj: outputEnergy(f, g.kind) }));
      units.push({
        type: cell.type,
        areaUm2: f.areaUm2,
        leakageNw: f.leakageNw,
        outputs,
        pins: [...pinNets].filter((net) => constant[net]! < 0).map((net) => ({ net, capFf: f.inputCapFf })),
      });
    } else {
      // A cell type the library lacks costs what its gates would as loose gates.
      const u: Unit = { type: cell.type, areaUm2: 0, leakageNw: 0, outputs: [], pins: [] };
      for (const gi of members) {
        const g = gates[gi]!;
        const key = gateCellKey(g.kind);
        if (key === undefined) continue;
        const gf = figuresOf(key);
        u.areaUm2 += gf.areaUm2;
        u.leakageNw += gf.leakageNw;
        u.outputs.push({ net: g.output, energyFj: singleEnergy(gf) });
        for (const x of g.inputs) u.pins.push({ net: root[x]!, capFf: gf.inputCapFf });
      }
      units.push(u);
    }
  });

  const inputNets = [...nl.portA, ...nl.portB];
  return { units, dropped, inputNets };
}

function singleEnergy(f: CellFigures): number {
  const e = Object.values(f.outputEnergyFj);
  return e.reduce((s, x) => s + x, 0) / e.length;
}

/** Energy of a cell output by what drives it: the XOR of a half/full adder is its sum (YS). */
function outputEnergy(f: CellFigures, driverKind: string): number {
  const pins = f.outputEnergyFj;
  const names = Object.keys(pins);
  if (names.length === 1) return pins[names[0]!]!;
  if ("YS" in pins && "YC" in pins) return driverKind === "XOR" || driverKind === "XNOR" ? pins.YS! : pins.YC!;
  return singleEnergy(f);
}

/** 0 or 1 for nets constant over all inputs, -1 otherwise (or when the ports are too wide to check). */
function constantNets(nl: Netlist): Int8Array {
  const n = nl.netNames.length;
  const constant = new Int8Array(n).fill(-1);
  const inputs = [...nl.portA, ...nl.portB];
  if (inputs.length > MAX_EXHAUSTIVE_BITS) {
    // Too wide to enumerate: only literal constants are known.
    const known = new Map<number, 0 | 1>();
    for (const g of nl.gates) {
      if (g.kind === "CONST0") known.set(g.output, 0);
      else if (g.kind === "CONST1") known.set(g.output, 1);
    }
    for (const [net, v] of known) constant[net] = v;
    return constant;
  }
  const words = Math.max(1, 2 ** inputs.length / 32);
  const pattern = new Map<number, Uint32Array>();
  inputs.forEach((net, bit) => pattern.set(net, counterBit(bit, words)));
  const values = simulate(nl, words, (net) => pattern.get(net)!);
  for (const g of nl.gates) {
    const v = values[g.output]!;
    let all0 = true;
    let all1 = true;
    for (let i = 0; i < words && (all0 || all1); i++) {
      if (v[i] !== 0) all0 = false;
      if (v[i] !== 0xffffffff) all1 = false;
    }
    if (all0) constant[g.output] = 0;
    else if (all1) constant[g.output] = 1;
  }
  return constant;
}

export { GSCL45_CELLS, GSCL45_LIBRARY, GSCL45_VDD, type CellFigures } from "./cells45.js";
