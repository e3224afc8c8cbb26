#!/usr/bin/env bash
# Float accuracy of LeNet-5 and ResNet-8 on MNIST and Fashion-MNIST, then for each approximate
# multiplier the approximate accuracy before and after `axnn finetune` (QAT). Writes
# out/train-results/*.json and out/train-results/table.md. Build first: npx tsc -p .
# Knobs (environment; defaults are the full run):
#   ARCHS="lenet5 resnet8"  DATASETS="mnist fashion-mnist"  EPOCHS_lenet5=4  EPOCHS_resnet8=5
#   TRAIN_SAMPLES_resnet8=   (empty: whole training split)   FT_EPOCHS=1  GRADS="ste"
#   FT_TRAIN_SAMPLES_lenet5=20000  FT_TRAIN_SAMPLES_resnet8=10000 (QAT on a seeded subset; FT_TRAIN_SAMPLES sets both)
#   FT_LIMIT=   (empty: the whole test split)
#   MULTS="trunc_k4c_u8x8 mul8u_NGR bam_h2_v7_u8x8 mul8u_FTA drum_k4_u8x8 mul8u_JV3 mul8u_YX7"
#   (names of the built-in library, or EvoApproxLib mul8u_* names, read from
#   $AXNN_SHARED/data/evoapprox-tfapprox-luts/<name>.bin; AXNN_SHARED defaults to ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${AXNN_SHARED:-../shared}
AXNN="node dist/src/cli/main.js"
OUT=${OUT:-out/train-results}
ARCHS=${ARCHS:-"lenet5 resnet8"}
DATASETS=${DATASETS:-"mnist fashion-mnist"}
# MAE% from 0.012 to 4.84: classic designs and EvoApproxLib circuits.
MULTS=${MULTS:-"trunc_k4c_u8x8 mul8u_NGR bam_h2_v7_u8x8 mul8u_FTA drum_k4_u8x8 mul8u_JV3 mul8u_YX7"}
FT_EPOCHS=${FT_EPOCHS:-1}
FT_TRAIN_SAMPLES_lenet5=${FT_TRAIN_SAMPLES:-${FT_TRAIN_SAMPLES_lenet5:-20000}}
FT_TRAIN_SAMPLES_resnet8=${FT_TRAIN_SAMPLES:-${FT_TRAIN_SAMPLES_resnet8:-10000}}
FT_LIMIT=${FT_LIMIT:-}
GRADS=${GRADS:-ste}
mkdir -p "$OUT"

for arch in $ARCHS; do
  epochs_var="EPOCHS_$arch"; samples_var="TRAIN_SAMPLES_$arch"; ft_var="FT_TRAIN_SAMPLES_$arch"
  default_epochs=4; [ "$arch" = resnet8 ] && default_epochs=5
  epochs=${!epochs_var:-$default_epochs}; samples=${!samples_var:-}; ft_samples=${!ft_var:-}
  for data in $DATASETS; do
    model="$OUT/$arch-$data.onnx"
    if [ ! -f "$model" ]; then
      $AXNN train --arch "$arch" --data "$data" --epochs "$epochs" ${samples:+--train-samples "$samples"} \
        --seed 1 --quiet --json -o "$model" > "$OUT/train-$arch-$data.json"
    fi
    for mult in $MULTS; do
      spec=$mult
      # EvoApproxLib tables are not built in: the shared TFApprox LUT files.
      case $mult in mul8u_*) spec="$SHARED/data/evoapprox-tfapprox-luts/$mult.bin" ;; esac
      for grad in $GRADS; do
        result="$OUT/ft-$arch-$data-$mult-$grad.json"
        [ -f "$result" ] && continue
        $AXNN finetune --model "$model" --data "$data" --mult "$spec" --epochs "$FT_EPOCHS" --grad "$grad" \
          ${ft_samples:+--train-samples "$ft_samples"} ${FT_LIMIT:+--limit "$FT_LIMIT"} --seed 1 --json \
          -o "$OUT/ft-$arch-$data-$mult-$grad.onnx" > "$result.tmp" && mv "$result.tmp" "$result"
      done
    done
  done
done

# The markdown table: MAE% from `axnn mult list --json`, accuracies from the JSON reports.
$AXNN mult list --json > "$OUT/mult-list.json"
node --input-type=module - "$OUT" <<'JS' > "$OUT/table.md"
import { readFileSync, readdirSync } from "node:fs";
const dir = process.argv[2];
const list = JSON.parse(readFileSync(`${dir}/mult-list.json`, "utf8"));
const entries = Array.isArray(list) ? list : list.multipliers ?? [];
const mae = new Map(entries.map((m) => [m.name, m.mae_pct]));
const pct = (v) => (100 * v).toFixed(2) + "%";
const lines = ["| model | data | float top-1 | multiplier | MAE% | backward | approx. before | approx. after | int8 after |", "|---|---|---|---|---|---|---|---|---|"];
const files = readdirSync(dir).filter((f) => f.startsWith("ft-") && f.endsWith(".json") && !f.endsWith(".axnn.json")).sort();
for (const f of files) {
  const r = JSON.parse(readFileSync(`${dir}/${f}`, "utf8"));
  const [arch, ...rest] = f.slice(3, -5).split("-");
  const grad = rest.pop();
  const mult = Object.values(r.multipliers)[0];
  const data = r.data;
  const m = mae.get(mult);
  lines.push(`| ${arch} | ${data} | ${pct(r.before_float_top1)} | ${mult} | ${m === undefined ? "?" : Number(m).toFixed(3)} | ${grad} | ${pct(r.before_top1)} | ${pct(r.after_top1)} | ${pct(r.after_int8_top1)} |`);
}
console.log(lines.join("\n"));
JS
cat "$OUT/table.md"
