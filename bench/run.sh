#!/usr/bin/env bash
# Run the libae benchmarks and write a Markdown table.
#
#   bench/run.sh [RESULTS.md]            (default bench/results.md; the full reports go to
#                                         RESULTS.log beside it)
#
# Environment:
#   THREADS            OpenBLAS threads for every program (default 2)
#   OPENBLAS_CORETYPE  kept if set; otherwise SkylakeX (Haswell on a CPU without AVX-512),
#                      because OpenBLAS 0.3.21 takes some recent cores for Prescott and runs
#                      4-5x slower (OpenBLAS issue 4267)
#   BUILD_DIR          CMake build folder holding bench/ae_bench (default build)
#   AE_BENCH, FANN_BENCH   explicit paths to the two programs
#   PYTHON             interpreter with torch and numpy (default /usr/bin/python3, Debian's)
#   DATA               Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)
#   WORKLOADS          subset of "W W-big conv tiny seq" (default all five; seq: the recurrent
#                      autoencoders, GRU and LSTM, by bench/seq.sh, in a table of their own)
#   EPOCHS             timed epochs for every program (default: each workload's own)
#
# libae rows come from ae_bench, PyTorch rows (W, W-big, conv) from bench/torch_bench.py when
# $PYTHON can import torch, the FANN row (tiny) from fann_bench when it was built.
#
# tiny runs libae and FANN on one thread each, pinned to the same CPU (taskset, when there is
# one): at batch 1 every product is single-threaded and FANN has one thread, and on a shared
# virtual machine two CPUs can run at different speeds for minutes (unpinned, the ratio swung
# from 2.5x to 5.4x between two runs on this project's machine).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/bench/results.md}
LOG=${OUT%.md}.log
THREADS=${THREADS:-2}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
AE_BENCH=${AE_BENCH:-$BUILD_DIR/bench/ae_bench}
FANN_BENCH=${FANN_BENCH:-$BUILD_DIR/bench/fann_bench}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
WORKLOADS=${WORKLOADS:-W W-big conv tiny seq}
EPOCHS=${EPOCHS:-}
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

if [[ ! -x $AE_BENCH ]]; then
  echo "run.sh: $AE_BENCH not found; build it first:" >&2
  echo "  cmake -S $ROOT -B $BUILD_DIR && cmake --build $BUILD_DIR -j2 --target ae_bench" >&2
  exit 1
fi
if ! [[ $THREADS =~ ^[1-9][0-9]*$ ]]; then
  echo "run.sh: THREADS must be a positive integer, not '$THREADS'" >&2
  exit 1
fi

# OPENBLAS_CORETYPE is read when libopenblas loads, so it has to be in the environment.
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  if grep -qw avx512f /proc/cpuinfo; then
    OPENBLAS_CORETYPE=SkylakeX
  else
    OPENBLAS_CORETYPE=Haswell # SkylakeX kernels would die with SIGILL without AVX-512
    grep -qw avx2 /proc/cpuinfo || unset OPENBLAS_CORETYPE
  fi
fi
[[ -n ${OPENBLAS_CORETYPE:-} ]] && export OPENBLAS_CORETYPE
# The PyTorch run does its products in OpenBLAS too: give it the same thread count.
export OPENBLAS_NUM_THREADS=$THREADS

epochs_arg=()
[[ -n $EPOCHS ]] && epochs_arg=(--epochs "$EPOCHS")

: >"$LOG"
rows=()
failed=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# run NAME CMD...: run a benchmark, progress and report to the terminal and the log, its
# Markdown row (stdout) into rows[].
run() {
  local name=$1
  shift
  echo "== $name: $*" | tee -a "$LOG" >&2
  # stderr through tee (synchronously, in the pipeline), stdout into $tmp
  if { "$@" 2>&1 >"$tmp" | tee -a "$LOG" >&2; }; then
    rows+=("$(grep '^|' "$tmp")")
  else
    echo "run.sh: $name failed" | tee -a "$LOG" >&2
    failed=1
  fi
  cat "$tmp" >>"$LOG"
}

have_torch=0
"$PYTHON" -c 'import torch, numpy' 2>/dev/null && have_torch=1
have_fann=0
[[ -x $FANN_BENCH ]] && have_fann=1

pin=()
if command -v taskset >/dev/null 2>&1; then
  pin_cpu=$(taskset -cp $$ 2>/dev/null | sed 's/.*: *//; s/[,-].*//')
  [[ $pin_cpu =~ ^[0-9]+$ ]] && pin=(taskset -c "$pin_cpu")
fi

