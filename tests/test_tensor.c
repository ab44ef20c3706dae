#include "test_util.h"

#include <float.h>
#include <string.h>

#include <cblas.h>

#include "blas.h"

/* Reference C = alpha op(A) op(B) + beta C with views of any ld. */
static void naive_gemm(int ta, int tb, float alpha, const ae_mat *a, const ae_mat *b, float beta, ae_mat *c) {
    size_t k = ta ? a->rows : a->cols;
    for (size_t i = 0; i < c->rows; i++)
        for (size_t j = 0; j < c->cols; j++) {
            double s = 0.0;
            for (size_t p = 0; p < k; p++) {
                float av = ta ? a->data[p * a->ld + i] : a->data[i * a->ld + p];
                float bv = tb ? b->data[j * b->ld + p] : b->data[p * b->ld + j];
                s += (double)av * bv;
            }
            c->data[i * c->ld + j] = (float)(alpha * s + beta * c->data[i * c->ld + j]);
        }
}

static void check_gemm(size_t m, size_t n, size_t k, int ta, int tb, size_t pad) {
    /* Stored shapes: A is [m x k] or [k x m]; B is [k x n] or [n x k]; ld = cols + pad. */
    size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    ae_mat A = {ar, ac, ac + pad, calloc(ar * (ac + pad), sizeof(float))};
    ae_mat B = {br, bc, bc + pad, calloc(br * (bc + pad), sizeof(float))};
    ae_mat C = {m, n, n + pad, calloc(m * (n + pad), sizeof(float))};
    ae_mat R = {m, n, n + pad, calloc(m * (n + pad), sizeof(float))};
    assert_non_null(A.data);
    assert_non_null(B.data);
    assert_non_null(C.data);
    assert_non_null(R.data);
    test_fill(A.data, ar * (ac + pad), 1, -1, 1);
    test_fill(B.data, br * (bc + pad), 2, -1, 1);
    test_fill(C.data, m * (n + pad), 3, -1, 1);
    memcpy(R.data, C.data, m * (n + pad) * sizeof(float));
    ae_gemm(ta, tb, 0.75f, &A, &B, 0.5f, &C);
    naive_gemm(ta, tb, 0.75f, &A, &B, 0.5f, &R);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n + pad; j++) /* padding columns must be untouched */
            assert_close(C.data[i * C.ld + j], R.data[i * R.ld + j], 1e-5, 1e-5);
    free(A.data);
    free(B.data);
    free(C.data);
    free(R.data);
}

/* Blocks of 8 MiB or more start on a 2 MiB boundary on Linux (huge pages can back them
 * whole); smaller ones on a cache line; both usable to their last byte. */
static void test_large_blocks_on_huge_page_boundaries(void **state) {
    (void)state;
    const size_t sizes[3] = {100, (size_t)1 << 20, (size_t)9 << 20};
    for (int i = 0; i < 3; i++) {
        unsigned char *p = ae_alloc(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
#if defined(__linux__)
        if (sizes[i] >= ((size_t)8 << 20)) assert_int_equal((uintptr_t)p % ((size_t)2 << 20), 0);
#endif
        memset(p, 7, sizes[i]);
        assert_int_equal(p[sizes[i] - 1], 7);
        ae_dealloc(p);
    }
}

static void test_gemm_all_transposes(void **state) {
    (void)state;
    const size_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 1, 130}, {1, 70, 3}, {31, 29, 257}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t pad = 0; pad < 3; pad += 2)
                    check_gemm(shapes[s][0], shapes[s][1], shapes[s][2], ta, tb, pad);
}

/* The forward product at batch 1-4 (row-major NT with few rows) runs libae's own loops,
 * sixteen outputs at a time: every way n and k split into whole and partial blocks. */
static void test_gemm_small_rows_nt(void **state) {
    (void)state;
    const size_t ns[] = {1, 15, 16, 17, 33, 48}, ks[] = {1, 4, 15, 16, 17, 40};
    for (size_t m = 1; m <= 5; m++)
        for (size_t ni = 0; ni < 6; ni++)
            for (size_t ki = 0; ki < 6; ki++)
                for (size_t pad = 0; pad < 3; pad += 2) check_gemm(m, ns[ni], ks[ki], 0, 1, pad);
    /* beta = 0 never reads C: NaN there must not come through */
    float a[2 * 20], b[33 * 20], c[2 * 33];
    test_fill(a, 40, 4, -1, 1);
    test_fill(b, 33 * 20, 5, -1, 1);
    for (size_t i = 0; i < 66; i++) c[i] = NAN;
    ae_mat A = ae_mat_view(a, 2, 20), B = ae_mat_view(b, 33, 20), C = ae_mat_view(c, 2, 33);
    ae_gemm(0, 1, 1.0f, &A, &B, 0.0f, &C);
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 33; j++) {
            double s = 0.0;
            for (size_t r = 0; r < 20; r++) s += (double)a[i * 20 + r] * b[j * 20 + r];
            assert_close(c[i * 33 + j], s, 1e-5, 1e-5);
        }
}

