/* Recurrent sequence autoencoders (ae_config.rnn; layers/gru.c, lstm.c, dense_step.c): the
 * layer sequence, the cells against values worked out by hand and the whole model against a
 * naive loop in double, every gradient against central differences, the model file, thread
 * reproducibility, a head through the recurrent encoder, and what is refused. */
#include "test_pass_util.h"

#include <math.h>
#include <string.h>

/* A sequence model: steps x features rows, a cell of width h, code k. */
static ae_config rnn_config(ae_rnn_cell cell, size_t steps, size_t features, size_t h, size_t k) {
    ae_config c = ae_config_default();
    c.rnn = cell;
    c.seq_len = steps;
    c.seq_features = features;
    c.input_dim = steps * features;
    c.n_hidden = 1;
    c.hidden[0] = h;
    c.code_dim = k;
    return c;
}

static void test_layer_sequence(void **state) {
    (void)state;
    for (int lstm = 0; lstm < 2; lstm++) {
        ae_config c = rnn_config(lstm ? AE_RNN_LSTM : AE_RNN_GRU, 28, 28, 128, 64);
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        assert_int_equal(m->n_layers, 4);
        assert_int_equal(m->n_enc, 2);
        const char *cell = lstm ? "lstm" : "gru";
        const char *kinds[4] = {cell, "dense", cell, "dense_step"};
        const size_t in[4] = {784, 128, 64, 28 * 128}, out[4] = {128, 64, 28 * 128, 784};
        for (size_t l = 0; l < 4; l++) {
            assert_string_equal(m->layer[l].kind->name, kinds[l]);
            assert_int_equal(m->layer[l].in, in[l]);
            assert_int_equal(m->layer[l].out, out[l]);
        }
        assert_int_equal(m->layer[3].act, AE_ACT_SIGMOID);
        const size_t G = (lstm ? 4 : 3) * 128;
        /* torch: GRU(28, 128) + Linear(128, 64) + GRU(64, 128) + Linear(128, 28) */
        const size_t want = G * (28 + 128) + 2 * G + 128 * 64 + 64 + G * (64 + 128) + 2 * G + 28 * 128 + 28;
        assert_int_equal(ae_param_count(m), want);
        ae_free(m);
    }
}

/* One row, H = F = 1, two steps, weights chosen by hand; the expected states are torch's
 * equations worked out in double (the numbers in the comments of gru.c and lstm.c). */
static void test_cells_by_hand(void **state) {
    (void)state;
    const float x[2] = {0.9f, -0.6f};
    const double want_gru[2] = {0.3864276842437618, 0.15129052453757663};
    const double want_lstm[2] = {0.23838492498345246, 0.1026981561933655};
    const float w[4][2] = {{0.5f, -0.4f}, {-0.3f, 0.7f}, {0.8f, 0.6f}, {0.2f, -0.9f}};
    const float bi[4] = {0.1f, -0.2f, 0.05f, 0.3f}, bh[4] = {-0.1f, 0.3f, 0.2f, -0.25f};
    for (int lstm = 0; lstm < 2; lstm++) {
        const size_t G = lstm ? 4 : 3;
        for (size_t T = 1; T <= 2; T++) {
            ae_layer L;
            memset(&L, 0, sizeof L);
            L.kind = lstm ? &ae_kind_lstm : &ae_kind_gru;
            L.steps = T;
            L.step_in = 1;
            L.width = 1;
            L.in = T;
            L.out = 1;
            float wt[8], b[8], y[1];
            for (size_t g = 0; g < G; g++) {
                wt[2 * g] = w[g][0];
                wt[2 * g + 1] = w[g][1];
                b[g] = bi[g];
                b[G + g] = bh[g];
            }
            L.w = wt;
            L.b = b;
            float *scratch = calloc(ae_layer_scratch(&L, 1), sizeof(float));
            assert_non_null(scratch);
            L.kind->forward(&L, x, 1, y, 1, 0, scratch);
            assert_close(y[0], lstm ? want_lstm[T - 1] : want_gru[T - 1], 1e-6, 1e-6);
            free(scratch);
        }
    }
}

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

/* The cell over T steps in double: x_t at x + t * xs (xs 0: the same input every step), from
 * a zero state; the states into hs [T x H]. */
