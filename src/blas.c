/* blas: the OpenBLAS runtime. The one GEMM wrapper (with a kernel of its own for the
 * few-row products OpenBLAS handles slowly), OpenBLAS's process-wide thread count and the lock
 * that keeps each product's count its own, ae_set_threads, and what ae_blas_get_info reports. */
#define _GNU_SOURCE /* a writer-preferring rwlock where glibc has one */
#include "blas.h"

#include <cblas.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

/* Sixteen floats as one value (gcc >= 12 / clang vector extension): in the AVX-512 clone one
 * zmm register, in the others pairs or quads of narrower ones. */
typedef float v16sf __attribute__((vector_size(64), aligned(4)));

/* One step of a transposing reduction: x and y, whose 2s-lane blocks each hold partial sums of
 * one output in two halves of s lanes, become one vector of s-lane partial sums, x's and y's
 * outputs side by side. The lane lists are written out because __builtin_shufflevector takes
 * constants only. */
#define SHUF(x, y, ...) __builtin_shufflevector((x), (y), __VA_ARGS__)
#define STEP8(x, y) \
    (SHUF(x, y, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) + \
     SHUF(x, y, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
#define STEP4(x, y) \
    (SHUF(x, y, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) + \
     SHUF(x, y, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
#define STEP2(x, y) \
    (SHUF(x, y, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) + \
     SHUF(x, y, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
#define STEP1(x, y) \
    (SHUF(x, y, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) + \
     SHUF(x, y, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))

/* The float variable s in every lane. The products below take it as a vector, not as
 * `v * s`: where float arithmetic is evaluated in double (FLT_EVAL_METHOD 1: s390x in ISO C
 * mode), the scalar operand would be a double, which gcc does not narrow into a vector. */
#define SPLAT16(s) ((v16sf){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s})

/* y[j] = alpha x . w_j (+ beta y[j]) for 16 outputs at once: sixteen vector accumulators, one
 * per output, over k in steps of 16, then four transposing reduction steps (no horizontal
 * sums) leave output j in lane j. The accumulators are taken in bit-reversed order, which
 * the four steps undo. */
AE_INLINE void dot16(const float *x, const float *w, size_t ldw, size_t k, float alpha, float beta, float *y) {
    static const int bitrev[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    v16sf acc[16];
    for (int j = 0; j < 16; j++) acc[j] = (v16sf){0};
    size_t r = 0;
    for (; r + 16 <= k; r += 16) {
        v16sf xv;
        memcpy(&xv, x + r, sizeof xv);
        for (int j = 0; j < 16; j++) {
            v16sf wv;
            memcpy(&wv, w + (size_t)bitrev[j] * ldw + r, sizeof wv);
            acc[j] += wv * xv;
        }
    }
    for (; r < k; r++) /* the tail into lane 0 */
        for (int j = 0; j < 16; j++) acc[j][0] += w[(size_t)bitrev[j] * ldw + r] * x[r];
    v16sf a8[8], a4[4], a2[2];
    for (int i = 0; i < 8; i++) a8[i] = STEP8(acc[2 * i], acc[2 * i + 1]);
    for (int i = 0; i < 4; i++) a4[i] = STEP4(a8[2 * i], a8[2 * i + 1]);
    for (int i = 0; i < 2; i++) a2[i] = STEP2(a4[2 * i], a4[2 * i + 1]);
    v16sf sum = STEP1(a2[0], a2[1]) * SPLAT16(alpha);
    if (beta != 0.0f) {
        v16sf old;
        memcpy(&old, y, sizeof old);
        sum += old * SPLAT16(beta);
    }
    memcpy(y, &sum, sizeof sum);
}

/* C [m x n] = alpha A B^T + beta C for a handful of rows m (A [m x k], B [n x k]): at batch
 * 1-4 a layer's forward product Y = X W^T, which OpenBLAS 0.3.21 sends through its general
 * driver (packing, and a mutex around its buffer pool) because its small-matrix permit turns
 * away these shapes. Outputs 16 at a time (dot16), the rest as plain dot products. beta = 0
 * never reads C, as BLAS promises. */
AE_VECTOR_CLONES static void gemm_nt_small_m(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                                             const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++) {
        const float *restrict ai = a + i * lda;
        float *restrict ci = c + i * ldc;
        size_t j = 0;
        for (; j + 16 <= n; j += 16) dot16(ai, b + j * ldb, ldb, k, alpha, beta, ci + j);
        for (; j < n; j++) {
            const float *restrict bj = b + j * ldb;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (size_t r = 0; r < k; r++) s += ai[r] * bj[r];
            ci[j] = beta == 0.0f ? alpha * s : alpha * s + beta * ci[j];
        }
    }
}

/* Rows up to which gemm_nt_small_m beats cblas_sgemm: at batch 1 it trains bench's tiny
 * workload about 1.4x faster. A rank-1 loop of the same kind for dW = dZ^T X (TN) was 10%
 * slower than OpenBLAS, and so are plain loops for the NN products. */
#define SMALL_ROWS 4

/* ---- OpenBLAS's thread count, shared by the whole process ----
 *
 * OpenBLAS 0.3.21 (pthreads) has one thread count for the process, read at every call, and
 * the bits of a product with K above its block depth depend on it (the threads split K's
 * blocks differently). Training on libae's threads needs one-thread products, so it sets the
 * count to 1 for the length of each pass (a window) under the write side of this lock; every
 * product that OpenBLAS may thread runs under the read side. So a product never runs with a
 * count another thread set for its own: ae_encode beside a training run gives the bits it
 * gives alone. Products of at most BLAS_ONE_THREAD_MNK multiply-adds skip the lock: OpenBLAS
 * runs them on one thread whatever the count (it threads above 65536 x 4; half of that). */
#ifdef PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
static pthread_rwlock_t g_blas_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
#else
static pthread_rwlock_t g_blas_lock = PTHREAD_RWLOCK_INITIALIZER;
#endif
#define BLAS_ONE_THREAD_MNK 131072.0
static _Thread_local int tls_single; /* this thread runs only one-thread products */
static _Thread_local int tls_restore; /* the count a window put aside */

void ae_blas_single_thread(void) { tls_single = 1; }

int ae_gemm_may_thread(double mnk) { return mnk > BLAS_ONE_THREAD_MNK; }

void ae_blas_single_begin(void) {
    pthread_rwlock_wrlock(&g_blas_lock);
    tls_restore = openblas_get_num_threads();
    if (tls_restore != 1) openblas_set_num_threads(1);
    tls_single = 1;
}

void ae_blas_single_end(void) {
    tls_single = 0;
    if (tls_restore != 1) openblas_set_num_threads(tls_restore);
    pthread_rwlock_unlock(&g_blas_lock);
}

void ae_gemm(int trans_a, int trans_b, float alpha, const ae_mat *a, const ae_mat *b, float beta, ae_mat *c) {
    const size_t m = c->rows, n = c->cols;
    const size_t k = trans_a ? a->rows : a->cols;
    if (!trans_a && trans_b && m <= SMALL_ROWS) {
        gemm_nt_small_m(m, n, k, alpha, a->data, a->ld, b->data, b->ld, beta, c->data, c->ld);
        return;
    }
    const int lock = !tls_single && ae_gemm_may_thread((double)m * (double)n * (double)k);
    if (lock) pthread_rwlock_rdlock(&g_blas_lock);
    /* Callers size every view from the model's widths and the batch size, which ae_create and
     * ae_train bound below INT_MAX, so the casts to blasint are safe. */
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (blasint)m,
                (blasint)n, (blasint)k, alpha, a->data, (blasint)a->ld, b->data, (blasint)b->ld, beta, c->data,
                (blasint)c->ld);
    if (lock) pthread_rwlock_unlock(&g_blas_lock);
}

int ae_blas_is_fallback(const char *core, int cpu_avx2, int cpu_avx512) {
    static const char *const avx2_cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
    if (!cpu_avx2 && !cpu_avx512) return 0;
    for (size_t i = 0; i < sizeof avx2_cores / sizeof avx2_cores[0]; i++)
        if (core && strcasecmp(core, avx2_cores[i]) == 0) return 0;
    return 1;
}

ae_blas_info ae_blas_get_info(void) {
    ae_blas_info info;
    int avx2 = 0, avx512 = 0;
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#endif
    info.core = openblas_get_corename();
    info.threads = ae_blas_threads();
    info.fallback = ae_blas_is_fallback(info.core, avx2, avx512);
    info.suggested_core = avx512 ? "SkylakeX" : avx2 ? "Haswell" : NULL;
    return info;
}

static int g_threads; /* 0: not set, follow OpenBLAS's count */

int ae_set_threads(int n) {
    if (n < 0) return AE_EINVAL;
    if (n > 0) {
        pthread_rwlock_wrlock(&g_blas_lock); /* never under a window's count */
        openblas_set_num_threads(n);
        pthread_rwlock_unlock(&g_blas_lock);
    }
    g_threads = n > AE_MAX_THREADS ? AE_MAX_THREADS : n;
    return AE_OK;
}

int ae_blas_threads(void) {
    if (tls_single) return 1;
    pthread_rwlock_rdlock(&g_blas_lock); /* not inside another thread's window */
    int n = openblas_get_num_threads();
    pthread_rwlock_unlock(&g_blas_lock);
    return n < 1 ? 1 : n;
}

int ae_threads(void) {
    if (g_threads) return g_threads;
    int n = ae_blas_threads();
    return n > AE_MAX_THREADS ? AE_MAX_THREADS : n;
}
