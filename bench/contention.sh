#!/usr/bin/env bash
# Issue 14's contention cases: `ae train` with its default threads against `--threads 1`,
# wall time of the whole process, best of RUNS runs each (alternating), while a busy loop
# holds one CPU (the state of a shared server or CI runner):
#   small  30-16-4-16-30 on 300 rows, batch 32, 1000 epochs (a tabular model)
#   W      784-256-64-256-784 on 20000 Fashion-MNIST rows, batch 128, 1 epoch
# It prints each case's best times, the ratio default / one thread (the bar: <= 1.05) and
# the plan `ae train` chose.
#
#   bench/contention.sh
#
# Environment:
#   AE                 the ae command (default BUILD_DIR/tools/ae, BUILD_DIR default build)
#   RUNS               runs of each command (default 3)
#   BUSY_CPU           the CPU the busy loop holds (default 1); BUSY_CPU=none: an idle machine
#   CASES              subset of "small W" (default both)
#   DATA               Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)
#   PYTHON             interpreter with numpy, to cut W's 20000 rows (default /usr/bin/python3)
#   OPENBLAS_CORETYPE  kept if set; otherwise SkylakeX (Haswell without AVX-512), as run.sh
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
AE=${AE:-$BUILD_DIR/tools/ae}
RUNS=${RUNS:-3}
BUSY_CPU=${BUSY_CPU:-1}
CASES=${CASES:-small W}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
PYTHON=${PYTHON:-/usr/bin/python3}

if [[ ! -x $AE ]]; then
  echo "contention.sh: $AE not found; build it first (cmake --build $BUILD_DIR --target ae_tool)" >&2
  exit 1
fi
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  if grep -qw avx512f /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi

work=$(mktemp -d)
busy=
cleanup() {
  [[ -n $busy ]] && kill "$busy" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The small case's table: 300 rows of 30 values on a 3-dimensional subspace, in [0, 1].
awk 'BEGIN { srand(7); for (j = 0; j < 90; j++) b[j] = 2 * rand() - 1
  for (i = 0; i < 300; i++) { a = 2 * rand() - 1; c = 2 * rand() - 1; e = 2 * rand() - 1
    for (j = 0; j < 30; j++) printf "%s%.5f", (j ? "," : ""), 0.5 + 0.15 * (a * b[j] + c * b[30 + j] + e * b[60 + j])
    print "" } }' >"$work/small.csv"

declare -A CMD
CMD[small]="$work/small.csv --hidden 16 --code 4 --batch 32 --epochs 1000 -o $work/small.safetensors"
if [[ " $CASES " == *" W "* ]]; then
  if ! "$PYTHON" - "$DATA/train-images-idx3-ubyte.gz" "$work/w20k.npy" <<'EOF'; then
import gzip, sys
import numpy as np
with gzip.open(sys.argv[1]) as f:
    raw = f.read()
x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 784)[:20000].astype(np.float32) / 255.0
np.save(sys.argv[2], x)
EOF
    echo "contention.sh: cannot cut W's rows (needs $PYTHON with numpy and $DATA)" >&2
    exit 1
  fi
  CMD[W]="$work/w20k.npy --hidden 256 --code 64 --batch 128 --epochs 1 -o $work/w.safetensors"
fi

# wall CMD...: seconds the command took (its output kept in $work/last.log), or fail.
wall() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; return 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

if [[ $BUSY_CPU != none ]]; then
  taskset -c "$BUSY_CPU" sh -c 'while :; do :; done' &
  busy=$!
  sleep 0.2
fi

echo "# ae train: default threads / --threads 1, best of $RUNS (alternating)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- OpenBLAS core type: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; default threads: OpenBLAS's count (OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset})"
echo "- busy loop: $([[ $BUSY_CPU != none ]] && echo "taskset -c $BUSY_CPU sh -c 'while :; do :; done'" || echo none)"
echo
status=0
for c in $CASES; do
  [[ -n ${CMD[$c]:-} ]] || { echo "contention.sh: unknown case $c" >&2; exit 1; }
  read -r -a args <<<"${CMD[$c]}"
  d=() o=() plan=
  for ((r = 0; r < RUNS; r++)); do
    t=$(wall "$AE" train "${args[@]}") || exit 1
    d+=("$t")
    plan=$(grep -m1 '^plan:' "$work/last.log")
    t=$(wall "$AE" train "${args[@]}" --threads 1) || exit 1
    o+=("$t")
  done
  bd=$(printf '%s\n' "${d[@]}" | sort -g | head -n1)
  bo=$(printf '%s\n' "${o[@]}" | sort -g | head -n1)
  ratio=$(awk -v a="$bd" -v b="$bo" 'BEGIN { printf "%.2f", a / b }')
  echo "- $c: default ${d[*]} s, --threads 1 ${o[*]} s; best $bd / $bo = $ratio (bar <= 1.05)"
  echo "  default $plan"
  awk -v r="$ratio" 'BEGIN { exit !(r > 1.05) }' && status=2
done
exit $status
