/* tensor: matrix views, the one GEMM wrapper, fused elementwise kernels, aligned allocation.
 * The bottom of the module stack: it calls only OpenBLAS and libc. */
#ifndef AE_TENSOR_H
#define AE_TENSOR_H

#include <stddef.h>
#include "ae.h"

#define AE_HIDDEN __attribute__((visibility("hidden")))
#define AE_ALIGN 64 /* bytes: one cache line, one AVX-512 vector */

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
AE_HIDDEN void ae_dealloc(void *p);
/* Test hook: called before every allocation; returning non-zero makes it fail. NULL: none. */
typedef int (*ae_alloc_hook_fn)(size_t bytes, void *user);
AE_HIDDEN void ae_set_alloc_hook(ae_alloc_hook_fn hook, void *user);

/* a * b with overflow check; returns 0 on overflow. */
AE_HIDDEN int ae_mul_ok(size_t a, size_t b, size_t *out);

/* C = alpha * op(A) * op(B) + beta * C, with op(X) = X or X^T (trans non-zero).
 * Shapes: op(A) [M x K], op(B) [K x N], C [M x N]; all row-major views. */
AE_HIDDEN void ae_gemm(int trans_a, int trans_b, float alpha, const ae_mat *a, const ae_mat *b,
                       float beta, ae_mat *c);

/* Y[i, :] = act(Y[i, :] + bias) for rows x cols (ld = cols), in place. */
AE_HIDDEN void ae_bias_act(float *y, const float *bias, size_t rows, size_t cols, ae_activation act);
/* d *= act'(a), elementwise over n values, with act' written in terms of the output a. */
AE_HIDDEN void ae_act_backward(float *restrict d, const float *restrict a, size_t n, ae_activation act);
/* Inverted dropout's backward fused with the activation's: d *= mask * act'(a * keep), where
 * mask is 0 or 1/keep and a the dropped-out output (a * keep recovers a kept unit's output). */
AE_HIDDEN void ae_dropout_act_backward(float *restrict d, const float *restrict a, const float *restrict mask,
                                       size_t n, ae_activation act, float keep);
/* out[j] = sum_i x[i, j] over rows x cols. */
AE_HIDDEN void ae_col_sum(const float *restrict x, size_t rows, size_t cols, float *restrict out);
/* 1 if every one of the n values is finite. */
AE_HIDDEN int ae_all_finite(const float *x, size_t n);
/* The scalar activation and its derivative from the output, for tests and inference. */
AE_HIDDEN float ae_act_scalar(float z, ae_activation act);
AE_HIDDEN float ae_act_grad_from_output(float a, ae_activation act);

#define AE_LEAKY_SLOPE 0.01f /* torch.nn.LeakyReLU's default */

#endif
