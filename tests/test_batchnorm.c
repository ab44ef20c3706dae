/* Batch normalisation (ae_config.batch_norm, layers/batchnorm.c): gradients against central
 * differences, the running statistics against a hand computation, training vs inference, the
 * model file, and what is refused. */
#include "test_pass_util.h"

#include <string.h>

#include "io_file.h"
#include "train.h"

static ae_config bn_config(size_t d, size_t h1, size_t h2, size_t k) {
    ae_config c = ae_config_default();
    c.input_dim = d;
    c.n_hidden = h2 ? 2 : 1;
    c.hidden[0] = h1;
    c.hidden[1] = h2;
    c.code_dim = k;
    c.batch_norm = 1;
    return c;
}

static ae_pass_cfg train_cfg(ae_loss loss) { return test_train_cfg(loss, AE_NOISE_NONE); }

/* The sequence: dense, batch norm (taking the hidden activation), ..., code, ..., output. */
static void test_layer_sequence(void **state) {
    (void)state;
    ae_config c = bn_config(10, 8, 6, 3);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(m->n_layers, 10);
    assert_int_equal(m->n_enc, 5);
    const char *kinds[10] = {"dense", "batchnorm", "dense", "batchnorm", "dense",
                             "dense", "batchnorm", "dense", "batchnorm", "dense"};
    for (size_t l = 0; l < 10; l++) assert_string_equal(m->layer[l].kind->name, kinds[l]);
    assert_int_equal(m->layer[0].act, AE_ACT_LINEAR); /* the activation moves after the norm */
    assert_int_equal(m->layer[1].act, AE_ACT_RELU);
    assert_true(m->layer[1].dropout_after && !m->layer[0].dropout_after && !m->layer[4].dropout_after);
    /* gamma 1, beta 0, running mean 0, running variance 1 */
    for (size_t j = 0; j < 8; j++) {
        assert_true(m->layer[1].w[j] == 1.0f && m->layer[1].b[j] == 0.0f);
        assert_true(m->layer[1].stat[j] == 0.0f && m->layer[1].stat[8 + j] == 1.0f);
    }
    /* parameters as torch counts them: weights, biases, gamma and beta */
    const size_t want =
        10 * 8 + 8 + 2 * 8 + 8 * 6 + 6 + 2 * 6 + 6 * 3 + 3 + 3 * 6 + 6 + 2 * 6 + 6 * 8 + 8 + 2 * 8 + 8 * 10 + 10;
    assert_int_equal(ae_param_count(m), want);
    ae_free(m);
    /* the dense layers draw the weights they draw without batch norm */
    ae_model *plain;
    c.batch_norm = 0;
    assert_int_equal(ae_create(&plain, &c), AE_OK);
    c.batch_norm = 1;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_memory_equal(plain->layer[0].w, m->layer[0].w, 10 * 8 * sizeof(float));
    assert_memory_equal(plain->layer[5].w, m->layer[9].w, 8 * 10 * sizeof(float));
    ae_free(plain);
    ae_free(m);
}

/* Every trained tensor (weights, biases, gamma, beta) and the input against central
 * differences of the training pass's loss, for each hidden activation and both losses. */
static void check_gradients(ae_config c, ae_pass_cfg pc) {
    enum { ROWS = 5 };
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    test_fill(m->params, m->n_params, 41, -0.3f, 0.3f);
    for (size_t l = 0; l < m->n_layers; l++) /* gamma near 1, away from 0 */
        if (m->layer[l].kind == &ae_kind_batchnorm)
            for (size_t j = 0; j < m->layer[l].out; j++) m->layer[l].w[j] += 1.0f;
    const size_t d = c.input_dim;
    float x[ROWS * 8], dx[ROWS * 8], target[ROWS * 8];
    test_fill(x, ROWS * d, 42, 0.05f, 0.95f);
    memcpy(target, x, sizeof target);
    ae_work w;
    assert_int_equal(ae_work_init(&w, m, ROWS, &pc), AE_OK);
    const ae_rng start = m->rng; /* rewound before every pass: a VAE draws the same eps */
    memset(dx, 0, sizeof dx);
    ae_pass(m, &w, x, target, ROWS, &pc, 1, dx, NULL);
    float *grads = malloc(m->n_params * sizeof(float));
    assert_non_null(grads);
    memcpy(grads, m->grads, m->n_params * sizeof(float));
    const float h = 1e-3f;
    size_t checked = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        float *ps[2] = {L->w, L->b};
        for (int t = 0; t < 2; t++) {
            const size_t count = ae_layer_tensor_floats(L, t);
            for (size_t i = 0; i < count; i++) {
                float *p = ps[t] + i, keep = *p;
                *p = keep + h;
                m->rng = start;
                double up = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
                *p = keep - h;
                m->rng = start;
                double down = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
                *p = keep;
                assert_close(grads[p - m->params], (up - down) / (2.0 * h), 3e-4, 3e-2);
                checked++;
            }
        }
    }
    assert_int_equal(checked, ae_param_count(m));
    for (size_t i = 0; i < ROWS * d; i++) { /* the input path (the target held fixed) */
        float keep = x[i];
        x[i] = keep + h;
        m->rng = start;
        double up = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
        x[i] = keep - h;
        m->rng = start;
        double down = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
        x[i] = keep;
        assert_close(dx[i], (up - down) / (2.0 * h), 3e-4, 3e-2);
    }
    free(grads);
    ae_work_free(&w);
    ae_free(m);
}