static void naive_rnn(const ae_layer *L, int lstm, const float *x, size_t xs, double *hs) {
    const size_t H = L->width, F = L->step_in, G = (lstm ? 4 : 3) * H, ld = F + H;
    double h[64] = {0}, c[64] = {0}, a[256];
    assert_true(H <= 64);
    for (size_t t = 0; t < L->steps; t++) {
        const float *xt = x + t * xs;
        for (size_t g = 0; g < G; g++) {
            double s = L->b[g] + L->b[G + g], rec = L->b[G + g];
            for (size_t f = 0; f < F; f++) s += (double)L->w[g * ld + f] * xt[f];
            for (size_t j = 0; j < H; j++) {
                s += (double)L->w[g * ld + F + j] * h[j];
                rec += (double)L->w[g * ld + F + j] * h[j];
            }
            a[g] = lstm || g < 2 * H ? s : s - rec; /* GRU's n: input part only, r scales rec */
            if (!lstm && g >= 2 * H) a[G + g - 2 * H] = rec;
        }
        for (size_t j = 0; j < H; j++) {
            if (lstm) {
                c[j] = sig(a[H + j]) * c[j] + sig(a[j]) * tanh(a[2 * H + j]);
                h[j] = sig(a[3 * H + j]) * tanh(c[j]);
            } else {
                const double r = sig(a[j]), z = sig(a[H + j]), n = tanh(a[2 * H + j] + r * a[G + j]);
                h[j] = (1.0 - z) * n + z * h[j];
            }
            hs[t * H + j] = h[j];
        }
    }
}

/* The whole model against the naive loop: codes and reconstructions of a few rows. */
static void test_model_against_naive_loop(void **state) {
    (void)state;
    enum { ROWS = 5, T = 4, F = 3, H = 6, K = 2 };
    for (int lstm = 0; lstm < 2; lstm++) {
        ae_config c = rnn_config(lstm ? AE_RNN_LSTM : AE_RNN_GRU, T, F, H, K);
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        test_fill(m->params, m->n_params, 5 + (uint64_t)lstm, -0.6f, 0.6f);
        float x[ROWS * T * F], code[ROWS * K], rec[ROWS * T * F];
        test_fill(x, sizeof x / sizeof x[0], 6, 0.0f, 1.0f);
        assert_int_equal(ae_encode(m, x, ROWS, code), AE_OK);
        assert_int_equal(ae_reconstruct(m, x, ROWS, rec), AE_OK);
        const ae_layer *E = &m->layer[0], *C = &m->layer[1], *D = &m->layer[2], *O = &m->layer[3];
        for (size_t i = 0; i < ROWS; i++) {
            double hs[T * H], ds[T * H];
            float kf[K];
            naive_rnn(E, lstm, x + i * T * F, F, hs);
            for (size_t k = 0; k < K; k++) {
                double s = C->b[k];
                for (size_t j = 0; j < H; j++) s += (double)C->w[k * H + j] * hs[(T - 1) * H + j];
                assert_close(code[i * K + k], s, 2e-6, 1e-5);
                kf[k] = (float)s;
            }
            naive_rnn(D, lstm, kf, 0, ds);
            for (size_t t = 0; t < T; t++)
                for (size_t f = 0; f < F; f++) {
                    double s = O->b[f];
                    for (size_t j = 0; j < H; j++) s += (double)O->w[f * H + j] * ds[t * H + j];
                    assert_close(rec[(i * T + t) * F + f], sig(s), 2e-6, 1e-5);
                }
        }
        ae_free(m);
    }
}

static void test_gradients(void **state) {
    (void)state;
    for (int lstm = 0; lstm < 2; lstm++) {
        const ae_rnn_cell cell = lstm ? AE_RNN_LSTM : AE_RNN_GRU;
        test_model_gradients(rnn_config(cell, 5, 3, 4, 2), test_train_cfg(AE_LOSS_MSE, AE_NOISE_NONE), 0.5f);
        test_model_gradients(rnn_config(cell, 3, 2, 5, 3), test_train_cfg(AE_LOSS_BCE, AE_NOISE_NONE), 0.5f);
        ae_config one = rnn_config(cell, 1, 4, 3, 2); /* a single step: no recurrent product */
        one.output_act = AE_ACT_TANH;
        test_model_gradients(one, test_train_cfg(AE_LOSS_MSE, AE_NOISE_NONE), 0.5f);
    }
}

