/**
 * Per-cell figures of a public 45 nm library, used by cost.ts to price a netlist.
 *
 * Source: the OSU FreePDK45 standard-cell library `gscl45nm.lib` (Oklahoma State University
 * cells on NCSU FreePDK45; typical corner, 1.1 V, 27 C), as redistributed e.g. in the GitHub
 * repository scale-lab/ic3.ie (file gscl45nm.lib). It is the library EvoApproxLib's `_pdk45.v`
 * netlists are mapped to: their cell names (AND2X1, HAX1, FAX1) and pins (A, B, C, Y, YS, YC)
 * are gscl45nm's. docs/cost-model.md explains how each figure was read from the Liberty file.
 *
 * - areaUm2: `area`.
 * - leakageNw: `cell_leakage_power` (leakage_power_unit 1 nW).
 * - outputEnergyFj: internal energy per output transition, in fJ (the Liberty tables are in pJ:
 *   capacitive_load_unit 1 pF times volts squared). For each output pin, the mean of
 *   `rise_power` and `fall_power` over all related input pins, taken at the first table entry
 *   (smallest characterised output load and input slew), which is closest to the light loads
 *   inside a small multiplier.
 * - inputCapFf: mean `capacitance` of the input pins, in fF; a net's switching energy is
 *   0.5 * C * Vdd^2 per transition with C the sum of the input pins it drives.
 */
export interface CellFigures {
  /** Cell name in gscl45nm. */
  libraryCell: string;
  areaUm2: number;
  leakageNw: number;
  /** Internal energy per transition of each output pin, fJ. */
  outputEnergyFj: Record<string, number>;
  /** Mean input pin capacitance, fF. */
  inputCapFf: number;
}

/** Supply voltage of the characterisation corner the figures belong to. */
export const GSCL45_VDD = 1.1;

export const GSCL45_LIBRARY = "OSU FreePDK45 gscl45nm (typical, 1.1 V, 27 C)";

/**
 * Keyed by our cell/gate type names: cells of `Netlist.cells` ("HA", "FA", "AND2", "INV", as
 * verilog-read.ts names them) and loose gates ("AND2", ...; "NOT" is a loose inverter). Loose
 * BUF gates and constants are wires and cost nothing. Cell types missing here (NOR3, OAI21,
 * OAI22, whose power tables were not transcribed) are priced as the loose gates they expand to.
 */
export const GSCL45_CELLS: Readonly<Record<string, CellFigures>> = {
  // A: 0.00245/0.004151, B: 0.002247/0.005653 pJ -> mean 3.625 fJ
  AND2: { libraryCell: "AND2X1", areaUm2: 2.3465, leakageNw: 15.6059, outputEnergyFj: { Y: 3.625 }, inputCapFf: (2.29149 + 2.34289) / 2 },
  // A: 0.002389/0.004788, B: 0.003973/0.006079
  OR2: { libraryCell: "OR2X1", areaUm2: 2.3465, leakageNw: 13.7435, outputEnergyFj: { Y: 4.307 }, inputCapFf: (2.52527 + 2.42378) / 2 },
  // A: 0.004097/0.001065, B: 0.002397/0.00106
  NAND2: { libraryCell: "NAND2X1", areaUm2: 1.8772, leakageNw: 3.29145, outputEnergyFj: { Y: 2.155 }, inputCapFf: (2.11057 + 2.02749) / 2 },
  // A: 0.004561/0.001871, B: 0.003163/0.000094
  NOR2: { libraryCell: "NOR2X1", areaUm2: 2.3465, leakageNw: 3.61973, outputEnergyFj: { Y: 2.422 }, inputCapFf: (2.24248 + 2.36501) / 2 },
  // A: 0.007836/0.008464, B: 0.0088675/0.00926
  XOR2: { libraryCell: "XOR2X1", areaUm2: 4.693, leakageNw: 45.1492, outputEnergyFj: { Y: 8.607 }, inputCapFf: (5.39601 + 5.666) / 2 },
  // A: 0.0079315/0.0086295, B: 0.0088185/0.00947
  XNOR2: { libraryCell: "XNOR2X1", areaUm2: 4.693, leakageNw: 29.9796, outputEnergyFj: { Y: 8.712 }, inputCapFf: (5.00113 + 5.58933) / 2 },
  // A: 0.001568/0.000109
  NOT: { libraryCell: "INVX1", areaUm2: 1.4079, leakageNw: 1.74163, outputEnergyFj: { Y: 0.8385 }, inputCapFf: 1.55103 },
  // Cell instances of inverters and buffers (INVX1, BUFX2); loose BUF gates stay free wires.
  INV: { libraryCell: "INVX1", areaUm2: 1.4079, leakageNw: 1.74163, outputEnergyFj: { Y: 0.8385 }, inputCapFf: 1.55103 },
  // BUFX2 is characterised from 0.02 pF: A 0.003912/0.005287
  BUF: { libraryCell: "BUFX2", areaUm2: 2.3465, leakageNw: 19.7536, outputEnergyFj: { Y: 4.5995 }, inputCapFf: 1.53896 },
  // A: 0.007708/0.001245, B: 0.005678/0.001315, C: 0.003122/0.001301
  NAND3: { libraryCell: "NAND3X1", areaUm2: 2.3465, leakageNw: 4.88738, outputEnergyFj: { Y: 3.395 }, inputCapFf: (2.54759 + 2.83213 + 2.96109) / 3 },
  // A: 0.00694/0.0032, B: 0.005242/0.00321, C: 0.004356/0.000062
  AOI21: { libraryCell: "AOI21X1", areaUm2: 2.8158, leakageNw: 3.65931, outputEnergyFj: { Y: 3.802 }, inputCapFf: (2.74129 + 2.72419 + 2.38603) / 3 },
  // A: 0.009297/0.006072, B: 0.007629/0.00604, C: 0.007113/0.00194, D: 0.005577/0.001981
  AOI22: { libraryCell: "AOI22X1", areaUm2: 3.2851, leakageNw: 6.81348, outputEnergyFj: { Y: 5.706 }, inputCapFf: (2.81659 + 2.76444 + 2.87763 + 2.90653) / 4 },
  // YS: A 0.0052675/0.0057765, B 0.004413/0.005675; YC: A 0.004209/0.006717, B 0.004682/0.006203
  HA: { libraryCell: "HAX1", areaUm2: 4.693, leakageNw: 47.5649, outputEnergyFj: { YS: 5.283, YC: 5.453 }, inputCapFf: (4.58382 + 3.83094) / 2 },
  // YS: A 0.006819/0.010313, B 0.0065015/0.0095855, C 0.0067305/0.008342;
  // YC: A 0.004117/0.011134, B 0.004777/0.010466, C 0.005237/0.009718
  FA: { libraryCell: "FAX1", areaUm2: 8.9167, leakageNw: 39.2104, outputEnergyFj: { YS: 8.049, YC: 7.575 }, inputCapFf: (12.6653 + 10.3049 + 8.21878) / 3 },
};

/** Library key of a loose gate kind of the IR; undefined for wires (BUF) and constants. */
export function gateCellKey(kind: string): string | undefined {
  switch (kind) {
    case "AND": return "AND2";
    case "OR": return "OR2";
    case "NAND": return "NAND2";
    case "NOR": return "NOR2";
    case "XOR": return "XOR2";
    case "XNOR": return "XNOR2";
    case "NOT": return "NOT";
    default: return undefined;
  }
}
