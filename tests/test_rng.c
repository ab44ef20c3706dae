#include "test_util.h"

#include <string.h>

#include "rng.h"

static void test_same_seed_same_stream(void **state) {
    (void)state;
    ae_rng a, b, c;
    ae_rng_seed(&a, 7, 1);
    ae_rng_seed(&b, 7, 1);
    ae_rng_seed(&c, 8, 1);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = ae_rng_u32(&a), y = ae_rng_u32(&b), z = ae_rng_u32(&c);
        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 90);
}

static void test_uniform_range_and_mean(void **state) {
    (void)state;
    ae_rng r;
    ae_rng_seed(&r, 1, 2);
    double sum = 0.0;
    for (int i = 0; i < 100000; i++) {
        float u = ae_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        sum += u;
    }
    assert_close(sum / 100000, 0.5, 0.01, 0);
}

static void test_normal_moments(void **state) {
    (void)state;
    ae_rng r;
    ae_rng_seed(&r, 3, 4);
    double s = 0.0, s2 = 0.0;
    enum { n = 200001 }; /* odd: the unpaired last draw is covered too */
    static float draws[n];
    ae_rng_fill_normal(&r, draws, n);
    for (int i = 0; i < n; i++) {
        float z = draws[i];
        assert_true(isfinite(z));
        s += z;
        s2 += (double)z * z;
    }
    assert_close(s / n, 0.0, 0.01, 0);
    assert_close(s2 / n, 1.0, 0.02, 0);
}

static void test_permutation_is_a_permutation(void **state) {
    (void)state;
    enum { N = 1000 };
    uint32_t idx[N];
    int seen[N];
    for (uint32_t i = 0; i < N; i++) idx[i] = i;
    ae_rng r;
    ae_rng_seed(&r, 5, 6);
    ae_rng_permute(&r, idx, N);
    memset(seen, 0, sizeof seen);
    int moved = 0;
    for (uint32_t i = 0; i < N; i++) {
        assert_true(idx[i] < N);
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > N / 2);
}

static void test_below_is_in_range(void **state) {
    (void)state;
    ae_rng r;
    ae_rng_seed(&r, 9, 9);
    int hits[3] = {0, 0, 0};
    for (int i = 0; i < 30000; i++) {
        uint32_t v = ae_rng_below(&r, 3);
        assert_true(v < 3);
        hits[v]++;
    }
    for (int i = 0; i < 3; i++) assert_close(hits[i], 10000, 500, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_stream), cmocka_unit_test(test_uniform_range_and_mean),
        cmocka_unit_test(test_normal_moments),        cmocka_unit_test(test_permutation_is_a_permutation),
        cmocka_unit_test(test_below_is_in_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
