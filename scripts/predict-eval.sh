#!/usr/bin/env bash
# Reproduces the energy-predictor evaluation of docs/predict.md: reference datasets on eyeriss and
# simba (fixed and variable architectures; training with seed 1, held-out test with seed 2), both
# predictors trained on the training sets, evaluated on the test sets (table, JSON, scatter plots,
# HTML report). Resumable: rerunning keeps the rows already labelled.
#
#   npm run build && scripts/predict-eval.sh [OUT_DIR]        (default out/predict-eval)
#
# Sizes and mapper budget can be overridden: N_FIXED, N_VARIABLE (training networks per accelerator;
# the test sets are half as large), EVALS (mapper evaluations per distinct shape), JOBS.
set -euo pipefail
OUT=${1:-out/predict-eval}
N_FIXED=${N_FIXED:-200}
N_VARIABLE=${N_VARIABLE:-300}
EVALS=${EVALS:-500}
AXNN=${AXNN:-node dist/src/cli/main.js}
JOBS_FLAG=${JOBS:+--jobs $JOBS}
mkdir -p "$OUT"
# A cache of its own: the first search of each shape is timed here (the reference time per network
# adds up the search times of its shapes, as recorded in the cache files).
CACHE="$OUT/mapping-cache"

for arch in eyeriss simba; do
  for family in fixed variable; do
    n=$([ "$family" = fixed ] && echo "$N_FIXED" || echo "$N_VARIABLE")
    $AXNN predict dataset --arch "$arch" --family "$family" --n "$n" --seed 1 --evaluations "$EVALS" --cache-dir "$CACHE" $JOBS_FLAG -o "$OUT/$arch-$family-train.csv"
    $AXNN predict dataset --arch "$arch" --family "$family" --n $((n / 2)) --seed 2 --evaluations "$EVALS" --cache-dir "$CACHE" $JOBS_FLAG -o "$OUT/$arch-$family-test.csv"
  done
done

$AXNN predict train --data "$OUT"/*-train.csv -o "$OUT/predictor.json"
$AXNN predict eval --predictor "$OUT/predictor.json" --data "$OUT"/*-test.csv -o "$OUT/report" --json > "$OUT/eval.json"
# Generalisation to layer shapes never seen in training: the forest trained without any shape that
# occurs in the test sets (the sum predictor needs no training on shapes).
$AXNN predict train --data "$OUT"/*-train.csv --exclude-shapes-of "$OUT"/*-test.csv -o "$OUT/predictor-unseen-shapes.json"
$AXNN predict eval --predictor "$OUT/predictor-unseen-shapes.json" --data "$OUT"/*-variable-test.csv -o "$OUT/report-unseen-shapes" --json > "$OUT/eval-unseen-shapes.json"
cat "$OUT/report/table.md"
echo
echo "Unseen shapes (variable family):"
cat "$OUT/report-unseen-shapes/table.md"