static void test_gradients(void **state) {
    (void)state;
    const ae_activation acts[3] = {AE_ACT_TANH, AE_ACT_SIGMOID, AE_ACT_LINEAR};
    for (int a = 0; a < 3; a++) {
        ae_config c = bn_config(6, 5, 4, 3);
        c.hidden_act = acts[a];
        check_gradients(c, train_cfg(AE_LOSS_MSE));
        check_gradients(c, train_cfg(AE_LOSS_BCE));
    }
    ae_config tied = bn_config(6, 5, 0, 3); /* tied weights: the dense layers share */
    tied.tied_weights = 1;
    tied.hidden_act = AE_ACT_TANH;
    check_gradients(tied, train_cfg(AE_LOSS_MSE));
    ae_config vae = bn_config(6, 5, 0, 2); /* the sampled code after a normalised block */
    vae.variational = 1;
    vae.hidden_act = AE_ACT_TANH;
    check_gradients(vae, train_cfg(AE_LOSS_MSE));
}

/* One training pass on a batch: the batch's mean and biased variance normalise it; the
 * running statistics move 0.1 of the way to the batch's mean and unbiased variance. */
static void test_running_statistics(void **state) {
    (void)state;
    enum { ROWS = 7, D = 4 };
    ae_config c = bn_config(D, 3, 0, 2);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float x[ROWS * D];
    test_fill(x, sizeof x / sizeof x[0], 7, 0.0f, 1.0f);
    ae_pass_cfg pc = train_cfg(AE_LOSS_MSE);
    ae_work w;
    assert_int_equal(ae_work_init(&w, m, ROWS, &pc), AE_OK);
    ae_pass(m, &w, x, x, ROWS, &pc, 1, NULL, NULL);
    const ae_layer *dense = &m->layer[0], *bn = &m->layer[1];
    for (size_t j = 0; j < 3; j++) {
        double z[ROWS], mean = 0.0, sq = 0.0;
        for (size_t i = 0; i < ROWS; i++) {
            z[i] = dense->b[j];
            for (size_t t = 0; t < D; t++) z[i] += (double)dense->w[j * D + t] * x[i * D + t];
            mean += z[i] / ROWS;
        }
        for (size_t i = 0; i < ROWS; i++) sq += (z[i] - mean) * (z[i] - mean);
        assert_close(bn->stat[j], 0.1 * mean, 1e-6, 1e-5);
        assert_close(bn->stat[3 + j], 0.9 + 0.1 * sq / (ROWS - 1), 1e-6, 1e-5);
        /* the training output of unit j: relu(gamma (z - mean) / sqrt(var + eps) + beta) */
        for (size_t i = 0; i < ROWS; i++) {
            const double y = (z[i] - mean) / sqrt(sq / ROWS + 1e-5);
            assert_close(w.act[1][i * 3 + j], y > 0.0 ? y : 0.0, 1e-5, 1e-4);
        }
    }
    ae_work_free(&w);
    ae_free(m);
}

/* Inference (and validation) use the running statistics, training the batch's: after
 * training, the training pass's output differs from ae_reconstruct's, and the evaluation
 * pass's loss is the loss of ae_reconstruct's rows. */
static void test_training_vs_inference(void **state) {
    (void)state;
    enum { N = 96, D = 8 };
    float x[N * D], rec[N * D];
    test_fill(x, N * D, 3, 0.1f, 0.9f);
    ae_config c = bn_config(D, 6, 0, 3);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 3;
    o.batch_size = 16;
    assert_int_equal(ae_train(m, x, N, &o), AE_OK);
    assert_int_equal(ae_reconstruct(m, x, N, rec), AE_OK);
    double mse = 0.0;
    for (size_t i = 0; i < N * D; i++) mse += ((double)rec[i] - x[i]) * ((double)rec[i] - x[i]);
    mse /= N * D;
    /* inference is row by row: one row alone gives its row of the whole call (up to the
     * products' rounding, which differs between one row and many) */
    float one[D];
    assert_int_equal(ae_reconstruct(m, x + 5 * D, 1, one), AE_OK);
    for (size_t j = 0; j < D; j++) assert_close(one[j], rec[5 * D + j], 1e-6, 1e-5);
    ae_pass_cfg pc = train_cfg(AE_LOSS_MSE);
    ae_work w;
    assert_int_equal(ae_work_init(&w, m, N, &pc), AE_OK);
    pc.train = 0;
    assert_close(ae_pass(m, &w, x, x, N, &pc, 0, NULL, NULL), mse, 1e-7, 1e-4);
    pc.train = 1;
    const double train_loss = ae_pass(m, &w, x, x, N, &pc, 0, NULL, NULL);
    assert_true(fabs(train_loss - mse) > 1e-7); /* the batch's statistics are not the running ones */
    /* (and a training pass moves the running statistics, as torch's train mode does) */
    ae_work_free(&w);
    ae_free(m);
}