/* Saved and loaded: the same bits and reconstructions, PyTorch's shapes in the header. */
static void test_save_load(void **state) {
    (void)state;
    for (int lstm = 0; lstm < 2; lstm++) {
        ae_config c = rnn_config(lstm ? AE_RNN_LSTM : AE_RNN_GRU, 6, 3, 5, 2);
        ae_model *m, *back;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        float x[40 * 18], r1[4 * 18], r2[4 * 18];
        test_fill(x, 40 * 18, 9, 0.0f, 1.0f);
        ae_train_opts o = ae_train_opts_default();
        o.epochs = 2;
        o.batch_size = 8;
        assert_int_equal(ae_train(m, x, 40, &o), AE_OK);
        const char *p1 = "test_rnn_model.safetensors", *p2 = "test_rnn_model2.safetensors";
        assert_int_equal(ae_save(m, p1), AE_OK);
        assert_int_equal(ae_load(&back, p1), AE_OK);
        assert_memory_equal(back->params, m->params, m->n_params * sizeof(float));
        ae_config got;
        assert_int_equal(ae_get_config(back, &got), AE_OK);
        assert_int_equal(got.rnn, c.rnn);
        assert_int_equal(got.seq_len, 6);
        assert_int_equal(got.seq_features, 3);
        assert_int_equal(ae_reconstruct(m, x, 4, r1), AE_OK);
        assert_int_equal(ae_reconstruct(back, x, 4, r2), AE_OK);
        assert_memory_equal(r1, r2, sizeof r1);
        FILE *f = fopen(p1, "rb");
        assert_non_null(f);
        static char b[1 << 16];
        const size_t n = fread(b, 1, sizeof b - 1, f);
        fclose(f);
        b[n] = '\0';
        char want[96];
        snprintf(want, sizeof want, "\"encoder.0.weight\":{\"dtype\":\"F32\",\"shape\":[%d,8]", lstm ? 20 : 15);
        assert_non_null(strstr(b + 8, want)); /* [W_ih | W_hh]: [G, F + H] */
        snprintf(want, sizeof want, "\"decoder.0.bias\":{\"dtype\":\"F32\",\"shape\":[2,%d]", lstm ? 20 : 15);
        assert_non_null(strstr(b + 8, want)); /* [b_ih ; b_hh] */
        assert_non_null(strstr(b + 8, "\"decoder.1.weight\":{\"dtype\":\"F32\",\"shape\":[3,5]"));
        assert_int_equal(ae_checkpoint_save(m, p2), AE_OK);
        ae_free(back);
        assert_int_equal(ae_checkpoint_load(&back, p2), AE_OK);
        assert_memory_equal(back->opt.m, m->opt.m, m->n_params * sizeof(float));
        remove(p1);
        remove(p2);
        ae_free(back);
        ae_free(m);
    }
}

/* The chunked pass: the same bits with any thread count and task order for a chunk count. */
static void test_chunked_pass_bits(void **state) {
    (void)state;
    enum { ROWS = 26 };
    for (int lstm = 0; lstm < 2; lstm++) {
        ae_config c = rnn_config(lstm ? AE_RNN_LSTM : AE_RNN_GRU, 7, 3, 20, 4);
        c.variational = lstm; /* and a VAE's head on the last state */
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        float *data = malloc(ROWS * c.input_dim * sizeof(float));
        assert_non_null(data);
        test_fill(data, ROWS * c.input_dim, 7, 0.05f, 0.95f);
        ae_pass_cfg pc = test_train_cfg(AE_LOSS_MSE, AE_NOISE_NONE);
        pc.dropout = 0.2f;
        ae_work w;
        assert_int_equal(ae_work_init(&w, m, ROWS, &pc), AE_OK);
        test_split_bits(m, &w, data, NULL, ROWS, &pc, 0, 3);
        ae_work_free(&w);
        free(data);
        ae_free(m);
    }
}

/* Threaded training: the same bits for the same thread count, close to one thread's. */
static void test_threaded_training(void **state) {
    (void)state;
    test_threads_reproducible(rnn_config(AE_RNN_GRU, 8, 4, 24, 6));
    test_threads_reproducible(rnn_config(AE_RNN_LSTM, 8, 4, 24, 6));
}

/* The mean of ae_score over x's n rows. */
static double mean_score(const ae_model *m, const float *x, size_t n) {
    float *err = malloc(n * sizeof(float));
    assert_non_null(err);
    assert_int_equal(ae_score(m, x, n, err), AE_OK);
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += err[i];
    free(err);
    return s / (double)n;
}

