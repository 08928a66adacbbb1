#!/usr/bin/env bash
# The lectures' comparison on the names character LM (makemore): SimpleRNN vs
# LSTM vs GRU vs echo state network (reservoir) at about the same number of
# trained parameters (about 0.86 M; the reservoir trains only its readout and
# embedding), 1 vs 2 layers, with and without residual connections; the
# Kneser-Ney 5-gram is reported beside each run (metrics.json "baseline").
# Every run trains the same number of epochs (early stopping still applies):
# a time box would compare the machine's load at each run's hour as much as
# the encoders (session 24's time-boxed table did; see docs/RESULTS.md).
#
# Usage: bash benchmarks/lm_encoder_comparison.sh [EPOCHS] [OUT_DIR] [-- extra --set ...]
# Then:  python benchmarks/lm_compare_table.py OUT_DIR/*/
set -euo pipefail
epochs=${1:-10}; out=${2:-runs/lm_compare}; shift $(( $# < 2 ? $# : 2 ))
[ "${1:-}" = "--" ] && shift
recipe=recipes/lm_makemore_names_char_lstm.yaml
declare -A variants=(
  [lstm_2x256]="model.encoder.kind=lstm model.encoder.units=256 model.encoder.layers=2"
  [gru_2x296]="model.encoder.kind=gru model.encoder.units=296 model.encoder.layers=2"
  [simple_rnn_2x512]="model.encoder.kind=simple_rnn model.encoder.units=512 model.encoder.layers=2"
  [reservoir_1x2048]="model.encoder.kind=reservoir model.encoder.units=2048 model.encoder.layers=1 model.encoder.dropout=0.0"
  [lstm_1x430]="model.encoder.kind=lstm model.encoder.units=430 model.encoder.layers=1"
  [lstm_2x256_residual]="model.encoder.kind=lstm model.encoder.units=256 model.encoder.layers=2 model.encoder.residual=true"
)
for name in lstm_2x256 gru_2x296 simple_rnn_2x512 reservoir_1x2048 lstm_1x430 lstm_2x256_residual; do
  sets=()
  for kv in ${variants[$name]}; do sets+=(--set "$kv"); done
  seqtasks train "$recipe" --output "$out/$name" "${sets[@]}" --set train.epochs="$epochs" --set train.time_limit_minutes=null \
    --set train.verbose=2 --set evaluate.samples=0 "$@" > "$out.$name.log" 2>&1 \
    || echo "$name failed: see $out.$name.log"
done
python benchmarks/lm_compare_table.py "$out"/*/
