/* tensor: matrix views, the one GEMM wrapper, fused elementwise kernels, aligned allocation.
 * The bottom of the module stack: it calls only OpenBLAS and libc. */
#ifndef AE_TENSOR_H
#define AE_TENSOR_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ae.h"

#define AE_HIDDEN __attribute__((visibility("hidden")))
#define AE_ALIGN 64 /* bytes: one cache line, one AVX-512 vector */

/* Hot elementwise loops are compiled three times (AVX-512F, AVX2, baseline SSE2) and the best
 * the CPU supports is picked once at load time (GNU ifunc, by CPU feature: "arch=" clones
 * test the CPU model and pick the baseline on AMD), so one portable libae.a runs its loops
 * at full vector width. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(AE_NO_VECTOR_CLONES)
#define AE_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AE_VECTOR_CLONES
#endif

/* A row-major matrix view: element (i, j) is data[i * ld + j]; it owns nothing. */
typedef struct ae_mat {
    size_t rows, cols, ld;
    float *data;
} ae_mat;

static inline ae_mat ae_mat_view(float *data, size_t rows, size_t cols) {
    ae_mat m = {rows, cols, cols, data};
    return m;
}

/* Allocation goes through these so that tests can count or fail allocations. */
AE_HIDDEN void *ae_alloc(size_t bytes); /* 64-byte aligned, NULL on failure or 0 bytes */
AE_HIDDEN void *ae_calloc(size_t count, size_t size); /* aligned and zeroed, overflow-checked */
AE_HIDDEN void ae_dealloc(void *p); /* frees what any of these returned */
/* Unaligned, resizable byte buffers for the I/O modules, seen by the same hook. */
AE_HIDDEN void *ae_malloc(size_t bytes);
AE_HIDDEN void *ae_realloc(void *p, size_t bytes);
/* Test hook: called before every allocation; returning non-zero makes it fail. NULL: none. */
typedef int (*ae_alloc_hook_fn)(size_t bytes, void *user);
AE_HIDDEN void ae_set_alloc_hook(ae_alloc_hook_fn hook, void *user);
/* 1 when the test hook makes this allocation fail (the allocators above then return NULL). */
AE_HIDDEN int ae_alloc_injected(size_t bytes);

/* a * b with overflow check; returns 0 on overflow. */
AE_HIDDEN int ae_mul_ok(size_t a, size_t b, size_t *out);

/* Y[i, :] = act(Y[i, :] + bias) for rows x cols (ld = cols), in place. */
AE_HIDDEN void ae_bias_act(float *y, const float *bias, size_t rows, size_t cols, ae_activation act);
/* y = act(y), elementwise over n values, in place. */
AE_HIDDEN void ae_act_forward(float *restrict y, size_t n, ae_activation act);
/* d *= act'(a), elementwise over n values, with act' written in terms of the output a. */
AE_HIDDEN void ae_act_backward(float *restrict d, const float *restrict a, size_t n, ae_activation act);
/* Inverted dropout's backward fused with the activation's: d *= mask * act'(a * keep), where
 * mask is 0 or 1/keep and a the dropped-out output (a * keep recovers a kept unit's output). */
AE_HIDDEN void ae_dropout_act_backward(float *restrict d, const float *restrict a, const float *restrict mask, size_t n,
                                       ae_activation act, float keep);
/* out[j] = sum_i x[i * ld + j] over rows x cols (ld >= cols). */
AE_HIDDEN void ae_col_sum(const float *restrict x, size_t rows, size_t cols, size_t ld, float *restrict out);
/* x[0..n) *= s. */
AE_HIDDEN void ae_scale(float *x, size_t n, float s);
/* sum_i g[i]^2 in double. */
AE_HIDDEN double ae_sq_norm(const float *g, size_t n);
/* Scales g[0..n) down to global L2 norm max_norm when its norm is larger. */
AE_HIDDEN void ae_clip_norm(float *g, size_t n, float max_norm);
/* 1 if every one of the n values is finite. */
AE_HIDDEN int ae_all_finite(const float *x, size_t n);
#include "activation.h"

#endif