/* Saved and loaded: the running statistics travel as encoder.1.running_mean/var (PyTorch's
 * names), and the loaded model reconstructs the same bits. */
static void test_save_load(void **state) {
    (void)state;
    enum { N = 64, D = 6 };
    float x[N * D], a[N * D], b[N * D];
    test_fill(x, N * D, 5, 0.1f, 0.9f);
    ae_config c = bn_config(D, 5, 4, 2);
    ae_model *m, *l;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 8;
    assert_int_equal(ae_train(m, x, N, &o), AE_OK);
    const char *path = "test_batchnorm.safetensors";
    assert_int_equal(ae_save(m, path), AE_OK);
    assert_int_equal(ae_load(&l, path), AE_OK);
    ae_config got;
    assert_int_equal(ae_get_config(l, &got), AE_OK);
    assert_int_equal(got.batch_norm, 1);
    assert_int_equal(l->n_state, m->n_state);
    assert_memory_equal(l->state, m->state, m->n_state * sizeof(float));
    assert_int_equal(ae_reconstruct(m, x, N, a), AE_OK);
    assert_int_equal(ae_reconstruct(l, x, N, b), AE_OK);
    assert_memory_equal(a, b, sizeof a);
    ae_tensor_ref t[AE_MAX_TENSORS];
    const size_t n = ae_model_tensors(m, t, 0);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(t[i].name, "encoder.1.running_mean") || !strcmp(t[i].name, "encoder.1.running_var") ||
            !strcmp(t[i].name, "decoder.3.running_var"))
            found++;
        if (!strcmp(t[i].name, "encoder.1.weight")) assert_int_equal(t[i].cols, 0); /* gamma [out] */
    }
    assert_int_equal(found, 3);
    /* a checkpoint resumes with the statistics too */
    assert_int_equal(ae_checkpoint_save(m, path), AE_OK);
    ae_free(l);
    assert_int_equal(ae_checkpoint_load(&l, path), AE_OK);
    assert_memory_equal(l->state, m->state, m->n_state * sizeof(float));
    ae_free(l);
    /* a file whose running variance is negative is refused (inference would take its root) */
    m->layer[1].stat[5] = -1.0f;
    assert_int_equal(ae_save(m, path), AE_OK);
    assert_int_equal(ae_load(&l, path), AE_EFORMAT);
    assert_non_null(strstr(ae_last_error(), "statistic"));
    remove(path);
    ae_free(m);
}

/* Refused: a batch_norm other than 0 or 1; layer-wise pretraining. A head fine-tunes through
 * the batch norm layers, and divergence puts the running statistics back. */
static void test_refusals_and_head(void **state) {
    (void)state;
    enum { N = 60, D = 6 };
    float x[N * D], y[N];
    test_fill(x, N * D, 9, 0.1f, 0.9f);
    for (size_t i = 0; i < N; i++) y[i] = (float)(i % 2);
    ae_config c = bn_config(D, 5, 0, 3);
    ae_model *m;
    c.batch_norm = 2;
    assert_int_equal(ae_create(&m, &c), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "batch_norm"));
    c.batch_norm = 1;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(ae_pretrain_layerwise(m, x, N, NULL, 1), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "batch_norm"));
    assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 2), AE_OK);
    float before[5 * 2];
    memcpy(before, m->layer[1].stat, sizeof before);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 10;
    assert_int_equal(ae_head_train(m, x, N, y, 0, &o), AE_OK);
    assert_true(memcmp(before, m->layer[1].stat, sizeof before) != 0); /* fine-tuning moved them */
    memcpy(before, m->layer[1].stat, sizeof before);
    o.learning_rate = 1e30f; /* diverges in the first step */
    o.optimizer = AE_OPT_SGD;
    assert_int_equal(ae_head_train(m, x, N, y, 0, &o), AE_EDIVERGED);
    assert_memory_equal(before, m->layer[1].stat, sizeof before);
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_sequence),     cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_running_statistics), cmocka_unit_test(test_training_vs_inference),
        cmocka_unit_test(test_save_load),          cmocka_unit_test(test_refusals_and_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