seq_table=""
for w in $WORKLOADS; do
  if [[ $w == seq ]]; then # libae and PyTorch's GRU and LSTM autoencoders, one after the other
    echo "== seq: bench/seq.sh" | tee -a "$LOG" >&2
    if seq_table=$(AE="$BUILD_DIR/tools/ae" PYTHON="$PYTHON" DATA="$DATA" THREADS="$THREADS" \
      bash "$ROOT/bench/seq.sh" ${EPOCHS:+"$EPOCHS"} 2> >(tee -a "$LOG" >&2)); then
      echo "$seq_table" >>"$LOG"
    else
      echo "run.sh: seq failed" | tee -a "$LOG" >&2
      failed=1
    fi
    continue
  fi
  if [[ $w == tiny ]]; then
    run "libae tiny" "${pin[@]}" "$AE_BENCH" --workload tiny --threads 1 --data "$DATA" --markdown "${epochs_arg[@]}"
    ((have_fann)) && run "FANN tiny" "${pin[@]}" "$FANN_BENCH" --markdown "${epochs_arg[@]}"
    continue
  fi
  run "libae $w" "$AE_BENCH" --workload "$w" --threads "$THREADS" --data "$DATA" --markdown "${epochs_arg[@]}"
  if ((have_torch)); then
    run "PyTorch $w" "$PYTHON" "$ROOT/bench/torch_bench.py" --workload "$w" --data "$DATA" --markdown \
      --torch-threads 1,2 "${epochs_arg[@]}"
  fi
done

# The core OpenBLAS really used, as ae_bench reported it.
core=$(grep -m1 '^OpenBLAS  *core' "$LOG" | awk '{print $3}' | tr -d ,)
config=$(grep -m1 '^OpenBLAS  *core' "$LOG" | sed 's/.*config "\(.*\)"/\1/')
cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')

# field NAME_PREFIX WORKLOAD COLUMN: a column of the first row whose program starts with
# NAME_PREFIX (columns: 2 program, 3 workload, ..., 6 epoch s, 7 samples/s).
field() {
  printf '%s\n' "${rows[@]}" | awk -F'|' -v p="$1" -v w="$2" -v c="$3" '
    { prog = $2; sub(/^ +/, "", prog); wl = $3; gsub(/ /, "", wl) }
    index(prog, p) == 1 && wl == w { v = $c; gsub(/ /, "", v); print v; exit }'
}

{
  echo "# libae benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- CPU: ${cpu:-unknown} ($(nproc) CPUs online)"
  echo "- OpenBLAS core type: ${core:-unknown} (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}), threads: $THREADS (tiny: 1$([[ ${#pin[@]} -gt 0 ]] && echo ", libae and FANN pinned to CPU ${pin[2]}"))"
  echo "- OpenBLAS config: ${config:-unknown}"
  echo
  echo "Epoch s: median of the timed epochs after one warm-up epoch. GFLOP/s: the GEMM flops of"
  echo "one epoch's training steps (2·M·N·K each: forward, dW, and dX below the first layer) over"
  echo "the epoch time. GEMM-only s: an epoch of cblas_sgemm alone at the same shapes and"
  echo "transposes (conv: libae's per-image products over im2col columns; no im2col / col2im), on"
  echo "OpenBLAS's threads, median of 3; epoch / GEMM-only: the epoch time over it. Peak RSS of the"
  echo "whole process (Python and torch included for PyTorch)."
  echo
  echo "| program | workload | rows | batch | epoch s | samples/s | GFLOP/s | GEMM-only s | epoch / GEMM-only | encode rows/s | peak RSS MiB | final train loss |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}" | grep '^|'
  echo
  echo "Comparisons:"
  echo
  for w in $WORKLOADS; do
    [[ $w == seq ]] && continue
    if [[ $w == tiny ]]; then
      if ((have_fann)); then
        a=$(field libae tiny 7) f=$(field FANN tiny 7)
        [[ -n $a && -n $f ]] &&
          echo "- tiny: libae samples/s / FANN samples/s = $(awk -v a="$a" -v b="$f" 'BEGIN{printf "%.2f", a/b}')"
      else
        echo "- tiny: FANN not built (apt-get install libfann-dev, then rebuild)"
      fi
    elif ((have_torch)); then
      a=$(field libae "$w" 6) t=$(field PyTorch "$w" 6)
      [[ -n $a && -n $t ]] &&
        echo "- $w: libae epoch time / PyTorch epoch time = $(awk -v a="$a" -v b="$t" 'BEGIN{printf "%.2f", a/b}')"
    else
      echo "- $w: PyTorch not installed"
    fi
  done
  if [[ -n $seq_table ]]; then
    echo
    echo "Sequences (bench/seq.sh): rows of 28 steps x 28 values, a cell 128 wide, code 64, batch 128;"
    echo "s/epoch the median of the timed epochs after the first; PyTorch the best of torch threads 1"
    echo "and 2; test MSE after those epochs."
    echo
    echo "$seq_table"
  fi
  echo
  echo "Plans (ae_train's parallel plan for each libae row, and the passes it timed to choose it):"
  echo
  awk '/^== libae / { w = $3; sub(/:$/, "", w) } /^plan  / && w != "" { sub(/^plan +/, ""); print "- " w ": " $0; w = "" }' "$LOG"
} >"$OUT"

echo "run.sh: wrote $OUT (full reports in $LOG)" >&2
cat "$OUT"
exit $failed