/* Training learns: the loss of a smooth sequence set falls well below the start's. */
static void test_training_learns(void **state) {
    (void)state;
    enum { N = 256, T = 12, F = 2 };
    float *x = malloc(N * T * F * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < N; i++)
        for (size_t t = 0; t < T; t++)
            for (size_t f = 0; f < F; f++)
                x[(i * T + t) * F + f] = 0.5f + 0.4f * sinf(0.5f * (float)t + (float)i * 0.37f + (float)f);
    for (int lstm = 0; lstm < 2; lstm++) {
        ae_config c = rnn_config(lstm ? AE_RNN_LSTM : AE_RNN_GRU, T, F, 16, 4);
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        const double before = mean_score(m, x, N);
        ae_train_opts o = ae_train_opts_default();
        o.epochs = 30;
        o.batch_size = 32;
        o.learning_rate = 1e-2f;
        assert_int_equal(ae_train(m, x, N, &o), AE_OK);
        const double after = mean_score(m, x, N);
        assert_true(after < 0.2 * before);
        ae_free(m);
    }
    free(x);
}

/* A classifier head fine-tunes the recurrent encoder (its backward runs before its dW). */
static void test_head_through_rnn_encoder(void **state) {
    (void)state;
    enum { N = 64, T = 5, F = 2 };
    ae_config c = rnn_config(AE_RNN_GRU, T, F, 8, 3);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float x[N * T * F], y[N];
    test_fill(x, N * T * F, 3, 0, 1);
    for (size_t i = 0; i < N; i++) y[i] = x[i * T * F + 3] > 0.5f ? 1.0f : 0.0f; /* step 1's second value */
    assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 2), AE_OK);
    double before, after;
    assert_int_equal(ae_head_evaluate(m, x, N, y, &before, NULL), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 100;
    o.batch_size = 16;
    o.learning_rate = 1e-2f;
    assert_int_equal(ae_head_train(m, x, N, y, 0, &o), AE_OK);
    assert_int_equal(ae_head_evaluate(m, x, N, y, &after, NULL), AE_OK);
    assert_true(after < 0.5 * before);
    ae_free(m);
}

/* What else a user expects works on a recurrent model: denoising with dropout between the
 * layers, a VAE, a checkpoint resumed bit for bit, an anomaly threshold that flags rows the
 * model never saw. */
static void test_everything_else(void **state) {
    (void)state;
    enum { N = 128, T = 8, F = 2 };
    float *x = malloc(N * T * F * sizeof(float)), odd[4 * T * F];
    assert_non_null(x);
    for (size_t i = 0; i < N; i++)
        for (size_t t = 0; t < T; t++)
            for (size_t f = 0; f < F; f++)
                x[(i * T + t) * F + f] = 0.5f + 0.4f * sinf(0.6f * (float)t + (float)i * 0.21f + 1.3f * (float)f);
    test_fill(odd, 4 * T * F, 77, 0.0f, 1.0f); /* noise: not a smooth sequence */
    for (int variant = 0; variant < 2; variant++) {
        ae_config c = rnn_config(variant ? AE_RNN_LSTM : AE_RNN_GRU, T, F, 12, 3);
        c.variational = !variant; /* a GRU VAE, a plain LSTM */
        ae_model *a, *b;
        assert_int_equal(ae_create(&a, &c), AE_OK);
        assert_int_equal(ae_create(&b, &c), AE_OK);
        ae_train_opts o = ae_train_opts_default();
        o.batch_size = 32;
        o.learning_rate = 1e-2f;
        o.noise = AE_NOISE_GAUSSIAN;
        o.noise_level = 0.05f;
        o.dropout = 0.1f;
        o.kl_weight = 0.01f; /* a VAE's: the KL term would otherwise win at this size */
        o.epochs = 20;
        const double before = mean_score(a, x, N);
        assert_int_equal(ae_train(a, x, N, &o), AE_OK);
        const double after = mean_score(a, x, N);
        assert_true(after < 0.5 * before);
        /* the same 20 epochs as 10, a checkpoint, and 10 more resumed: the same bits */
        const char *p = "test_rnn_resume.safetensors";
        o.epochs = 10;
        assert_int_equal(ae_train(b, x, N, &o), AE_OK);
        assert_int_equal(ae_checkpoint_save(b, p), AE_OK);
        ae_free(b);
        assert_int_equal(ae_checkpoint_load(&b, p), AE_OK);
        o.epochs = 20;
        o.resume = 1;
        assert_int_equal(ae_train(b, x, N, &o), AE_OK);
        assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
        remove(p);
        /* the plain model: a threshold on the training rows flags all four noise rows, few
         * training rows */
        assert_int_equal(ae_threshold_calibrate(a, x, N, AE_THRESHOLD_QUANTILE, 0.99, NULL), AE_OK);
        unsigned char flags[N];
        assert_int_equal(ae_flag(a, odd, 4, flags, NULL), AE_OK);
        for (size_t i = 0; !c.variational && i < 4; i++) assert_int_equal(flags[i], 1);
        assert_int_equal(ae_flag(a, x, N, flags, NULL), AE_OK);
        size_t flagged = 0;
        for (size_t i = 0; i < N; i++) flagged += flags[i];
        assert_true(flagged <= 3);
        ae_free(a);
        ae_free(b);
    }
    free(x);
}

