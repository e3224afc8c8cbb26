import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exactMultiplier, lutHash, multiplierFromFunction, multiply } from "../src/multipliers/multiplier.js";
import { MultiplierLibrary } from "../src/multipliers/library.js";
import { parseCsvTable, parseJsonTable, readTableFile, tableToCsv, writeTableFile } from "../src/multipliers/table-file.js";
import { classifyNetlistFile, parseHeaderFigures, parseMetaJson } from "../src/multipliers/evoapprox-import.js";
import { evoApproxByHash, evoApproxByName, evoApproxCatalogue } from "../src/multipliers/evoapprox-catalogue.js";
import { AxnnError } from "../src/util/errors.js";

const tmp = (): string => mkdtempSync(join(tmpdir(), "axnn-lib-"));
const isAxnnError = (re: RegExp) => (e: unknown) => e instanceof AxnnError && re.test(e.message);

// A deliberately asymmetric design so that swapped operands would show.
const skewed = (signed: boolean, n: number) =>
  multiplierFromFunction(`skew_${signed ? "s" : "u"}${n}`, (a, w) => a * w + (a & 3) - 2 * (w & 1), { signed, weightBits: n });

test("JSON and CSV tables round-trip for signed and unsigned, 8x8 and 8xN", () => {
  const dir = tmp();
  for (const signed of [false, true]) {
    for (const n of [8, 3]) {
      const m = skewed(signed, n);
      for (const ext of ["json", "csv"]) {
        const file = join(dir, `${m.name}.${ext}`);
        writeTableFile(m, file);
        const back = readTableFile(file, { signed });
        assert.deepEqual(back.table, m.table, `${m.name}.${ext}`);
        assert.equal(back.weightBits, n);
        assert.equal(back.signed, signed);
      }
    }
  }
});

test("CSV operands are values: row (-3, 2) of a signed table is the product of -3 and 2", () => {
  const m = skewed(true, 8);
  const csv = tableToCsv(m);
  const line = csv.split("\n").find((l) => l.startsWith("-3,2,"));
  assert.equal(line, `-3,2,${multiply(m, -3, 2)}`);
  assert.equal(multiply(m, -3, 2), -6 + (-3 & 3) - 0);
});

test("JSON rows layout is activation-major", () => {
  const rows = Array.from({ length: 256 }, (_, a) => Array.from({ length: 16 }, (_, w) => a * 1000 + w));
  const m = parseJsonTable(JSON.stringify({ name: "rows", signed: false, weight_bits: 4, rows }));
  assert.equal(multiply(m, 7, 3), 7003);
});

test("bad tables: wrong count, bad header, duplicates, out-of-range operands, unknown JSON keys", () => {
  assert.throws(() => parseJsonTable(JSON.stringify({ table: [1, 2, 3] }), { file: "t.json" }), isAxnnError(/t\.json.*table.*65536 entries, got 3/));
  assert.throws(() => parseJsonTable(JSON.stringify({ tabel: [] }), { file: "t.json" }), isAxnnError(/t\.json.*tabel/));
  assert.throws(() => parseJsonTable("{", { file: "t.json" }), isAxnnError(/not valid JSON/));
  assert.throws(() => parseCsvTable("a,b,c\n1,2,2\n", { file: "t.csv" }), isAxnnError(/t\.csv:1.*header/));
  const csv = tableToCsv(exactMultiplier(false, 1)).split("\n");
  csv[3] = csv[2]!;
  assert.throws(() => parseCsvTable(csv.join("\n"), { file: "t.csv" }), isAxnnError(/t\.csv:4.*appears twice/));
  assert.throws(() => parseCsvTable("activation,weight,product\n300,1,300\n", { file: "t.csv", weightBits: 1 }), isAxnnError(/t\.csv:2.*outside/));
  assert.throws(() => parseCsvTable("activation,weight,product\n1,x,2\n", { file: "t.csv" }), isAxnnError(/t\.csv:2.*three integers/));
});

