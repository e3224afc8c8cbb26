#!/usr/bin/env bash
# AxP results of docs/axp.md: trains LeNet-5 and ResNet-8 on MNIST and Fashion-MNIST (if not already
# in $OUT), sweeps AxP (fp32 PE) on each, evaluates the library's approximate multipliers on the
# same models, and writes $OUT/summary.md and $OUT/summary.json. Build first: npx tsc -p .
# Knobs (environment; defaults are the run in docs/axp.md):
#   ARCHS="lenet5 resnet8"  DATASETS="mnist fashion-mnist"
#   EPOCHS_lenet5=2 EPOCHS_resnet8=2  TRAIN_SAMPLES_resnet8=20000
#   LIMIT_lenet5=1000 LIMIT_resnet8=200 (test images of the sweeps and evaluations; seeded subsets)
#   CALIB_lenet5=256 CALIB_resnet8=128 (calibration images, training split)
#   CLUSTERS_lenet5="4,8,16" ENTRIES="0,16,32,64" KEYBITS="0,1,2" DONTCARE="0"
#   CLUSTERS_resnet8="16" ENTRIES_resnet8="0,32,64" KEYBITS_resnet8="0,1"
# (ResNet-8 runs on axnn's TypeScript float kernels here, ~0.1-0.3 s per image with AxP on the shared
# 2-core machine, hence its smaller grid and test subset.)
#   MULTS="trunc_k4c_u8x8 bam_h2_v7_u8x8 mitchell_f7_u8x8 drum_k4_u8x8 drum_k3_u8x8"
#   FINETUNE=1 FT_SAMPLES=10000: a second sweep per model (sweep-<arch>-<data>-ft) with cluster-aware
#   fine-tuning of every clustering (epochs, training images); FINETUNE=0 leaves it out
#   MISS_MULTS="trunc_k4c_u8x8 bam_h2_v7_u8x8": a sweep per model (sweep-<arch>-<data>-miss) with the misses on
#   the FPU and on each of these multipliers (K = 8 / N = 0,16,32 / m = 0 for LeNet-5, the ResNet-8 grid with m = 1);
#   MISS_MULTS="" leaves it out
#   SEARCH_BUDGET=80: the per-layer NSGA-II search (search-<arch>-<data>) of LeNet-5 on Fashion-MNIST
#   (K 4,8,16 / N 0,16,32 / m 0,1); SEARCH_BUDGET=0 leaves it out
# A killed run resumes: trained models are kept and each sweep resumes from its journal.
set -euo pipefail
cd "$(dirname "$0")/.."
AXNN="node dist/src/cli/main.js"
OUT=${OUT:-out/axp-results}
ARCHS=${ARCHS:-"lenet5 resnet8"}
DATASETS=${DATASETS:-"mnist fashion-mnist"}
MULTS=${MULTS:-"trunc_k4c_u8x8 bam_h2_v7_u8x8 mitchell_f7_u8x8 drum_k4_u8x8 drum_k3_u8x8"}
mkdir -p "$OUT"

