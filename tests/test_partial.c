/* ae_train_partial: incremental training over chunks equals one ae_train epoch over their
 * concatenation, bit for bit; held rows, refusals and divergence. */
#include "test_util.h"

#include <string.h>

#include "train.h"

enum { N = 203, D = 10, B = 16 };

static ae_config config(void) {
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.n_hidden = 1;
    c.hidden[0] = 7;
    c.code_dim = 3;
    return c;
}

static ae_train_opts opts(void) {
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    o.batch_size = B;
    o.shuffle = 0;
    o.dropout = 0.1f; /* draws from the model's RNG: the order of steps must match too */
    return o;
}

static void count_batch(int epoch, size_t batch, size_t batches, double loss, void *user) {
    (void)epoch, (void)batch, (void)batches, (void)loss;
    ++*(size_t *)user;
}

static void check_chunks(const size_t *chunk, size_t n_chunks, ae_scaling scaling, float lo, float hi) {
    static float x[N * D];
    test_fill(x, N * D, 77, lo, hi);
    ae_config c = config();
    c.scaling = scaling;
    ae_model *one, *inc;
    assert_int_equal(ae_create(&one, &c), AE_OK);
    assert_int_equal(ae_create(&inc, &c), AE_OK);
    ae_train_opts o = opts();
    assert_int_equal(ae_train(one, x, N, &o), AE_OK);
    size_t steps = 0, at = 0;
    o.on_batch = count_batch;
    o.user = &steps;
    o.epochs = 10; /* not used: each row trains once */
    o.shuffle = 1; /* not used: rows train in the order given */
    for (size_t i = 0; i < n_chunks; i++) {
        assert_int_equal(ae_train_partial(inc, x + at * D, chunk[i], &o), AE_OK);
        at += chunk[i];
        assert_int_equal(ae_train_partial_held(inc), at - steps * B); /* rows not yet in a batch */
    }
    assert_int_equal(at, N);
    assert_int_equal(ae_train_partial_flush(inc, &o), AE_OK);
    assert_int_equal(ae_train_partial_held(inc), 0);
    assert_int_equal(steps, (N + B - 1) / B); /* every row once, in whole batches and one last */
    assert_memory_equal(one->params, inc->params, one->n_params * sizeof(float));
    assert_memory_equal(one->opt.m, inc->opt.m, one->n_params * sizeof(float));
    assert_int_equal(one->opt.step, inc->opt.step);
    assert_memory_equal(&one->rng, &inc->rng, sizeof one->rng);
    ae_free(one);
    ae_free(inc);
}

static void test_chunks_equal_one_call(void **state) {
    (void)state;
    ae_set_threads(1); /* one plan for both runs */
    const size_t a[] = {5, 40, 1, 77, 80}, b[] = {203}, c[] = {16, 16, 171}, d[] = {3, 3, 3, 194};
    check_chunks(a, 5, AE_SCALE_AUTO, 0.0f, 1.0f);
    check_chunks(b, 1, AE_SCALE_AUTO, 0.0f, 1.0f);
    check_chunks(c, 3, AE_SCALE_AUTO, 0.0f, 1.0f);
    /* scaling: fitted on the first call's rows, so the same rows first give the same model
     * only when the first call holds them all */
    check_chunks(b, 1, AE_SCALE_ZSCORE, -3.0f, 5.0f);
    check_chunks(d, 4, AE_SCALE_NONE, 0.0f, 1.0f);
}

static void test_refusals_and_divergence(void **state) {
    (void)state;
    float x[40 * D];
    test_fill(x, 40 * D, 5, 0.0f, 1.0f);
    ae_config c = config();
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = opts();
    ae_train_opts bad = o;
    bad.patience = 2;
    assert_int_equal(ae_train_partial(m, x, 40, &bad), AE_EINVAL);
    bad = o;
    bad.val_split = 0.2f;
    assert_int_equal(ae_train_partial(m, x, 40, &bad), AE_EINVAL);
    assert_int_equal(ae_train_partial(NULL, x, 40, &o), AE_EINVAL);
    assert_int_equal(ae_train_partial(m, NULL, 40, &o), AE_EINVAL);
    assert_int_equal(ae_train_partial(m, x, 7, &o), AE_OK); /* 7 rows held */
    assert_int_equal(ae_train_partial_held(m), 7);
    bad = o;
    bad.batch_size = 8; /* the held rows wait for a batch of 16 */
    assert_int_equal(ae_train_partial(m, x, 40, &bad), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "held"));
    /* divergence: weights and held rows as the call found them */
    float *before = malloc(m->n_params * sizeof(float));
    assert_non_null(before);
    memcpy(before, m->params, m->n_params * sizeof(float));
    bad = o;
    bad.optimizer = AE_OPT_SGD;
    bad.learning_rate = 1e30f;
    assert_int_equal(ae_train_partial(m, x, 40, &bad), AE_EDIVERGED);
    assert_memory_equal(before, m->params, m->n_params * sizeof(float));
    assert_int_equal(ae_train_partial_held(m), 7);
    float nan_row[D];
    memset(nan_row, 0, sizeof nan_row);
    nan_row[3] = NAN;
    assert_int_equal(ae_train_partial(m, nan_row, 1, &o), AE_ENONFINITE);
    assert_int_equal(ae_train_partial_held(m), 7);
    free(before);
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks_equal_one_call),
        cmocka_unit_test(test_refusals_and_divergence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
