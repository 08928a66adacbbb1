#!/usr/bin/env bash
# Trains every recipe to completion on its real dataset, one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
for recipe in recipes/*.yaml; do
  name=$(basename "$recipe" .yaml)
  [ -d "runs/$name" ] && { echo "skip $name (runs/$name exists)"; continue; }
  seqtasks train "$recipe" --output "runs/$name" --set train.verbose=2 2>&1 | tee "runs/$name.log"
done
python benchmarks/summarize.py runs/*/
