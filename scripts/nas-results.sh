#!/usr/bin/env bash
# Architecture-search results (docs/nas.md "Results"): `axnn search nas` on Fashion-MNIST and MNIST,
# beam search grown from LeNet-5, every candidate trained from scratch with the baselines' schedule
# (no --inherit, so the comparison with the hand-designed baselines is fair without retraining),
# baselines LeNet-5 and ResNet-8 with each multiplier used uniformly, front priced by the energy model.
# Build first: npx tsc -p .
# Knobs (environment): DATASETS="fashion-mnist mnist"  OUT=out/nas-results  JOBS=2
#   BUDGET_fashion_mnist=30 BUDGET_mnist=16 (candidates)  EPOCHS_<data>, QAT_EPOCHS_<data>,
#   TRAIN_<data> (training samples per epoch), MIN_ACC_<data> (--min-accuracy)
# A run killed at any point resumes: run the script again (it passes --resume when a journal exists).
set -euo pipefail
cd "$(dirname "$0")/.."
AXNN="node dist/src/cli/main.js"
OUT=${OUT:-out/nas-results}
DATASETS=${DATASETS:-"fashion-mnist mnist"}
JOBS=${JOBS:-2}
# knob NAME DATA DEFAULT: NAME_<data with - as _>, else DEFAULT.
knob() { local v="$1_${2//-/_}"; echo "${!v:-$3}"; }
for data in $DATASETS; do
  case "$data" in
    fashion-mnist) d_budget=30 d_epochs=2 d_qat=1 d_train=6000 d_min=0.78 ;;
    mnist) d_budget=16 d_epochs=1 d_qat=1 d_train=4000 d_min=0.85 ;;
    *) echo "nas-results.sh: unknown dataset $data (fashion-mnist or mnist)" >&2; exit 1 ;;
  esac
  dir="$OUT/$data"
  resume=""
  [ -f "$dir/journal.jsonl" ] && resume="--resume"
  echo "nas-results.sh: $data -> $dir $resume" >&2
  $AXNN search nas --data "$data" \
    --mults exact,trunc_k4c_u8x8,trunc_k6c_u8x8,drum_k5_u8x8,drum_k4_u8x8 \
    --objectives accuracy,energy --arch eyeriss --algorithm beam --beam-width 3 --seeds lenet5 \
    --baselines lenet5,resnet8 --budget "$(knob BUDGET "$data" $d_budget)" \
    --epochs "$(knob EPOCHS "$data" $d_epochs)" --qat-epochs "$(knob QAT_EPOCHS "$data" $d_qat)" \
    --train-samples "$(knob TRAIN "$data" $d_train)" --val-samples 5000 --test-samples 10000 \
    --min-accuracy "$(knob MIN_ACC "$data" $d_min)" --energy-evaluations 300 --early-stop 0.3 \
    --jobs "$JOBS" --seed 1 -o "$dir" $resume
done
