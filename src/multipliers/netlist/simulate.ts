import { AxnnError } from "../../util/errors.js";
import { ACTIVATION_BITS, createMultiplier, portRoles, tableSize, type Multiplier, type MultiplierMeta } from "../multiplier.js";
import type { GateKind, Netlist } from "./ir.js";

/**
 * Bit-parallel simulation: every net holds `words` 32-bit words, bit j of word i being
 * the net's value for stimulus number 32*i + j. One pass over the gates evaluates all
 * stimuli at once.
 */
export function simulate(nl: Netlist, words: number, drive: (portBitNet: number) => Uint32Array): Uint32Array[] {
  const values: Uint32Array[] = new Array(nl.netNames.length);
  for (const net of [...nl.portA, ...nl.portB]) {
    const v = drive(net);
    if (v.length !== words) throw new Error(`stimulus for ${nl.netNames[net]} has ${v.length} words, expected ${words}`);
    values[net] = v;
  }
  // One allocation for all gate outputs: thousands of small arrays cost more in GC than the evaluation.
  const pool = new Uint32Array(nl.gates.length * words);
  let next = 0;
  for (const g of nl.gates) {
    const out = pool.subarray(next, next + words);
    next += words;
    evaluateGate(g.kind, values[g.inputs[0]!]!, values[g.inputs[1]!]!, out);
    values[g.output] = out;
  }
  return values;
}

/** One gate over all bit-parallel words: `out = kind(x, y)` (y unused by one-input gates, both by constants). */
export function evaluateGate(kind: GateKind, x: Uint32Array | undefined, y: Uint32Array | undefined, out: Uint32Array): void {
  const words = out.length;
  switch (kind) {
    case "AND": for (let i = 0; i < words; i++) out[i] = x![i]! & y![i]!; break;
    case "OR": for (let i = 0; i < words; i++) out[i] = x![i]! | y![i]!; break;
    case "XOR": for (let i = 0; i < words; i++) out[i] = x![i]! ^ y![i]!; break;
    case "NAND": for (let i = 0; i < words; i++) out[i] = ~(x![i]! & y![i]!); break;
    case "NOR": for (let i = 0; i < words; i++) out[i] = ~(x![i]! | y![i]!); break;
    case "XNOR": for (let i = 0; i < words; i++) out[i] = ~(x![i]! ^ y![i]!); break;
    case "NOT": for (let i = 0; i < words; i++) out[i] = ~x![i]!; break;
    case "BUF": out.set(x!); break;
    case "CONST0": out.fill(0); break;
    case "CONST1": out.fill(0xffffffff); break;
  }
}

/** Words pattern of bit `t` of the stimulus number, for an exhaustive sweep of `words` words. */
export function counterBit(t: number, words: number): Uint32Array {
  const v = new Uint32Array(words);
  if (t < 5) {
    const masks = [0xaaaaaaaa, 0xcccccccc, 0xf0f0f0f0, 0xff00ff00, 0xffff0000];
    v.fill(masks[t]!);
  } else {
    for (let i = 0; i < words; i++) if ((i >> (t - 5)) & 1) v[i] = 0xffffffff;
  }
  return v;
}

/** Operand widths a netlist's ports imply, and which port is which operand. */
export function netlistShape(nl: Netlist, file?: string): { weightBits: number; activation: "A" | "B"; weight: "A" | "B" } {
  const wa = nl.portA.length;
  const wb = nl.portB.length;
  let weightBits: number;
  if (wa === ACTIVATION_BITS && wb >= 1 && wb <= ACTIVATION_BITS) weightBits = wb;
  else throw new AxnnError(`ports A[${wa}] and B[${wb}] are not an 8x8 or 8xN multiplier (expected A 8 bits and B 1 to 8 bits)`, { file, field: nl.name });
  const roles = portRoles(weightBits);
  const outBits = nl.output.length;
  if (outBits < 1 || outBits > 32) throw new AxnnError(`output ${nl.outputName} has ${outBits} bits; expected 1 to 32`, { file, field: nl.name });
  return { weightBits, ...roles };
}

/**
 * Evaluates the netlist on all `2^(8+N)` operand pairs and returns its table, laid out by
 * the orientation rule of multiplier.ts. Signed circuits read the output as two's complement.
 */
export function netlistToTable(nl: Netlist, signed: boolean, file?: string): { table: Int32Array; weightBits: number } {
  const { weightBits, activation } = netlistShape(nl, file);
  const size = tableSize(weightBits);
  const words = size / 32;
  const actNets = activation === "A" ? nl.portA : nl.portB;
  const weightNets = activation === "A" ? nl.portB : nl.portA;
  const stimulus = new Map<number, Uint32Array>();
  // Stimulus number k = (act << N) | w.
  weightNets.forEach((net, bit) => stimulus.set(net, counterBit(bit, words)));
  actNets.forEach((net, bit) => stimulus.set(net, counterBit(weightBits + bit, words)));
  const values = simulate(nl, words, (net) => stimulus.get(net)!);
  const table = new Int32Array(size);
  const outBits = nl.output.length;
  nl.output.forEach((net, bit) => {
    const v = values[net]!;
    const weight = signed && bit === outBits - 1 ? -(2 ** bit) : 2 ** bit;
    for (let i = 0; i < words; i++) {
      let word = v[i]!;
      while (word !== 0) {
        const j = 31 - Math.clz32(word & -word);
        table[i * 32 + j] += weight;
        word &= word - 1;
      }
    }
  });
  return { table, weightBits };
}

export function netlistToMultiplier(nl: Netlist, signed: boolean, meta: Partial<MultiplierMeta> = {}, file?: string): Multiplier {
  const { table, weightBits } = netlistToTable(nl, signed, file);
  return createMultiplier({ name: nl.name, signed, weightBits, table, meta: { source: "netlist", file, ...meta } });
}
