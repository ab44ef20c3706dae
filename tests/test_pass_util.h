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

#endif