static void test_bias_act_each_activation(void **state) {
    (void)state;
    const float z[4] = {-2.0f, -0.5f, 0.0f, 1.5f}, b[2] = {0.5f, -0.25f};
    /* Hand-computed act(z + b), z + b = {-1.5, -0.75, 0.5, 1.25}. */
    const float want[6][4] = {{-1.5f, -0.75f, 0.5f, 1.25f},
                              {0.0f, 0.0f, 0.5f, 1.25f},
                              {-0.015f, -0.0075f, 0.5f, 1.25f},
                              {0.18242552f, 0.32082130f, 0.62245933f, 0.77729986f},
                              {-0.90514825f, -0.63514895f, 0.46211716f, 0.84828364f},
                              {0.20141328f, 0.38687101f, 0.97407698f, 1.50192908f}};
    for (int a = 0; a <= AE_ACT_SOFTPLUS; a++) {
        float y[4];
        memcpy(y, z, sizeof y);
        ae_bias_act(y, b, 2, 2, (ae_activation)a);
        for (int i = 0; i < 4; i++) assert_close(y[i], want[a][i], 1e-6, 1e-6);
    }
}

static void test_sigmoid_extremes_are_stable(void **state) {
    (void)state;
    assert_close(ae_act_scalar(-100.0f, AE_ACT_SIGMOID), 0.0, 1e-30, 0);
    assert_close(ae_act_scalar(100.0f, AE_ACT_SIGMOID), 1.0, 0, 0);
    assert_close(ae_act_scalar(-1000.0f, AE_ACT_SIGMOID), 0.0, 1e-30, 0);
    assert_close(ae_act_scalar(1000.0f, AE_ACT_SIGMOID), 1.0, 0, 0);
}

static void test_fast_exp_accuracy(void **state) {
    (void)state;
    /* Within 3 float ulps (relative 3.6e-7) of exp() over the whole unclamped range. Where
     * floats are evaluated in double (s390x) and ae_expf's rounding to float were skipped,
     * its n would not be an integer and results would be off by up to a factor of 2. */
    double worst = 0;
    for (double x = -87.0; x <= 88.0; x += 0.001) {
        double want = exp((float)x), got = ae_expf((float)x);
        double rel = fabs(got - want) / want;
        if (!(rel <= worst)) worst = rel; /* NaN-safe */
    }
    assert_close(worst, 0.0, 3.6e-7, 0);
    assert_true(ae_expf(-1000.0f) > 0.0f && ae_expf(1000.0f) < INFINITY); /* clamped */
    assert_true(isfinite(ae_sigmoidf(-1e30f)) && isfinite(ae_sigmoidf(1e30f)));
}

/* FNV-1a over the bits of n floats. */
static uint32_t float_bits_hash(const float *x, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        for (int b = 0; b < 32; b += 8) h = (h ^ ((u >> b) & 0xffu)) * 16777619u;
    }
    return h;
}

/* Float arithmetic is evaluated as float, one rounding per operation (FLT_EVAL_METHOD 0), in
 * the library and here, on every platform: the activation kernels give x86-64's bits. Where
 * floats were evaluated in double (s390x's gcc under -std=c11 without CMake's
 * -fexcess-precision=fast), constants such as leaky ReLU's 0.01f took their double values and
 * ae_expf's polynomial rounded once per line, so leaky ReLU, sigmoid and softplus gave other
 * bits, and models exchanged with x86-64 reconstructed up to 4.8e-7 apart. These kernels have
 * no reductions: their bits do not depend on the vector width. */
