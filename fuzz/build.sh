#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (Debian: clang, libclang-rt-14-dev) into fuzz/bin/.
#   fuzz/build.sh && fuzz/bin/fuzz_model -max_total_time=600 fuzz/corpus/model
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p fuzz/bin
blas_inc=$(pkg-config --cflags openblas)
flags="-g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc $blas_inc"
lib="src/tensor.c src/pool.c src/plan.c src/rng.c src/layer.c src/loss.c src/optim.c src/model.c src/train.c src/anomaly.c src/pretrain.c src/head.c src/io_file.c src/io_model.c src/io_data.c src/io_gzip.c src/io_idx.c src/io_npy.c src/io_range.c src/io_csv.c src/io_csv_text.c src/io_csv_cols.c src/io_csv_save.c src/status.c src/scale.c src/train_data.c"
for t in model idx npy csv csvopts range; do
  # shellcheck disable=SC2086
  clang $flags -fopenmp-simd fuzz/fuzz_$t.c $lib -o fuzz/bin/fuzz_$t $(pkg-config --libs openblas) -ljansson -lz -lm -lpthread
  echo "built fuzz/bin/fuzz_$t"
done
