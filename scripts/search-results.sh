#!/usr/bin/env bash
# Multiplier-assignment search results (docs/search.md): for each model, dataset, seed and weight
# tuning setting, `axnn search assign` with NSGA-II, random and greedy at the same budget and every
# uniform assignment; then out/search-results/table.md with the multiplier-energy saving at
# validation drops of at most 0.5/1/2 points (median and min..max over seeds) and hypervolumes.
# Build first: npx tsc -p .
# Knobs (environment; defaults are the full run):
#   ARCHS="lenet5 resnet8"  DATASETS="mnist fashion-mnist"  SEEDS="1 2 3"  TUNE="no yes"
#   BUDGET=300  POP=24  VAL=1000  TEST_LIMIT=  (empty: the whole test split)
#   MULTS="$AXNN_SHARED/data/evoapprox-tfapprox-luts,builtin" (the 36 EvoApproxLib mul8u tables + built-in designs)
#   EPOCHS_lenet5=4  EPOCHS_resnet8=5 (models trained here unless out/search-results/<arch>-<data>.onnx exists)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${AXNN_SHARED:-../shared}
AXNN="node dist/src/cli/main.js"
OUT=${OUT:-out/search-results}
ARCHS=${ARCHS:-"lenet5 resnet8"}
DATASETS=${DATASETS:-"mnist fashion-mnist"}
SEEDS=${SEEDS:-"1 2 3"}
TUNE=${TUNE:-"no yes"}
BUDGET=${BUDGET:-300}
POP=${POP:-24}
VAL=${VAL:-1000}
TEST_LIMIT=${TEST_LIMIT:-}
MULTS=${MULTS:-"$SHARED/data/evoapprox-tfapprox-luts,builtin"}
mkdir -p "$OUT"

for arch in $ARCHS; do
  epochs_var="EPOCHS_$arch"; default_epochs=4; [ "$arch" = resnet8 ] && default_epochs=5
  epochs=${!epochs_var:-$default_epochs}
  for data in $DATASETS; do
    model="$OUT/$arch-$data.onnx"
    [ -f "$model" ] || $AXNN train --arch "$arch" --data "$data" --epochs "$epochs" --seed 1 --quiet --json -o "$model" > "$OUT/train-$arch-$data.json"
    for tune in $TUNE; do
      for seed in $SEEDS; do
        run="$OUT/$arch-$data-tune_$tune-seed$seed"
        [ -f "$run/front.json" ] && continue
        $AXNN search assign --model "$model" --data "$data" --mults "$MULTS" --objectives accuracy,multiplier-energy \
          --budget "$BUDGET" --population "$POP" --val-size "$VAL" ${TEST_LIMIT:+--test-limit "$TEST_LIMIT"} --seed "$seed" \
          $([ "$tune" = yes ] && echo --tune-weights) -o "$run" --resume --json > "$run.json.tmp" && mv "$run.json.tmp" "$run.json"
      done
    done
  done
done

node --input-type=module - "$OUT" <<'JS' > "$OUT/table.md"
import { readdirSync, readFileSync, existsSync } from "node:fs";
const dir = process.argv[2];
const runs = readdirSync(dir).filter((d) => existsSync(`${dir}/${d}/front.json`)).map((d) => {
  const m = /^(.*)-(mnist|fashion-mnist)-tune_(no|yes)-seed(\d+)$/.exec(d);
  return m && { arch: m[1], data: m[2], tune: m[3], seed: +m[4], r: JSON.parse(readFileSync(`${dir}/${d}/front.json`, "utf8")) };
}).filter(Boolean);
const groups = new Map();
for (const run of runs) {
  const k = `${run.arch} | ${run.data} | ${run.tune}`;
  groups.set(k, [...(groups.get(k) ?? []), run]);
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const fmt = (a, scale = 100, d = 1) => `${(med(a) * scale).toFixed(d)} (${(Math.min(...a) * scale).toFixed(d)}..${(Math.max(...a) * scale).toFixed(d)})`;
const methods = ["uniform", "greedy", "random", "nsga2"];
const out = [];
out.push("Multiplier-energy saving (%) at validation drops of at most 0.5 / 1 / 2 points, and hypervolume; median (min..max) over seeds.\n");
out.push("| model | data | tuned | seeds | exact test top-1 | method | <= 0.5 | <= 1 | <= 2 | test drop at <= 1 | hypervolume | evaluations |");
out.push("|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const [k, rs] of groups) {
  for (const m of methods) {
    const sv = (d) => rs.map((r) => r.r.savings.find((s) => s.method === m && s.max_drop === d)?.multiplier_saving ?? 0);
    const td = rs.map((r) => r.r.savings.find((s) => s.method === m && s.max_drop === 1)?.test_drop ?? NaN).filter((v) => Number.isFinite(v));
    const hv = rs.map((r) => r.r.methods.find((x) => x.method === m)?.hypervolume ?? 0);
    const ev = rs.map((r) => r.r.methods.find((x) => x.method === m)?.evaluations ?? 0);
    out.push(`| ${k} | ${rs.length} | ${fmt(rs.map((r) => r.r.exact.test_top1))} | ${m} | ${fmt(sv(0.5))} | ${fmt(sv(1))} | ${fmt(sv(2))} | ${td.length ? fmt(td, 1, 2) : "-"} | ${fmt(hv, 1, 4)} | ${med(ev)} |`);
  }
}
console.log(out.join("\n"));
JS
echo "wrote $OUT/table.md"
