/* blas: the OpenBLAS runtime (blas.c): the one GEMM wrapper every matrix product goes
 * through, OpenBLAS's thread count and libae's thread setting. Beside tensor at the bottom of
 * the stack: it calls only OpenBLAS, pthreads and libc. */
#ifndef AE_BLAS_H
#define AE_BLAS_H

#include "tensor.h"

#define AE_MAX_THREADS 64 /* threads a pool may run; far above the cores libae trains well on */

/* C = alpha * op(A) * op(B) + beta * C, with op(X) = X or X^T (trans non-zero).
 * Shapes: op(A) [M x K], op(B) [K x N], C [M x N]; all row-major views. */
AE_HIDDEN void ae_gemm(int trans_a, int trans_b, float alpha, const ae_mat *a, const ae_mat *b, float beta, ae_mat *c);

/* Threads libae may train with: ae_set_threads's count, else OpenBLAS's (at most
 * AE_MAX_THREADS). */
AE_HIDDEN int ae_threads(void);
/* OpenBLAS's thread count outside any training pass's window (1 inside one). */
AE_HIDDEN int ae_blas_threads(void);
/* A window of one-thread OpenBLAS products for the calling thread and the pool threads it
 * drives (tensor.c says why a lock): begin takes the lock's write side and sets OpenBLAS's
 * count to 1, end puts the count back and lets the lock go. No ae_gemm of another thread runs
 * in between with a count above its one-thread size. */
AE_HIDDEN void ae_blas_single_begin(void);
AE_HIDDEN void ae_blas_single_end(void);
/* 1 when OpenBLAS may run a product of mnk multiply-adds on more than one thread. */
AE_HIDDEN int ae_gemm_may_thread(double mnk);
/* Marks the calling thread (a pool worker) as one that runs products only inside windows. */
AE_HIDDEN void ae_blas_single_thread(void);

/* The fallback rule of ae_blas_get_info, apart for tests: 1 when the CPU has AVX2 (or
 * AVX-512) but core names none of OpenBLAS's AVX2 cores. */
AE_HIDDEN int ae_blas_is_fallback(const char *core, int cpu_avx2, int cpu_avx512);

#endif
