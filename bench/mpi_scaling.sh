#!/usr/bin/env bash
# Data-parallel scaling: workloads W and W-big on Fashion-MNIST with 1, 2 and 4 MPI ranks, one
# OpenBLAS thread per rank, through examples/mpi_train (built with -DAE_WITH_MPI=ON).
#   bash bench/mpi_scaling.sh [BUILD_DIR] [EPOCHS]      (defaults: build-mpi, 2)
# Prints a Markdown table. On a machine with fewer cores than ranks the extra ranks share
# cores (--oversubscribe): such rows show correctness and the reduction's cost, not speed-up.
set -euo pipefail
build=${1:-build-mpi}
epochs=${2:-2}
prog=$build/examples/mpi_train
[ -x "$prog" ] || { echo "no $prog: cmake -S . -B $build -DAE_WITH_MPI=ON && cmake --build $build" >&2; exit 1; }
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
echo "| workload | ranks | samples/s | s per epoch | MPI_Allreduce s per epoch | gradient MB | test MSE |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for big in "" --big; do
  for np in 1 2 4; do
    out=$(mpirun -np "$np" --oversubscribe --allow-run-as-root "$prog" $big --epochs "$epochs" --threads 1 2>&1)
    line=$(grep "samples/s, " <<<"$out") || { echo "$out" >&2; exit 1; }
    mse=$(grep -o "test-set MSE: [0-9.]*" <<<"$out" | cut -d' ' -f3)
    # "W, 2 ranks x 1 OpenBLAS threads: S samples/s, E s per epoch (median), of which A s in MPI_Allreduce (C calls of M MB per epoch)"
    read -r name sps epoch ar mb <<<"$(sed -E 's/^([^,]+), .*: ([0-9]+) samples\/s, ([0-9.]+) s per epoch \(median\), of which ([0-9.]+) s .* of ([0-9.]+) MB.*/\1 \2 \3 \4 \5/' <<<"$line")"
    echo "| $name | $np | $sps | $epoch | $ar | $mb | $mse |"
  done
done