static int refuse_above_70mib(size_t bytes, void *user) {
    (void)user;
    return bytes > ((size_t)70 << 20);
}

/* Inference over long sequences takes fewer rows a pass, so that its scratch stays within
 * 64 MiB: 800 steps of a GRU 8 wide need 282 KB of scratch a row, and 256 rows a pass would
 * ask for 72 MB at once. */
static void test_long_sequences_bounded(void **state) {
    (void)state;
    enum { N = 256, T = 800 };
    ae_config c = rnn_config(AE_RNN_GRU, T, 1, 8, 2);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_true(N * ae_layer_scratch(&m->layer[0], 1) * sizeof(float) > ((size_t)70 << 20));
    float *x = malloc(N * T * sizeof(float)), *all = malloc(N * T * sizeof(float)), *one = malloc(T * sizeof(float));
    assert_true(x && all && one);
    test_fill(x, N * T, 4, 0.0f, 1.0f);
    ae_set_alloc_hook(refuse_above_70mib, NULL);
    const int rc = ae_reconstruct(m, x, N, all);
    ae_set_alloc_hook(NULL, NULL);
    assert_int_equal(rc, AE_OK);
    assert_int_equal(ae_reconstruct(m, x + 250 * T, 1, one), AE_OK); /* row 250, past a pass: alike */
    for (size_t t = 0; t < T; t++) assert_close(one[t], all[250 * T + t], 1e-6, 1e-5);
    free(x);
    free(all);
    free(one);
    ae_free(m);
}

/* ae_create refuses c, and ae_last_error holds why. */
static void refused(ae_config c, const char *why) {
    ae_model *m = NULL;
    assert_int_equal(ae_create(&m, &c), AE_EINVAL);
    assert_null(m);
    assert_non_null(strstr(ae_last_error(), why));
}

static void test_refusals(void **state) {
    (void)state;
    const ae_config ok = rnn_config(AE_RNN_GRU, 6, 2, 4, 2);
    ae_config c = ok;
    c.input_dim = 13;
    refused(c, "input_dim");
    c = ok;
    c.n_hidden = 2;
    c.hidden[1] = 3;
    refused(c, "n_hidden 1");
    c = ok;
    c.tied_weights = 1;
    refused(c, "tied");
    c = ok;
    c.batch_norm = 1;
    refused(c, "batch_norm");
    c = ok;
    c.rnn = (ae_rnn_cell)7;
    refused(c, "not a cell");
    c = ok;
    c.rnn = AE_RNN_NONE;
    refused(c, "seq_len");
    c = ok;
    c.n_conv = 1;
    c.input_shape[0] = 1;
    c.input_shape[1] = 3;
    c.input_shape[2] = 4;
    c.conv[0] = (ae_conv_spec){2, 3, 1};
    refused(c, "not both");
    ae_model *m = NULL;
    assert_int_equal(ae_create(&m, &ok), AE_OK);
    float x[4 * 12];
    test_fill(x, 4 * 12, 1, 0, 1);
    assert_int_equal(ae_pretrain_layerwise(m, x, 4, NULL, 1), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "recurrent"));
    ae_export_opts eo = ae_export_opts_default();
    assert_int_equal(ae_export_c(m, "test_rnn_export.h", &eo), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "gru"));
    FILE *f = fopen("test_rnn_export.h", "rb");
    assert_null(f);
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_sequence),
        cmocka_unit_test(test_cells_by_hand),
        cmocka_unit_test(test_model_against_naive_loop),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_chunked_pass_bits),
        cmocka_unit_test(test_threaded_training),
        cmocka_unit_test(test_training_learns),
        cmocka_unit_test(test_head_through_rnn_encoder),
        cmocka_unit_test(test_everything_else),
        cmocka_unit_test(test_long_sequences_bounded),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