for arch in $ARCHS; do
  ev="EPOCHS_$arch"; sv="TRAIN_SAMPLES_$arch"; lv="LIMIT_$arch"; cv="CLUSTERS_$arch"; nv="ENTRIES_$arch"; kv="KEYBITS_$arch"; bv="CALIB_$arch"
  case $arch in
    resnet8) epochs=${!ev:-2}; samples=${!sv:-20000}; limit=${!lv:-200}; calib=${!bv:-128}; clusters=${!cv:-"16"}; entries=${!nv:-"0,32,64"}; keybits=${!kv:-"0,1"} ;;
    *) epochs=${!ev:-2}; samples=${!sv:-}; limit=${!lv:-1000}; calib=${!bv:-256}; clusters=${!cv:-"4,8,16"}; entries=${!nv:-${ENTRIES:-"0,16,32,64"}}; keybits=${!kv:-${KEYBITS:-"0,1,2"}} ;;
  esac
  for data in $DATASETS; do
    model="$OUT/$arch-$data.onnx"
    if [ ! -f "$model" ]; then
      echo "training $arch on $data" >&2
      $AXNN train --arch "$arch" --data "$data" --epochs "$epochs" ${samples:+--train-samples "$samples"} --seed 1 --quiet --json -o "$model" > "$OUT/train-$arch-$data.json"
    fi
    echo "AxP sweep of $arch on $data" >&2
    $AXNN axp sweep --model "$model" --data "$data" --clusters "$clusters" --entries "$entries" --key-bits "$keybits" \
      --dont-care "${DONTCARE:-0}" --format fp32 --limit "$limit" --calib-size "$calib" --arch eyeriss -o "$OUT/sweep-$arch-$data" --json > "$OUT/sweep-$arch-$data.json"
    if [ "${FINETUNE:-1}" != 0 ]; then
      echo "AxP sweep of $arch on $data with cluster-aware fine-tuning" >&2
      $AXNN axp sweep --model "$model" --data "$data" --clusters "$clusters" --entries "$entries" --key-bits "$keybits" \
        --dont-care "${DONTCARE:-0}" --format fp32 --limit "$limit" --calib-size "$calib" --arch eyeriss \
        --finetune "${FINETUNE:-1}" --train-samples "${FT_SAMPLES:-10000}" -o "$OUT/sweep-$arch-$data-ft" --json > "$OUT/sweep-$arch-$data-ft.json"
    fi
    MISS_MULTS=${MISS_MULTS-"trunc_k4c_u8x8 bam_h2_v7_u8x8"}
    if [ -n "$MISS_MULTS" ]; then
      echo "AxP sweep of $arch on $data with misses on $MISS_MULTS" >&2
      if [ "$arch" = lenet5 ]; then mc=8; me=0,16,32; mk=0; else mc=$clusters; me=$entries; mk=1; fi
      $AXNN axp sweep --model "$model" --data "$data" --clusters "$mc" --entries "$me" --key-bits "$mk" \
        --miss-mult "fpu,${MISS_MULTS// /,}" --format fp32 --limit "$limit" --calib-size "$calib" --arch eyeriss \
        -o "$OUT/sweep-$arch-$data-miss" --json > "$OUT/sweep-$arch-$data-miss.json"
    fi
    if [ "${SEARCH_BUDGET:-80}" != 0 ] && [ "$arch" = lenet5 ] && [ "$data" = fashion-mnist ]; then
      echo "AxP per-layer search of $arch on $data" >&2
      resume=""; [ -f "$OUT/search-$arch-$data/journal.jsonl" ] && resume="--resume"
      $AXNN axp search --model "$model" --data "$data" --clusters 4,8,16 --entries 0,16,32 --key-bits 0,1 \
        --limit "$limit" --calib-size "$calib" --budget "${SEARCH_BUDGET:-80}" --population 24 $resume \
        -o "$OUT/search-$arch-$data" --json > "$OUT/search-$arch-$data.json"
    fi
    for mult in $MULTS; do
      f="$OUT/eval-$arch-$data-$mult.json"
      [ -f "$f" ] && continue
      $AXNN eval --model "$model" --data "$data" --mult "$mult" --limit "$limit" --json > "$f.tmp" && mv "$f.tmp" "$f"
    done
  done
done
for mult in exact_u8x8 $MULTS; do
  f="$OUT/metrics-$mult.json"
  [ -f "$f" ] || { $AXNN mult metrics "$mult" --json > "$f.tmp" && mv "$f.tmp" "$f"; }
done

