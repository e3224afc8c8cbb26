import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultCatalogue, generate } from "../src/multipliers/generators/index.js";
import { parseVerilog } from "../src/multipliers/netlist/verilog-read.js";
import { writeVerilog } from "../src/multipliers/netlist/verilog-write.js";
import { netlistToMultiplier } from "../src/multipliers/netlist/simulate.js";
import { gateCounts } from "../src/multipliers/netlist/cost.js";
import { parseTfapprox } from "../src/multipliers/tfapprox.js";
import { lutHash, toTfapproxBytes } from "../src/multipliers/multiplier.js";
import { parseCsvTable, parseJsonTable, tableToCsv, tableToJson } from "../src/multipliers/table-file.js";

test("every built-in design, exported as Verilog and re-imported, gives the same table and cells", () => {
  for (const { kind, params } of defaultCatalogue()) {
    const g = generate(kind, params);
    const back = parseVerilog(writeVerilog(g.netlist), { file: `${g.multiplier.name}.v` });
    const m = netlistToMultiplier(back, g.multiplier.signed);
    assert.equal(lutHash(m), lutHash(g.multiplier), g.multiplier.name);
    assert.deepEqual(gateCounts(back), gateCounts(g.netlist), g.multiplier.name);
  }
});

test("every built-in design survives the .bin, JSON and CSV formats", () => {
  for (const { kind, params } of defaultCatalogue()) {
    const m = generate(kind, params).multiplier;
    const opts = { name: m.name, signed: m.signed, weightBits: m.weightBits };
    assert.deepEqual(parseTfapprox(toTfapproxBytes(m), opts).table, m.table, `${m.name} .bin`);
    assert.deepEqual(parseJsonTable(tableToJson(m)).table, m.table, `${m.name} .json`);
    assert.deepEqual(parseCsvTable(tableToCsv(m), { signed: m.signed }).table, m.table, `${m.name} .csv`);
  }
});
