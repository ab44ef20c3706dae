#!/usr/bin/env bash
# The sequence workload: the 28 rows of a Fashion-MNIST image as 28 steps of 28 values through
# a recurrent autoencoder (cell 128 wide, code 64; Adam 1e-3, batch 128, MSE), libae's
# `ae train --seq 28x28 --rnn CELL --hidden 128 --code 64` against PyTorch's same network
# (bench/seq_torch.py) in the same run, for the GRU and the LSTM. Prints a Markdown table:
# seconds per epoch (the median of the timed epochs), PyTorch's best of torch threads 1 and 2,
# the ratio, and each side's test MSE after those epochs.
#
#   bench/seq.sh [EPOCHS]       (default 2; the issue's quality figure uses 5)
#
# Environment: AE (the ae command, default build/tools/ae), PYTHON (default /usr/bin/python3),
# DATA (Fashion-MNIST folder), THREADS (libae's and OpenBLAS's threads, default 2),
# OPENBLAS_CORETYPE (default SkylakeX where the CPU has AVX-512, as bench/run.sh), CELLS
# (default "gru lstm"), TORCH_THREADS (default "1 2").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EPOCHS=${1:-2}
AE=${AE:-$ROOT/build/tools/ae}
PYTHON=${PYTHON:-/usr/bin/python3}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
THREADS=${THREADS:-2}
CELLS=${CELLS:-gru lstm}
TORCH_THREADS=${TORCH_THREADS:-1 2}
if [[ -z ${OPENBLAS_CORETYPE:-} ]] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
export OPENBLAS_NUM_THREADS=$THREADS
[[ -x $AE ]] || { echo "seq.sh: $AE not found: build it first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median SECONDS...: the middle value (the mean of the two middle ones for an even count)
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "| cell | libae s/epoch | PyTorch s/epoch (best threads) | ratio | libae test MSE | PyTorch test MSE |"
echo "|---|---:|---:|---:|---:|---:|"
for cell in $CELLS; do
  echo "== libae $cell: $EPOCHS epochs, $THREADS threads, core ${OPENBLAS_CORETYPE:-auto}" >&2
  # no --val: an epoch's time would include the validation pass, which PyTorch's leaves out
  "$AE" train "$DATA/train-images-idx3-ubyte.gz" -o "$tmp/m.safetensors" --seq 28x28 --rnn "$cell" --hidden 128 \
    --code 64 --epochs "$EPOCHS" --batch 128 --threads "$THREADS" 2>&1 | tee "$tmp/ae.log" >&2
  # "epoch k/E  loss L  val V  R samples/s  S s  ..."; epoch 1 is left out when there are more
  mapfile -t secs < <(awk '/^epoch [0-9]+\//{for (i = 1; i < NF; i++) if ($(i + 1) == "s") {print $i; break}}' "$tmp/ae.log")
  [[ ${#secs[@]} -gt 1 ]] && secs=("${secs[@]:1}")
  ae_s=$(median "${secs[@]}")
  # the test MSE: the mean of ae score's per-row mean squared errors (every row 784 values)
  "$AE" score "$tmp/m.safetensors" "$DATA/t10k-images-idx3-ubyte.gz" -o "$tmp/scores.csv" 2>/dev/null
  ae_mse=$(awk '{s += $1; n++} END {printf "%.5f", s / n}' "$tmp/scores.csv")
  best="" best_t="" torch_mse=""
  for t in $TORCH_THREADS; do
    echo "== PyTorch $cell: $EPOCHS epochs, torch threads $t" >&2
    OPENBLAS_NUM_THREADS=$t "$PYTHON" "$ROOT/bench/seq_torch.py" --cell "$cell" --epochs "$EPOCHS" --threads "$t" \
      --data "$DATA" 2>&1 | tee "$tmp/torch.log" >&2
    mapfile -t secs < <(sed -n 's/.*epoch [0-9]* train loss [0-9.]* (\([0-9.]*\) s)/\1/p' "$tmp/torch.log")
    [[ ${#secs[@]} -gt 1 ]] && secs=("${secs[@]:1}")
    s=$(median "${secs[@]}")
    if [[ -z $best ]] || awk -v a="$s" -v b="$best" 'BEGIN {exit !(a < b)}'; then
      best=$s best_t=$t torch_mse=$(sed -n 's/.*test MSE \([0-9.]*\)/\1/p' "$tmp/torch.log")
    fi
  done
  ratio=$(awk -v a="$ae_s" -v b="$best" 'BEGIN {printf "%.2fx", a / b}')
  echo "| $cell | $ae_s | $best ($best_t) | $ratio | $ae_mse | $torch_mse |"
done
