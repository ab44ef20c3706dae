/* Helpers for the tests of the pass (they include src/ headers): a training pass's
 * configuration, and the check that a chunked pass gives the same bits on any thread count. */
#ifndef AE_TEST_PASS_UTIL_H
#define AE_TEST_PASS_UTIL_H

#include <string.h>

#include "pool.h"
#include "test_util.h"
#include "train.h"

/* A training pass with loss and noise (sd 0.3), nothing else; sparsity target 0.05 and KL
 * weight 1 for when a test sets their weights. */
static inline ae_pass_cfg test_train_cfg(ae_loss loss, ae_noise noise) {
    ae_pass_cfg p;
    memset(&p, 0, sizeof p);
    p.loss = loss;
    p.train = 1;
    p.noise = noise;
    p.noise_level = 0.3f;
    p.sparsity_target = 0.05f;
    p.kl_weight = 1.0f;
    return p;
}

/* ae_pass_split over rows idx of data (by_cols as asked) in 1 and in 6 chunks, on 1 to
 * max_threads threads, each in three task orders, the model's RNG rewound each time: for a
 * chunk count, every run gives the bits of the first (loss and gradients). */
static inline void test_split_bits(ae_model *m, ae_work *w, const float *data, const uint32_t *idx, size_t rows,
                                   const ae_pass_cfg *pc, int by_cols, int max_threads) {
    float *first = malloc(m->n_params * sizeof(float));
    assert_non_null(first);
    const ae_rng start = m->rng;
    for (size_t chunks = 1; chunks <= 6; chunks += 5) {
        double loss0 = 0.0;
        int runs = 0;
        for (int T = 1; T <= max_threads; T++) {
            ae_pool *pool = NULL;
            if (T > 1) assert_int_equal(ae_pool_start(&pool, T), AE_OK);
            const uint32_t orders[] = {0, 3, 99991};
            for (size_t oi = 0; oi < 3; oi++) {
                m->rng = start;
                ae_pool_test_order(orders[oi]);
                ae_pass_parts parts;
                double l = ae_pass_split(m, w, pool, chunks, by_cols, data, idx, rows, pc, 1, &parts);
                ae_pool_test_order(0);
                if (!runs++) {
                    loss0 = l;
                    memcpy(first, m->grads, m->n_params * sizeof(float));
                } else {
                    assert_memory_equal(&l, &loss0, sizeof l);
                    assert_memory_equal(m->grads, first, m->n_params * sizeof(float));
                }
            }
            ae_pool_stop(pool);
        }
    }
    free(first);
}

/* A model of config c with its parameters drawn from [-spread, spread]: every trained tensor
 * and the input against central differences of the training pass pc's loss over 3 rows. */
static inline void test_model_gradients(ae_config c, ae_pass_cfg pc, float spread) {
    enum { ROWS = 3 };
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    test_fill(m->params, m->n_params, 41, -spread, spread);
    const size_t d = c.input_dim;
    float *x = malloc(ROWS * d * sizeof(float)), *dx = calloc(ROWS * d, sizeof(float));
    float *target = malloc(ROWS * d * sizeof(float)), *grads = malloc(m->n_params * sizeof(float));
    assert_true(x && dx && target && grads);
    test_fill(x, ROWS * d, 42, 0.05f, 0.95f);
    memcpy(target, x, ROWS * d * sizeof(float));
    ae_work w;
    assert_int_equal(ae_work_init(&w, m, ROWS, &pc), AE_OK);
    ae_pass(m, &w, x, target, ROWS, &pc, 1, dx, NULL);
    memcpy(grads, m->grads, m->n_params * sizeof(float));
    const float h = 1e-3f;
    size_t checked = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        float *ps[2] = {L->w, L->b};
        for (int t = 0; t < 2; t++)
            for (size_t i = 0; i < ae_layer_tensor_floats(L, t); i++, checked++) {
                float *p = ps[t] + i, keep = *p;
                *p = keep + h;
                double up = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
                *p = keep - h;
                double down = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
                *p = keep;
                assert_close(grads[p - m->params], (up - down) / (2.0 * h), 3e-4, 3e-2);
            }
    }
    assert_int_equal(checked, ae_param_count(m));
    for (size_t i = 0; i < ROWS * d; i++) { /* the input path (the target held fixed) */
        float keep = x[i];
        x[i] = keep + h;
        double up = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
        x[i] = keep - h;
        double down = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
        x[i] = keep;
        assert_close(dx[i], (up - down) / (2.0 * h), 3e-4, 3e-2);
    }
    free(x);
    free(dx);
    free(target);
    free(grads);
    ae_work_free(&w);
    ae_free(m);
}

/* ae_train of a model of config c, 2 epochs of batch 64 over 256 rows drawn in [0, 1], on
 * `threads` threads (the row plan when more than one). */
static inline ae_model *test_train_on_threads(ae_config c, int threads) {
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *x = malloc(256 * c.input_dim * sizeof(float));
    assert_non_null(x);
    test_fill(x, 256 * c.input_dim, 11, 0.0f, 1.0f);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 64;
    assert_int_equal(ae_set_threads(threads), AE_OK);
    assert_int_equal(ae_set_plan(threads > 1 ? AE_PLAN_ROWS : AE_PLAN_AUTO), AE_OK);
    assert_int_equal(ae_train(m, x, 256, &o), AE_OK);
    assert_int_equal(ae_set_plan(AE_PLAN_AUTO), AE_OK);
    assert_int_equal(ae_set_threads(1), AE_OK);
    free(x);
    return m;
}

/* Threaded training of config c: the same bits for the same thread count, close to one
 * thread's. */
static inline void test_threads_reproducible(ae_config c) {
    ae_model *a = test_train_on_threads(c, 1), *b = test_train_on_threads(c, 2), *b2 = test_train_on_threads(c, 2);
    assert_memory_equal(b->params, b2->params, b->n_params * sizeof(float));
    for (size_t i = 0; i < a->n_params; i++) assert_close(b->params[i], a->params[i], 2e-4, 1e-3);
    ae_free(a);
    ae_free(b);
    ae_free(b2);
}

#endif
