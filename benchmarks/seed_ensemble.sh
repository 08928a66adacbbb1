#!/usr/bin/env bash
# Trains one recipe with several seeds and scores the members' ensemble.
#
# Usage: bash benchmarks/seed_ensemble.sh RECIPE SEED [SEED ...] [-- --set key=value ...]
# Each seed trains into runs/<recipe>_seed<SEED> (skipped when it exists); then
# `seqtasks evaluate` scores every member and the ensemble (averaged scores) on
# the validation and test splits, then prints the members' mean and spread
# (sample standard deviation) of each split's main metric from metrics.json.
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=$1; shift
seeds=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do seeds+=("$1"); shift; done
[ $# -gt 0 ] && shift  # the "--"
name=$(basename "$recipe" .yaml)
runs=(); mkdir -p runs
for seed in "${seeds[@]}"; do
  out="runs/${name}_seed${seed}"
  runs+=("$out")
  [ -d "$out" ] && { echo "skip seed $seed ($out exists)"; continue; }
  seqtasks train "$recipe" --output "$out" --set seed="$seed" --set train.verbose=2 "$@" 2>&1 | tee "$out.log"
done
for split in validation test; do
  for run in "${runs[@]}" ENSEMBLE; do
    if [ "$run" = ENSEMBLE ]; then members=("${runs[@]}"); else members=("$run"); fi
    seqtasks evaluate "${members[@]}" --split "$split" 2>/dev/null | python -c "
import json, sys
scores = json.load(sys.stdin)['$split']
main = {k: round(100 * v, 2) for k, v in scores.items() if k in ('accuracy', 'f1', 'macro_f1')}
print('$split', '$run', main)"
  done
done
python - "${runs[@]}" <<'PY'
import json, statistics, sys
from pathlib import Path
members = [json.loads((Path(run) / "metrics.json").read_text()) for run in sys.argv[1:]]
for split in ("validation", "test"):
    for key in ("accuracy", "f1", "macro_f1"):
        values = [100 * m[split][key] for m in members if key in m.get(split, {})]
        if len(values) == len(members) and len(values) > 1:
            print(f"{split} {key}: mean {statistics.mean(values):.2f}, sd {statistics.stdev(values):.2f} "
                  f"over {len(values)} seeds {[round(v, 2) for v in values]}")
PY
