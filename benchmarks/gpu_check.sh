#!/usr/bin/env bash
# The GPU check of the JAX back end, in one command of at most 8 minutes, on a
# machine with JAX + CUDA and no TensorFlow (the GPU machines this project is
# sometimes lent). In one run, on one GPU, it prints tokens/s of:
#   1. the reference: ../shared/tools/gpu_anchor.py (hand-written PyTorch
#      nn.LSTM with cuDNN, if torch is there; plain Keras 3 on JAX), batch 32
#   2. seqtasks' bare BiLSTM tagger on JAX (the same shape: embedding 100 ->
#      2-layer BiLSTM 150 -> softmax) on the same synthetic corpus, batch 32
#   3. the POS recipe (char CNN, CRF, EMA) on UD English-EWT on JAX, trained
#      for at most POS_MINUTES minutes (train.time_limit_minutes), with its
#      dev accuracy per epoch, tokens/s and wall time.
# Targets (issue 28): 2. >= 1.2x the PyTorch cuDNN figure of 1.; 3. reaches its
# dev plateau in <= 5 minutes on one H200.
#
# Usage, from the repository root:
#   bash benchmarks/gpu_prepare.sh               # here first: wheels into .whl/, data + anchor into .gpu/
#   WHEELS=.whl DATA_ROOT=.gpu/data ANCHOR=.gpu/gpu_anchor.py bash benchmarks/gpu_check.sh   # there,
#                                                # in one device call with carry [".whl", ".gpu"]
#   SMOKE=1 bash benchmarks/gpu_check.sh         # a tiny slice, to check the script on a CPU
# Environment: DATA_ROOT (default ../shared/data; the EWT files are
# ud_english_ewt/*.conllu under it), ANCHOR (gpu_anchor.py), WHEELS (a folder
# of wheels the machine lacks, e.g. keras namex optree datasets seqeval and
# their pure-Python needs; installed with --no-deps into /tmp/site first),
# POS_MINUTES (default 4), OUT (where the POS run directory goes; default /tmp).
set -uo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 HF_HOME="${HF_HOME:-/tmp/seqtasks-hf}"
DATA_ROOT="${DATA_ROOT:-../shared/data}"
ANCHOR="${ANCHOR:-../shared/tools/gpu_anchor.py}"
POS_MINUTES="${POS_MINUTES:-4}"
OUT="${OUT:-/tmp}"
PY="${PYTHON:-python3}"
if [ -n "${WHEELS:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl \
    || exit 2
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
STEP_S=150  # the most seconds of steps 1 and 2 each (8 minutes in all on a GPU)
if [ -n "${SMOKE:-}" ]; then  # a CPU check of the script itself: tiny corpus, 12 s of POS training
  STEP_S=900; export SENTS=300 XLA_FLAGS="${XLA_FLAGS:---xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1}"
  POS_MINUTES=0.2; POS_LIMIT=(--set data.limit.train=300 --set data.limit.validation=100 --set data.limit.test=100)
else
  POS_LIMIT=()
fi
SENTS="${SENTS:-12544}"
export SENTS
start=$(date +%s)
echo "== machine"; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
"$PY" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)" || exit 2
"$PY" -c "import tensorflow" 2>/dev/null && echo "note: TensorFlow is installed here (not needed)"

echo "== 1. reference (gpu_anchor.py, batch 32): JSON lines"
if "$PY" -c "import torch" 2>/dev/null; then timeout $STEP_S "$PY" "$ANCHOR" torch 32 || echo "torch reference failed or passed ${STEP_S} s"; else echo "torch absent: no PyTorch line"; fi
timeout $STEP_S "$PY" "$ANCHOR" keras-jax 32 || echo "keras-jax reference failed or passed ${STEP_S} s"

echo "== 2. seqtasks bare BiLSTM tagger on JAX, same corpus, batch 32"
timeout $STEP_S "$PY" benchmarks/backend_speed.py --model bare --data synthetic --anchor "$ANCHOR" \
  --sentences "$SENTS" --batch-size 32

echo "== 3. POS recipe on JAX (at most $POS_MINUTES min of training, then scoring)"
run="$OUT/gpu_check_pos_$$"
timeout $(( ${POS_MINUTES%.*} * 60 + 120 + (${SMOKE:+1}0 * 90) )) "$PY" -m seqtasks train recipes/pos_ud_ewt_bilstm.yaml \
  --output "$run" --set data.root="$DATA_ROOT" --set train.time_limit_minutes="$POS_MINUTES" \
  --set train.train_with_dev=false --set train.verbose=2 --set evaluate.plots=false "${POS_LIMIT[@]}" \
  || echo "POS training failed or passed its time"
"$PY" - "$run" <<'EOF'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
m = json.loads((run / "metrics.json").read_text())
h = json.loads((run / "history.json").read_text())
print(json.dumps({"recipe": "pos_ud_ewt_bilstm", "backend": m["versions"]["backend"],
                  "train_seconds": round(m["train_seconds"], 1), "epochs_run": m["epochs_run"],
                  "train_tok_s": round(m["train_tokens_per_second"]),
                  "predict_tok_s": round(m["predict_tokens_per_second"]),
                  "dev_accuracy_by_epoch": [round(x, 4) for x in h.get("val_accuracy", [])],
                  "test_accuracy": m["test"]["accuracy"]}))
EOF
echo "== total wall time $(( $(date +%s) - start )) s"
