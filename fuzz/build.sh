#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (Debian: clang, libclang-rt-14-dev) into fuzz/bin/.
#   fuzz/build.sh && fuzz/bin/fuzz_model -max_total_time=600 fuzz/corpus/model
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p fuzz/bin
blas_inc=$(pkg-config --cflags openblas)
flags="-g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc $blas_inc"
# Every library source but the MPI glue (the AE_WITH_MPI build's own library).
lib=$(ls src/*.c src/layers/*.c 2>/dev/null | grep -v 'src/train_mpi.c')
for t in model idx npy csv csvopts range stream; do
  # shellcheck disable=SC2086
  clang $flags -fopenmp-simd fuzz/fuzz_$t.c $lib -o fuzz/bin/fuzz_$t $(pkg-config --libs openblas) -ljansson -lz -lm -lpthread
  echo "built fuzz/bin/fuzz_$t"
done
