/* Greedy layer-wise pretraining: each layer's autoencoder learns (its loss falls), the stages
 * run in order before the end-to-end stage, the result has ae_create's shape and beats the
 * same training from random weights, and bad calls leave the model alone. */
#include "test_util.h"

#include <string.h>

#include "model.h"

#define MAX_LOG 256

typedef struct stage_log {
    int layer[MAX_LOG], epoch[MAX_LOG];
    double loss[MAX_LOG];
    int n;
} stage_log;

static int record(const ae_epoch_stats *s, void *user) {
    stage_log *g = user;
    if (g->n < MAX_LOG) {
        g->layer[g->n] = s->layer;
        g->epoch[g->n] = s->epoch;
        g->loss[g->n] = s->train_loss;
        g->n++;
    }
    return 0;
}

/* Rows on a 4-dimensional subspace of [0,1]^d: something a narrow code can learn. */
static float *low_rank(size_t n, size_t d, uint32_t seed) {
    float *x = malloc(n * d * sizeof(float)), basis[4 * 32], z[4];
    assert_non_null(x);
    test_fill(basis, 4 * d, seed, -0.5f, 0.5f);
    uint32_t s = seed * 31u + 7u;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 4; k++) z[k] = test_uniform(&s, -1.0f, 1.0f);
        for (size_t j = 0; j < d; j++) {
            float v = 0.5f;
            for (int k = 0; k < 4; k++) v += 0.5f * z[k] * basis[k * d + j];
            x[i * d + j] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    }
    return x;
}

static ae_config stack_config(int tied) {
    ae_config c = ae_config_default();
    c.input_dim = 24;
    c.n_hidden = 2;
    c.hidden[0] = 16;
    c.hidden[1] = 10;
    c.code_dim = 4;
    c.tied_weights = tied;
    return c;
}

static void test_each_layer_learns_then_end_to_end(void **state) {
    (void)state;
    const size_t n = 400, d = 24;
    float *x = low_rank(n, d, 3);
    for (int tied = 0; tied < 2; tied++) {
        ae_config c = stack_config(tied);
        ae_model *m, *fresh;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        assert_int_equal(ae_create(&fresh, &c), AE_OK);
        stage_log g = {{0}, {0}, {0}, 0};
        ae_train_opts o = ae_train_opts_default();
        o.epochs = 4;
        o.batch_size = 16;
        o.learning_rate = 3e-3f;
        o.on_epoch = record;
        o.user = &g;
        const int per_layer = 6;
        assert_int_equal(ae_pretrain_layerwise(m, x, n, &o, per_layer), AE_OK);
        /* three stages of per_layer epochs, in order, then the end-to-end epochs as layer 0 */
        assert_int_equal(g.n, 3 * per_layer + o.epochs);
        for (int s = 0; s < 3; s++) {
            const int first = s * per_layer, last = first + per_layer - 1;
            for (int e = first; e <= last; e++) {
                assert_int_equal(g.layer[e], s + 1);
                assert_int_equal(g.epoch[e], e - first + 1);
            }
            assert_true(g.loss[last] < 0.8 * g.loss[first]); /* each layer's autoencoder learns */
        }
        for (int e = 3 * per_layer; e < g.n; e++) assert_int_equal(g.layer[e], 0);
        /* ae_create's shape */
        ae_config got;
        assert_int_equal(ae_get_config(m, &got), AE_OK);
        assert_int_equal(memcmp(&got, &c, sizeof c), 0);
        assert_int_equal(ae_param_count(m), ae_param_count(fresh));
        assert_int_equal(m->n_params, fresh->n_params);
        /* and it reconstructs better than the same end-to-end training from random weights */
        o.on_epoch = NULL;
        assert_int_equal(ae_train(fresh, x, n, &o), AE_OK);
        float e1[400], e2[400];
        assert_int_equal(ae_score(m, x, n, e1), AE_OK);
        assert_int_equal(ae_score(fresh, x, n, e2), AE_OK);
        double s1 = 0.0, s2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            s1 += e1[i];
            s2 += e2[i];
        }
        assert_true(s1 < s2);
        ae_free(m);
        ae_free(fresh);
    }
    free(x);
}

/* Same seed, same options: the same weights (the stages' seeds come from the config). */
static void test_pretraining_is_deterministic(void **state) {
    (void)state;
    const size_t n = 100, d = 24;
    float *x = low_rank(n, d, 5);
    ae_model *a, *b;
    ae_config c = stack_config(0);
    assert_int_equal(ae_create(&a, &c), AE_OK);
    assert_int_equal(ae_create(&b, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    o.batch_size = 16;
    o.noise = AE_NOISE_MASK; /* denoising pretraining */
    o.noise_level = 0.2f;
    assert_int_equal(ae_pretrain_layerwise(a, x, n, &o, 2), AE_OK);
    assert_int_equal(ae_pretrain_layerwise(b, x, n, &o, 2), AE_OK);
    assert_int_equal(memcmp(a->params, b->params, a->n_params * sizeof(float)), 0);
    ae_free(a);
    ae_free(b);
    free(x);
}

static int stop_at_once(const ae_epoch_stats *s, void *user) {
    (void)s;
    ++*(int *)user;
    return 1;
}

static void test_pretrain_rejects_bad_calls(void **state) {
    (void)state;
    const size_t n = 50, d = 24;
    float *x = low_rank(n, d, 9);
    ae_config c = stack_config(0);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *before = malloc(m->n_params * sizeof(float));
    memcpy(before, m->params, m->n_params * sizeof(float));
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    assert_int_equal(ae_pretrain_layerwise(NULL, x, n, &o, 1), AE_EINVAL);
    assert_int_equal(ae_pretrain_layerwise(m, NULL, n, &o, 1), AE_EINVAL);
    assert_int_equal(ae_pretrain_layerwise(m, x, 0, &o, 1), AE_EINVAL);
    assert_int_equal(ae_pretrain_layerwise(m, x, n, &o, 0), AE_EINVAL);
    ae_train_opts b = o;
    b.learning_rate = 0.0f;
    assert_int_equal(ae_pretrain_layerwise(m, x, n, &b, 1), AE_EINVAL);
    b = o;
    b.resume = 1;
    assert_int_equal(ae_pretrain_layerwise(m, x, n, &b, 1), AE_EINVAL);
    x[3] = NAN;
    assert_int_equal(ae_pretrain_layerwise(m, x, n, &o, 1), AE_ENONFINITE);
    x[3] = 0.5f;
    assert_int_equal(memcmp(before, m->params, m->n_params * sizeof(float)), 0);
    /* a VAE's code layer has no one-layer autoencoder of its own */
    ae_config v = c;
    v.variational = 1;
    ae_model *vae;
    assert_int_equal(ae_create(&vae, &v), AE_OK);
    assert_int_equal(ae_pretrain_layerwise(vae, x, n, &o, 1), AE_EINVAL);
    ae_free(vae);
    /* on_epoch's stop ends each stage after its first epoch, and the end-to-end one */
    int calls = 0;
    o.on_epoch = stop_at_once;
    o.user = &calls;
    o.epochs = 5;
    assert_int_equal(ae_pretrain_layerwise(m, x, n, &o, 5), AE_OK);
    assert_int_equal(calls, 4);
    free(before);
    free(x);
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_layer_learns_then_end_to_end),
        cmocka_unit_test(test_pretraining_is_deterministic),
        cmocka_unit_test(test_pretrain_rejects_bad_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
