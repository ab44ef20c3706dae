/* The tiny workload's synthetic data, shared by ae_bench and fann_bench so that both train
 * on exactly the same rows.
 *
 * Row r is a rank-4 combination of cosines sampled at SYNTH_DIM points u_j = j / (SYNTH_DIM-1):
 *     x_j = 0.5 + 0.5 * sum_{k=0..3} a_k cos(pi k u_j),   a_k = (2 t_k - 1) / 4,
 * with t_k uniform in [0,1) drawn per row. |sum| <= 1, so every value lies in [0,1], and a
 * 4-wide code can represent a row exactly: the tiny 32-16-4-16-32 network has something to
 * learn. */
#ifndef AE_BENCH_SYNTH_H
#define AE_BENCH_SYNTH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define SYNTH_DIM 32
#define SYNTH_TRAIN_ROWS 20000
#define SYNTH_TEST_ROWS 5000
#define SYNTH_TRAIN_SEED 1u
#define SYNTH_TEST_SEED 2u

/* splitmix64: small, fast, and the same sequence on every platform. */
static inline uint64_t synth_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* Uniform in [0,1) from the top 53 bits. */
static inline double synth_uniform(uint64_t *s) { return (double)(synth_next(s) >> 11) * (1.0 / 9007199254740992.0); }

/* Fill x [rows x SYNTH_DIM] with the rows defined above, drawn from seed. */
static inline void synth_fill(float *x, size_t rows, uint64_t seed) {
    const double pi = 3.14159265358979323846;
    uint64_t s = seed;
    for (size_t r = 0; r < rows; r++) {
        double a[4];
        for (int k = 0; k < 4; k++) a[k] = (2.0 * synth_uniform(&s) - 1.0) / 4.0;
        for (int j = 0; j < SYNTH_DIM; j++) {
            double u = (double)j / (SYNTH_DIM - 1), v = 0.0;
            for (int k = 0; k < 4; k++) v += a[k] * cos(pi * k * u);
            x[r * SYNTH_DIM + (size_t)j] = (float)(0.5 + 0.5 * v);
        }
    }
}

#endif /* AE_BENCH_SYNTH_H */
