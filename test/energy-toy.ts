import { parseArchitecture, type Architecture } from "../src/energy/arch.js";
import { parseErtSummary, type Ert } from "../src/energy/ert.js";
import { parseYamlText } from "../src/energy/yaml.js";

/**
 * A tiny v0.4 design (DRAM -> buffer -> meshX PEs with a weight-only register file -> MAC)
 * whose mapspace is small enough to enumerate; sizes are parameters so tests can grow it.
 */
export function tinyDesign(opts: { bufDepth: number; meshX: number; rfDepth: number }): { arch: Architecture; ert: Ert } {
  const archYaml = `
architecture:
  version: 0.4
  nodes:
  - !Container {name: sys}
  - !Component {name: MainMem, class: DRAM, attributes: {width: 8, datawidth: 8}}
  - !Component {name: Buf, class: SRAM, attributes: {depth: ${opts.bufDepth}, width: 8, datawidth: 8}}
  - !Container {name: PE, spatial: {meshX: ${opts.meshX}}}
  - !Component {name: RF, class: regfile, attributes: {depth: ${opts.rfDepth}, width: 8, datawidth: 8}, constraints: {dataspace: {keep: [Weights], bypass: [Inputs, Outputs]}}}
  - !Component {name: mac, class: intmac, attributes: {multiplier_width: 8, adder_width: 16}}
`;
  const ertYaml = `
ERT_summary:
  version: '0.4'
  table_summary:
  - {name: sys.MainMem, actions: [{name: read, energy: 10}, {name: write, energy: 10}, {name: update, energy: 10}]}
  - {name: sys.Buf, actions: [{name: read, energy: 2}, {name: write, energy: 3}, {name: update, energy: 4}, {name: leak, energy: 0.01}]}
  - {name: sys.RF, actions: [{name: read, energy: 0.5}, {name: write, energy: 0.6}, {name: update, energy: 0.7}]}
  - {name: sys.mac, actions: [{name: compute, energy: 1}]}
`;
  return {
    arch: parseArchitecture(parseYamlText(archYaml, "tiny.yaml"), "tiny.yaml"),
    ert: parseErtSummary(parseYamlText(ertYaml, "tiny-ert.yaml"), "tiny-ert.yaml"),
  };
}
