#!/usr/bin/env bash
# Prepares, on this machine (PyPI reachable), what benchmarks/gpu_check.sh needs on
# a lent GPU machine (JAX + CUDA + PyTorch on Python 3.12, no network, no
# TensorFlow, and only the repository travels there):
#   .whl/  wheels the GPU image lacks: keras, namex, optree (Keras' needs), datasets,
#          dill, multiprocess (its needs), seqeval (built here: PyPI has no wheel),
#          nltk; the versions installed here, for CPython 3.12 on x86-64 Linux
#   .gpu/  the UD English-EWT files (../shared/data does not travel) and
#          ../shared/tools/gpu_anchor.py
# Both folders are added to .git/info/exclude (never committed) and are then
# named in the device call's `carry`. About 25 MB in all (the limit is 64 MiB).
#
# Usage, from the repository root:
#   bash benchmarks/gpu_prepare.sh
# then one device call (the `run` tool) with carry [".whl", ".gpu"] and the command
#   WHEELS=.whl DATA_ROOT=.gpu/data ANCHOR=.gpu/gpu_anchor.py bash benchmarks/gpu_check.sh 2>&1 | tee $OUT/gpu_check.log
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-../shared}"
PY="${PYTHON:-python3}"
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }

mkdir -p .git/info
for path in /.whl/ /.gpu/; do
  grep -qxF "$path" .git/info/exclude 2>/dev/null || echo "$path" >> .git/info/exclude
done
rm -rf .whl .gpu
mkdir -p .whl .gpu/data

# pip matches each manylinux tag exactly, so several are offered; pure-Python wheels match any.
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$tag")
done
wheels=()
for name in keras namex optree datasets dill multiprocess nltk; do
  wheels+=("$name==$(version "$name")")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl "${wheels[@]}"
# seqeval is published as a source archive only: build its (pure-Python) wheel here.
"$PY" -m pip wheel -q --no-deps -w .whl "seqeval==$(version seqeval)"

cp -r "$SHARED/data/ud_english_ewt" .gpu/data/
cp "$SHARED/tools/gpu_anchor.py" .gpu/
ls .whl
du -sh .whl .gpu
echo "device call: carry [\".whl\", \".gpu\"], command:"
echo "  WHEELS=.whl DATA_ROOT=.gpu/data ANCHOR=.gpu/gpu_anchor.py bash benchmarks/gpu_check.sh 2>&1 | tee \$OUT/gpu_check.log"
