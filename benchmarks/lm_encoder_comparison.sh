#!/usr/bin/env bash
# The lectures' comparison of encoders in a language model: SimpleRNN vs LSTM
# vs GRU vs echo state network (reservoir) at about the same number of trained
# encoder parameters (the reservoir trains only its readout and embedding),
# 1 vs 2 layers, with and without residual connections.
# - names character LM (makemore, default): about 0.86 M trained parameters in
#   all; the Kneser-Ney 5-gram is reported beside each run (metrics.json
#   "baseline").
# - PTB word LM (--ptb): embedding 200 (untied; the softmax grows with the last
#   layer's width), encoders of about 0.64 M parameters; no
#   n-gram per run (the PTB recipe's own run reports KN-5), to save time.
# Every run trains the same number of epochs (early stopping still applies):
# a time box would compare the machine's load at each run's hour as much as
# the encoders (session 24's time-boxed table did; see docs/RESULTS.md).
# Runs go in order of priority, so a cut-short comparison keeps the main ones.
#
# Usage: bash benchmarks/lm_encoder_comparison.sh [--ptb] [EPOCHS] [OUT_DIR] [-- extra --set ...]
# Then:  python benchmarks/lm_compare_table.py OUT_DIR/*/
set -euo pipefail
corpus=names
if [ "${1:-}" = "--ptb" ]; then corpus=ptb; shift; fi
declare -A variants
if [ "$corpus" = names ]; then
  epochs=${1:-10}; out=${2:-runs/lm_compare}
  recipe=recipes/lm_makemore_names_char_lstm.yaml
  common=()
  order=(lstm_2x256 gru_2x296 simple_rnn_2x512 reservoir_1x2048 lstm_1x430 lstm_2x256_residual)
  variants=(
    [lstm_2x256]="model.encoder.kind=lstm model.encoder.units=256 model.encoder.layers=2"
    [gru_2x296]="model.encoder.kind=gru model.encoder.units=296 model.encoder.layers=2"
    [simple_rnn_2x512]="model.encoder.kind=simple_rnn model.encoder.units=512 model.encoder.layers=2"
    [reservoir_1x2048]="model.encoder.kind=reservoir model.encoder.units=2048 model.encoder.layers=1 model.encoder.dropout=0.0"
    [lstm_1x430]="model.encoder.kind=lstm model.encoder.units=430 model.encoder.layers=1"
    [lstm_2x256_residual]="model.encoder.kind=lstm model.encoder.units=256 model.encoder.layers=2 model.encoder.residual=true"
  )
else
  epochs=${1:-3}; out=${2:-runs/lm_compare_ptb}
  recipe=recipes/lm_ptb_word_lstm.yaml
  common=(--set model.embedding.dim=200 --set model.head.tie_weights=false --set evaluate.ngram_order=null)
  order=(lstm_2x200 gru_2x235 simple_rnn_2x430 reservoir_1x1000 lstm_1x312 lstm_2x200_residual)
  variants=(
    [lstm_2x200]="model.encoder.kind=lstm model.encoder.units=200 model.encoder.layers=2"
    [gru_2x235]="model.encoder.kind=gru model.encoder.units=235 model.encoder.layers=2"
    [simple_rnn_2x430]="model.encoder.kind=simple_rnn model.encoder.units=430 model.encoder.layers=2"
    [reservoir_1x1000]="model.encoder.kind=reservoir model.encoder.units=1000 model.encoder.layers=1 model.encoder.dropout=0.0"
    [lstm_1x312]="model.encoder.kind=lstm model.encoder.units=312 model.encoder.layers=1"
    [lstm_2x200_residual]="model.encoder.kind=lstm model.encoder.units=200 model.encoder.layers=2 model.encoder.residual=true"
  )
fi
shift $(( $# < 2 ? $# : 2 ))
[ "${1:-}" = "--" ] && shift
mkdir -p "$(dirname "$out")"
for name in "${order[@]}"; do
  # A variant already trained (or training) keeps its directory and its log.
  if [ -e "$out/$name" ] || [ -e "$out/$name.lock" ]; then echo "$name: $out/$name exists, skipped"; continue; fi
  sets=()
  for kv in ${variants[$name]}; do sets+=(--set "$kv"); done
  seqtasks train "$recipe" --output "$out/$name" "${common[@]}" "${sets[@]}" --set train.epochs="$epochs" \
    --set train.time_limit_minutes=null --set train.verbose=2 --set evaluate.samples=0 "$@" > "$out.$name.log" 2>&1 \
    || echo "$name failed: see $out.$name.log"
done
python benchmarks/lm_compare_table.py "$out"/*/