# Summary: per model the best AxP point within 1 point of the baseline's top-1, and the best approximate
# multiplier within 1 point of the float top-1, priced with the same PE model (int8 MAC, the multiplier's
# part scaled by its estimated power relative to the exact 8x8 array multiplier).
node --input-type=module - "$OUT" "$ARCHS" "$DATASETS" "$MULTS" <<'JS' > "$OUT/summary.md"
import { readFileSync, writeFileSync } from "node:fs";
const { searchEnergyPj, readEnergyPj } = await import(`${process.cwd()}/dist/src/axp/energy.js`);
const [dir, archs, datasets, mults] = process.argv.slice(2);
const read = (f) => JSON.parse(readFileSync(`${dir}/${f}`, "utf8"));
const pct = (v) => `${(100 * v).toFixed(1)}%`;
const exactPower = read("metrics-exact_u8x8.json").power_estimate;
const rows = [];
const lines = ["| model | data | test images | fp32 top-1 | best AxP within 1 pt: K / N / m | top-1 | hit rate (non-zero) | PE saving | saving on multiplies | accelerator saving | PE saving, memory energies / 4 (K / N / m) | best approx. multiplier within 1 pt | top-1 | saving vs exact int8 MAC | int8 PE energy / fp32 FPU |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"];
const { existsSync } = await import("node:fs");
for (const arch of archs.split(" ")) {
  for (const [data, ft] of datasets.split(" ").flatMap((d) => [[d, ""], [d, "-ft"]])) {
    if (ft && !existsSync(`${dir}/sweep-${arch}-${data}${ft}.json`)) continue;
    const s = read(`sweep-${arch}-${data}${ft}.json`);
    const base = s.baseline[0];
    const ok = s.points.filter((p) => p.top1 >= base.top1 - 0.01 && p.entries > 0);
    const best = ok.sort((a, b) => b.saving - a.saving)[0];
    const pe = s.pe_model.arithmetic;
    // The same points with the CAM search and the product read 4x cheaper (energy is linear in the counts).
    const cheap = { ...s.pe_model, cam: { ...s.pe_model.cam, search_fj_per_bit: s.pe_model.cam.search_fj_per_bit / 4, search_fixed_pj: s.pe_model.cam.search_fixed_pj / 4 }, read: { ...s.pe_model.read, reference_pj: s.pe_model.read.reference_pj / 4 } };
    const cheapSaving = (p) => {
      const a = pe[p.format];
      const e = p.layers.reduce((t, l) => t + l.macs * a.add_pj + (l.macs - l.hits) * a.mul_pj + l.macs * searchEnergyPj(cheap, p.entries, l.keyWidth) + l.hits * readEnergyPj(cheap, p.entries, 32), 0);
      return 1 - e / base.energy_pj;
    };
    const bestCheap = ok.map((p) => ({ p, saving: cheapSaving(p) })).sort((a, b) => b.saving - a.saving)[0];
    const share = pe.int8.mul_pj / (pe.int8.mul_pj + pe.int8.add_pj);
    const multRows = mults.split(" ").map((m) => {
      const e = read(`eval-${arch}-${data}-${m}.json`);
      const ratio = read(`metrics-${m}.json`).power_estimate / exactPower;
      return { mult: m, top1: e.approx_top1, float_top1: e.float_top1, int8_top1: e.int8_top1, power_ratio: ratio, saving: share * (1 - ratio) };
    });
    const okM = multRows.filter((r) => r.top1 >= r.float_top1 - 0.01).sort((a, b) => b.saving - a.saving)[0];
    const int8VsFp32 = (pe.int8.mul_pj + pe.int8.add_pj) / (pe.fp32.mul_pj + pe.fp32.add_pj);
    const accel = best && best.accelerator_energy_pj !== undefined ? 1 - best.accelerator_energy_pj / base.accelerator_energy_pj : undefined;
    rows.push({ arch, data, finetuned: ft !== "", finetune: s.finetune ?? [], test_samples: s.test_samples, baseline: base, best_axp: best ? { ...best, layers: undefined, accelerator_saving: accel } : null, best_axp_cheap_memory: bestCheap ? { clusters: bestCheap.p.clusters, entries: bestCheap.p.entries, key_bits: bestCheap.p.key_bits, top1: bestCheap.p.top1, saving: bestCheap.saving } : null, multipliers: multRows, best_multiplier: okM ?? null, front: s.front.map((i) => { const p = s.points[i]; return { clusters: p.clusters, entries: p.entries, key_bits: p.key_bits, top1: p.top1, hit_rate: p.hit_rate, saving: p.saving }; }) });
    lines.push(`| ${arch}${ft ? " (fine-tuned)" : ""} | ${data} | ${s.test_samples} | ${pct(base.top1)} | ${best ? `${best.clusters} / ${best.entries} / ${best.key_bits}` : "none"} | ${best ? pct(best.top1) : "-"} | ${best ? `${pct(best.hit_rate)} (${pct(best.hit_rate_nonzero)})` : "-"} | ${best ? pct(best.saving) : "-"} | ${best ? pct(best.multiply_saving) : "-"} | ${accel !== undefined ? pct(accel) : "-"} | ${bestCheap ? `${pct(bestCheap.saving)} (${bestCheap.p.clusters} / ${bestCheap.p.entries} / ${bestCheap.p.key_bits})` : "-"} | ${okM ? okM.mult : "none"} | ${okM ? pct(okM.top1) : "-"} | ${okM ? pct(okM.saving) : "-"} | ${okM ? pct(int8VsFp32 * (1 - okM.saving)) : "-"} |`);
  }
}
writeFileSync(`${dir}/summary.json`, JSON.stringify(rows, null, 2) + "\n");
console.log(lines.join("\n"));
JS
cat "$OUT/summary.md"