static void test_float_evaluation(void **state) {
    (void)state;
    enum { N = 512 };
    /* FNV-1a hashes of x86-64's bits; tanh's forward (libm's) is not checked */
    static const uint32_t want_fwd[] = {0x93bb5537u, 0xfa2573ddu, 0x83c834e1u, 0x3b994614u, 0u, 0xd4bda997u};
    static const uint32_t want_bwd[] = {0x2f18f919u, 0xfb859a7eu, 0x19e55608u, 0xfaccaca4u, 0x5074d057u, 0xa6f73bd0u};
    float z[N], bias[N], out[N], y[N], d[N];
    uint32_t s = 7;
    for (int i = 0; i < N; i++) { /* exact: integers times powers of 2 */
        s = s * 1664525u + 1013904223u;
        z[i] = (float)((int32_t)(s >> 8) - (1 << 23)) * 0x1p-19f; /* [-16, 16) */
        s = s * 1664525u + 1013904223u;
        bias[i] = (float)((int32_t)(s >> 8) - (1 << 23)) * 0x1p-21f; /* [-4, 4) */
        out[i] = bias[i] * 0.25f; /* [-1, 1): outputs for the backward kernels */
    }
    for (int a = 0; a <= AE_ACT_SOFTPLUS; a++) {
        const char *name = ae_activation_name((ae_activation)a);
        memcpy(y, z, sizeof y);
        ae_bias_act(y, bias, 1, N, (ae_activation)a);
        uint32_t fwd = float_bits_hash(y, N);
        for (int i = 0; i < N; i++) d[i] = z[i] * 0.0625f;
        ae_act_backward(d, out, N, (ae_activation)a);
        uint32_t bwd = float_bits_hash(d, N);
        if (a != AE_ACT_TANH && fwd != want_fwd[a]) {
            print_error("%s forward: bits hash 0x%08xu, x86-64's 0x%08xu\n", name, (unsigned)fwd,
                        (unsigned)want_fwd[a]);
            fail();
        }
        if (bwd != want_bwd[a]) {
            print_error("%s backward: bits hash 0x%08xu, x86-64's 0x%08xu\n", name, (unsigned)bwd,
                        (unsigned)want_bwd[a]);
            fail();
        }
    }
    assert_int_equal(FLT_EVAL_METHOD, 0); /* here too: the tests' own float arithmetic */
}

static void test_act_backward_matches_derivative(void **state) {
    (void)state;
    const float zs[5] = {-1.3f, -0.2f, 0.3f, 0.9f, 2.0f};
    for (int a = 0; a <= AE_ACT_SOFTPLUS; a++) {
        float out[5], d[5];
        for (int i = 0; i < 5; i++) {
            out[i] = ae_act_scalar(zs[i], (ae_activation)a);
            d[i] = 0.5f;
        }
        ae_act_backward(d, out, 5, (ae_activation)a);
        for (int i = 0; i < 5; i++) {
            double h = 1e-3;
            double num = (ae_act_scalar((float)(zs[i] + h), (ae_activation)a) -
                          ae_act_scalar((float)(zs[i] - h), (ae_activation)a)) /
                         (2 * h);
            assert_close(d[i], 0.5 * num, 2e-4, 1e-3);
        }
    }
}

static void test_col_sum_and_finite(void **state) {
    (void)state;
    const float x[6] = {1, 2, 3, 4, 5, 6};
    float s[3];
    ae_col_sum(x, 2, 3, 3, s);
    assert_close(s[0], 5, 0, 0);
    assert_close(s[1], 7, 0, 0);
    assert_close(s[2], 9, 0, 0);
    float t[2]; /* columns 1..2 of the same rows, through ld */
    ae_col_sum(x + 1, 2, 2, 3, t);
    assert_close(t[0], 7, 0, 0);
    assert_close(t[1], 9, 0, 0);
    float y[5] = {1, 2, 3, 4, 5};
    assert_true(ae_all_finite(y, 5));
    y[3] = NAN;
    assert_false(ae_all_finite(y, 5));
    y[3] = -INFINITY;
    assert_false(ae_all_finite(y, 5));
}

static void test_alloc_aligned_and_overflow(void **state) {
    (void)state;
    float *p = ae_alloc(100);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % AE_ALIGN, 0);
    ae_dealloc(p);
    assert_null(ae_alloc(0));
    assert_null(ae_calloc((size_t)-1 / 2, 4));
    size_t out;
    assert_false(ae_mul_ok((size_t)-1, 2, &out));
    assert_true(ae_mul_ok(1000, 1000, &out));
    assert_int_equal(out, 1000000);
}

static int fail_all(size_t bytes, void *user) {
    (void)bytes;
    ++*(int *)user;
    return 1;
}