test("the user library saves, finds by name, alias and hash, and reloads the same table", () => {
  const lib = new MultiplierLibrary(tmp());
  const m = skewed(true, 8);
  const rec = lib.save({ ...m, meta: { ...m.meta, aliases: ["other_name"], powerMw: 0.123 } });
  assert.equal(rec.hash, lutHash(m));
  for (const key of [m.name, "other_name", rec.hash]) {
    const found = lib.find(key);
    assert.ok(found, key);
    const back = lib.load(found);
    assert.deepEqual(back.table, m.table);
    assert.equal(back.signed, true);
    assert.equal(back.meta.powerMw, 0.123);
  }
  assert.equal(lib.find("nothing"), undefined);
});

test("the library refuses a different table under an existing name unless told to overwrite", () => {
  const lib = new MultiplierLibrary(tmp());
  lib.save(exactMultiplier(false, 8));
  const other = { ...skewed(false, 8), name: "exact_u8x8" };
  assert.throws(() => lib.save(other), isAxnnError(/already has a different multiplier named exact_u8x8/));
  lib.save(other, { overwrite: true });
  assert.deepEqual(lib.load(lib.find("exact_u8x8")!).table, other.table);
  assert.throws(() => lib.save({ ...other, name: "../evil" }), isAxnnError(/not a usable name/));
});

test("products that do not fit 16 bits are stored as int32 and come back intact", () => {
  const dir = tmp();
  const lib = new MultiplierLibrary(dir);
  const big = multiplierFromFunction("big", (a, w) => a * w * 1000, { weightBits: 2 });
  lib.save(big);
  assert.ok(readdirSync(join(dir, "multipliers")).includes("big.i32"));
  assert.deepEqual(lib.load(lib.find("big")!).table, big.table);
});

test("a library table edited behind our back is detected by its hash", () => {
  const dir = tmp();
  const lib = new MultiplierLibrary(dir);
  lib.save(exactMultiplier(false, 8));
  writeFileSync(join(dir, "multipliers", "exact_u8x8.bin"), new Uint8Array(131072));
  assert.throws(() => lib.load(lib.find("exact_u8x8")!), isAxnnError(/hash .* differs/));
});

test("EvoApproxLib header comments and meta.json give the published figures", () => {
  const header = "/***\n* text\n***/\n// MAE% = 0.40 %\n// MAE = 16 \n// WCE% = 1.59 %\n// PDK45_PWR = 0.071 mW\n// PDK45_AREA = 184.0 um2\n// PDK45_DELAY = 0.75 ns\nmodule x(A,B,O);";
  assert.deepEqual(parseHeaderFigures(header), { maePct: 0.4, mae: 16, wcePct: 1.59, powerMw: 0.071, areaUm2: 184, delayNs: 0.75 });
  const meta = [{ datasets: [{ bitwidth: 8, datasets: [{ instances: [{ name: "mul8u_X", params: { pwr: "0.25", area: "300.5", "mae%": "0.10", delay: "1.1" } }] }] }] }];
  const figs = parseMetaJson(JSON.stringify(meta));
  assert.deepEqual(figs.get("mul8u_X"), { powerMw: 0.25, areaUm2: 300.5, delayNs: 1.1, maePct: 0.1 });
  assert.throws(() => parseMetaJson("[", "meta.json"), isAxnnError(/meta\.json/));
});

test("netlist file names tell 8x8 / 8xN, sign and variant", () => {
  assert.deepEqual(classifyNetlistFile("/x/mul8u_1JFF_pdk45.v"), { path: "/x/mul8u_1JFF_pdk45.v", circuit: "mul8u_1JFF", signed: false, weightBits: 8, variant: "pdk45" });
  assert.equal(classifyNetlistFile("mul8x4s_ABC.v")?.weightBits, 4);
  assert.equal(classifyNetlistFile("mul8x4s_ABC.v")?.signed, true);
  assert.equal(classifyNetlistFile("mul12u_ABC.v"), undefined);
  assert.equal(classifyNetlistFile("add8u_ABC.v"), undefined);
});

test("the built-in EvoApproxLib catalogue is keyed by hash and knows names across versions", () => {
  const cat = evoApproxCatalogue();
  assert.ok(cat.length > 100);
  const exact = evoApproxByName("mul8u_1JFF", "v1.0")!;
  assert.equal(exact.hash, lutHash(exactMultiplier(false, 8)));
  const versions = evoApproxByHash(exact.hash).map((e) => `${e.version}:${e.name}`).sort();
  assert.ok(versions.includes("v2022:mul8u_1JJQ"), versions.join(" "));
});