static void test_alloc_hook_fails_allocation(void **state) {
    (void)state;
    int calls = 0;
    ae_set_alloc_hook(fail_all, &calls);
    void *p = ae_alloc(64);
    ae_set_alloc_hook(NULL, NULL);
    assert_null(p);
    assert_int_equal(calls, 1);
}

static void test_blas_info_and_threads(void **state) {
    (void)state;
    ae_blas_info info = ae_blas_get_info();
    assert_non_null(info.core);
    assert_true(info.threads >= 1);
    assert_int_equal(ae_set_threads(-3), AE_EINVAL);
    assert_int_equal(ae_set_threads(3), AE_OK);
    assert_int_equal(ae_blas_get_info().threads, 3);
    assert_int_equal(ae_threads(), 3);
    /* 0: decide for me, up to OpenBLAS's count, which it leaves alone */
    assert_int_equal(ae_set_threads(0), AE_OK);
    assert_int_equal(ae_blas_get_info().threads, 3);
    assert_int_equal(ae_threads(), 3);
    openblas_set_num_threads(2);
    assert_int_equal(ae_threads(), 2);
    assert_int_equal(ae_set_threads(1), AE_OK);
    assert_int_equal(ae_blas_get_info().threads, 1);
    assert_int_equal(ae_threads(), 1);
    /* The fallback rule: an old core on a CPU with AVX2 or AVX-512 is a fallback. */
    assert_true(ae_blas_is_fallback("Prescott", 1, 1));
    assert_true(ae_blas_is_fallback("Nehalem", 1, 0));
    assert_true(ae_blas_is_fallback("Sandybridge", 1, 0));
    assert_false(ae_blas_is_fallback("Prescott", 0, 0)); /* an old CPU: the right choice */
    assert_false(ae_blas_is_fallback("SkylakeX", 1, 1));
    assert_false(ae_blas_is_fallback("Haswell", 1, 1));
    assert_false(ae_blas_is_fallback("Cooperlake", 1, 1));
    assert_false(ae_blas_is_fallback("ZEN", 1, 0));
}

/* Every activation has one name, the name table and the parser agree, and the generated
 * kernels match the scalar definitions. */
static void test_activation_names(void **state) {
    (void)state;
    static const char *const want[] = {"linear", "relu", "leaky_relu", "sigmoid", "tanh", "softplus"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(ae_activation_name((ae_activation)i), want[i]);
        ae_activation a = (ae_activation)99;
        assert_int_equal(ae_activation_parse(want[i], &a), AE_OK);
        assert_int_equal((int)a, i);
        float y[3] = {-1.5f, 0.0f, 2.0f}, bias[3] = {0.25f, -0.5f, 1.0f};
        ae_bias_act(y, bias, 1, 3, (ae_activation)i);
        const float z[3] = {-1.25f, -0.5f, 3.0f};
        for (int j = 0; j < 3; j++) assert_true(y[j] == ae_act_scalar(z[j], (ae_activation)i));
        float d[3] = {1.0f, -2.0f, 3.0f};
        ae_act_backward(d, y, 3, (ae_activation)i);
        const float d0[3] = {1.0f, -2.0f, 3.0f};
        for (int j = 0; j < 3; j++)
            assert_true(d[j] == (float)(d0[j] * ae_act_grad_from_output(y[j], (ae_activation)i)));
    }
    ae_activation a = AE_ACT_RELU;
    assert_null(ae_activation_name((ae_activation)6));
    assert_null(ae_activation_name((ae_activation)-1));
    assert_int_equal(ae_activation_parse("gelu", &a), AE_EINVAL);
    assert_int_equal(ae_activation_parse(NULL, &a), AE_EINVAL);
    assert_int_equal((int)a, AE_ACT_RELU);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_blocks_on_huge_page_boundaries),
        cmocka_unit_test(test_gemm_all_transposes),
        cmocka_unit_test(test_gemm_small_rows_nt),
        cmocka_unit_test(test_bias_act_each_activation),
        cmocka_unit_test(test_sigmoid_extremes_are_stable),
        cmocka_unit_test(test_act_backward_matches_derivative),
        cmocka_unit_test(test_fast_exp_accuracy),
        cmocka_unit_test(test_float_evaluation),
        cmocka_unit_test(test_col_sum_and_finite),
        cmocka_unit_test(test_alloc_aligned_and_overflow),
        cmocka_unit_test(test_alloc_hook_fails_allocation),
        cmocka_unit_test(test_blas_info_and_threads),
        cmocka_unit_test(test_activation_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
