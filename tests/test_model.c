/* The public API end to end: argument checking, full-network gradients against finite
 * differences, convergence, determinism, early stopping and callbacks. */
#include "test_util.h"

#include <string.h>

#include "train.h"

static ae_config small_config(size_t d, size_t h, size_t k) {
    ae_config c = ae_config_default();
    c.input_dim = d;
    c.n_hidden = 1;
    c.hidden[0] = h;
    c.code_dim = k;
    return c;
}

/* ---- argument checking ---- */

static void test_create_rejects_bad_configs(void **state) {
    (void)state;
    ae_model *m = (ae_model *)0x1;
    assert_int_equal(ae_create(NULL, NULL), AE_EINVAL);
    assert_int_equal(ae_create(&m, NULL), AE_EINVAL);
    assert_null(m);
    ae_config c = small_config(8, 4, 2);
    ae_config bad = c;
    bad.input_dim = 0;
    assert_int_equal(ae_create(&m, &bad), AE_EINVAL);
    bad = c;
    bad.code_dim = 0;
    assert_int_equal(ae_create(&m, &bad), AE_EINVAL);
    bad = c;
    bad.hidden[0] = 0;
    assert_int_equal(ae_create(&m, &bad), AE_EINVAL);
    bad = c;
    bad.n_hidden = AE_MAX_HIDDEN + 1;
    assert_int_equal(ae_create(&m, &bad), AE_EINVAL);
    bad = c;
    bad.input_dim = (size_t)-1;
    assert_int_equal(ae_create(&m, &bad), AE_EINVAL);
    bad = c; /* every width allowed, but the product is absurd */
    bad.input_dim = (size_t)1 << 24;
    bad.hidden[0] = (size_t)1 << 24;
    assert_int_equal(ae_create(&m, &bad), AE_EINVAL);
    bad = c;
    bad.hidden_act = (ae_activation)99;
    assert_int_equal(ae_create(&m, &bad), AE_EINVAL);
    bad = c;
    bad.output_act = (ae_activation)-1;
    assert_int_equal(ae_create(&m, &bad), AE_EINVAL);
    bad = c;
    bad.tied_weights = 7;
    assert_int_equal(ae_create(&m, &bad), AE_EINVAL);
    assert_null(m);
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_non_null(m);
    assert_int_equal(ae_input_dim(m), 8);
    assert_int_equal(ae_code_dim(m), 2);
    assert_int_equal(ae_param_count(m), (8 * 4 + 4) + (4 * 2 + 2) + (2 * 4 + 4) + (4 * 8 + 8));
    ae_free(m);
    ae_free(NULL);
    assert_int_equal(ae_input_dim(NULL), 0);
    assert_int_equal(ae_code_dim(NULL), 0);
    assert_int_equal(ae_param_count(NULL), 0);
    assert_int_equal(ae_get_config(NULL, &c), AE_EINVAL);
}

static void test_calls_reject_bad_arguments(void **state) {
    (void)state;
    ae_config c = small_config(6, 4, 2);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float x[12], out[12], code[4], err[2];
    test_fill(x, 12, 1, 0, 1);
    /* NULL model, NULL buffers, zero rows, absurd rows */
    assert_int_equal(ae_encode(NULL, x, 2, code), AE_EINVAL);
    assert_int_equal(ae_encode(m, NULL, 2, code), AE_EINVAL);
    assert_int_equal(ae_encode(m, x, 2, NULL), AE_EINVAL);
    assert_int_equal(ae_encode(m, x, 0, code), AE_EINVAL);
    assert_int_equal(ae_encode(m, x, (size_t)-1, code), AE_EINVAL);
    assert_int_equal(ae_decode(NULL, code, 2, out), AE_EINVAL);
    assert_int_equal(ae_decode(m, NULL, 2, out), AE_EINVAL);
    assert_int_equal(ae_decode(m, code, 0, out), AE_EINVAL);
    assert_int_equal(ae_decode(m, code, 2, NULL), AE_EINVAL);
    assert_int_equal(ae_reconstruct(m, x, 2, NULL), AE_EINVAL);
    assert_int_equal(ae_reconstruct(m, x, 2, x), AE_EINVAL); /* aliasing refused */
    assert_int_equal(ae_reconstruct(NULL, x, 2, out), AE_EINVAL);
    assert_int_equal(ae_reconstruct(m, x, 0, out), AE_EINVAL);
    assert_int_equal(ae_score(m, x, 2, NULL), AE_EINVAL);
    assert_int_equal(ae_score(NULL, x, 2, err), AE_EINVAL);
    assert_int_equal(ae_score(m, NULL, 2, err), AE_EINVAL);
    assert_int_equal(ae_sample(m, 2, out), AE_EINVAL); /* not a VAE */
    assert_int_equal(ae_sample(NULL, 2, out), AE_EINVAL);
    assert_int_equal(ae_train(NULL, x, 2, NULL), AE_EINVAL);
    assert_int_equal(ae_train(m, NULL, 2, NULL), AE_EINVAL);
    assert_int_equal(ae_train(m, x, 0, NULL), AE_EINVAL);
    assert_int_equal(ae_train(m, x, (size_t)-1 / 2, NULL), AE_EINVAL);
    assert_int_equal(ae_save(NULL, "x"), AE_EINVAL);
    assert_int_equal(ae_save(m, NULL), AE_EINVAL);
    assert_int_equal(ae_save(m, ""), AE_EINVAL);
    ae_model *l = (ae_model *)0x1;
    assert_int_equal(ae_load(NULL, "x"), AE_EINVAL);
    assert_int_equal(ae_load(&l, NULL), AE_EINVAL);
    assert_null(l);
    assert_int_equal(ae_data_load(NULL, NULL), AE_EINVAL);
    assert_int_equal(ae_npy_save(NULL, x, 1, 1), AE_EINVAL);
    ae_free(m);
}

static void test_train_rejects_bad_options(void **state) {
    (void)state;
    ae_config c = small_config(6, 4, 2);
    c.output_act = AE_ACT_LINEAR;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float x[12];
    test_fill(x, 12, 1, 0, 1);
    const ae_train_opts d = ae_train_opts_default();
    ae_train_opts o;
#define BAD(field, value)                              \
    o = d;                                             \
    o.field = value;                                   \
    assert_int_equal(ae_train(m, x, 2, &o), AE_EINVAL);
    BAD(epochs, 0);
    BAD(epochs, -3);
    BAD(batch_size, 0);
    BAD(learning_rate, 0.0f);
    BAD(learning_rate, -1.0f);
    BAD(learning_rate, NAN);
    BAD(momentum, 1.0f);
    BAD(beta1, 1.0f);
    BAD(beta2, -0.1f);
    BAD(eps, 0.0f);
    BAD(weight_decay, -1.0f);
    BAD(optimizer, (ae_optimizer)9);
    BAD(loss, (ae_loss)9);
    BAD(loss, AE_LOSS_BCE); /* linear output: BCE needs sigmoid */
    BAD(nesterov, 1);       /* Adam with Nesterov */
    BAD(patience, -1);
    BAD(val_n, 3);          /* val_n without val_x */
    BAD(val_x, x);          /* val_x without val_n */
    BAD(noise, AE_NOISE_GAUSSIAN);
    BAD(dropout, 0.5f);
    BAD(sparsity_weight, 1.0f);
#undef BAD
    ae_free(m);
}

static void test_nonfinite_inputs_refused(void **state) {
    (void)state;
    ae_config c = small_config(6, 4, 2);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float x[12], out[12], code[4], err[2];
    test_fill(x, 12, 1, 0, 1);
    x[7] = NAN;
    assert_int_equal(ae_train(m, x, 2, NULL), AE_ENONFINITE);
    assert_int_equal(ae_encode(m, x, 2, code), AE_ENONFINITE);
    assert_int_equal(ae_reconstruct(m, x, 2, out), AE_ENONFINITE);
    assert_int_equal(ae_score(m, x, 2, err), AE_ENONFINITE);
    x[7] = INFINITY;
    assert_int_equal(ae_train(m, x, 2, NULL), AE_ENONFINITE);
    code[0] = -INFINITY;
    assert_int_equal(ae_decode(m, code, 2, out), AE_ENONFINITE);
    /* validation rows are checked too */
    float good[12];
    test_fill(good, 12, 2, 0, 1);
    ae_train_opts o = ae_train_opts_default();
    o.val_x = x;
    o.val_n = 2;
    assert_int_equal(ae_train(m, good, 2, &o), AE_ENONFINITE);
    ae_free(m);
}

static void test_strerror_names_every_code(void **state) {
    (void)state;
    const int codes[] = {AE_OK, AE_EINVAL, AE_ENOMEM, AE_EIO, AE_EFORMAT, AE_ENONFINITE, AE_EDIVERGED};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = ae_strerror(codes[i]);
        assert_non_null(s);
        for (size_t j = 0; j < i; j++) assert_string_not_equal(s, ae_strerror(codes[j]));
    }
    assert_non_null(ae_strerror(12345));
    assert_string_equal(ae_version(), AE_VERSION_STRING);
}

/* ---- gradients of the whole network ---- */

/* Checks every parameter and every input value of a tiny network against central
 * differences of the loss. */
static void check_network(ae_config c, ae_loss loss) {
    enum { ROWS = 3 };
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    /* Non-zero biases so that no pre-activation sits exactly on a kink. */
    test_fill(m->params, m->n_params, 31, -0.2f, 0.2f);
    for (size_t l = 0; l < m->n_layers; l++)
        if (!m->layer[l].w_transposed)
            for (size_t i = 0; i < m->layer[l].in * m->layer[l].out; i++) m->layer[l].w[i] *= 4.0f;
    const size_t d = c.input_dim;
    float x[ROWS * 8], dx[ROWS * 8];
    test_fill(x, ROWS * d, 32, 0.05f, 0.95f);
    ae_work w;
    assert_int_equal(ae_work_init(&w, m, ROWS), AE_OK);
    ae_pass(m, &w, x, x, ROWS, loss, 1, dx);
    float *grads = malloc(m->n_params * sizeof(float));
    assert_non_null(grads);
    memcpy(grads, m->grads, m->n_params * sizeof(float));
    /* Small enough that no ReLU kink lies within reach of any perturbation here; float
     * round-off at this step is about 1e-5 of a gradient. */
    const float h = 5e-4f;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        float *ps[2] = {L->w_transposed ? NULL : L->w, L->b};
        size_t counts[2] = {L->in * L->out, L->out};
        for (int t = 0; t < 2; t++) {
            if (!ps[t]) continue;
            for (size_t i = 0; i < counts[t]; i++) {
                float *p = ps[t] + i, keep = *p;
                *p = keep + h;
                double up = ae_pass(m, &w, x, x, ROWS, loss, 0, NULL);
                *p = keep - h;
                double down = ae_pass(m, &w, x, x, ROWS, loss, 0, NULL);
                *p = keep;
                double num = (up - down) / (2.0 * h);
                assert_close(grads[p - m->params], num, 2e-4, 2e-2);
            }
        }
    }
    /* The input feeds the loss twice (as input and as target): dx here is the input path
     * only, so the target is held fixed in the difference. */
    float target[ROWS * 8];
    memcpy(target, x, sizeof target);
    for (size_t i = 0; i < ROWS * d; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double up = ae_pass(m, &w, x, target, ROWS, loss, 0, NULL);
        x[i] = keep - h;
        double down = ae_pass(m, &w, x, target, ROWS, loss, 0, NULL);
        x[i] = keep;
        assert_close(dx[i], (up - down) / (2.0 * h), 2e-4, 2e-2);
    }
    free(grads);
    ae_work_free(&w);
    ae_free(m);
}

static void test_network_gradients_all_activations(void **state) {
    (void)state;
    for (int ha = 0; ha <= AE_ACT_TANH; ha++)
        for (int oa = 0; oa <= AE_ACT_TANH; oa++) {
            ae_config c = ae_config_default();
            c.input_dim = 5;
            c.n_hidden = 2;
            c.hidden[0] = 4;
            c.hidden[1] = 3;
            c.code_dim = 2;
            c.hidden_act = (ae_activation)ha;
            c.code_act = (ae_activation)((ha + 2) % 5);
            c.output_act = (ae_activation)oa;
            check_network(c, AE_LOSS_MSE);
            if (oa == AE_ACT_SIGMOID) check_network(c, AE_LOSS_BCE);
        }
}

static void test_network_gradients_tied_and_no_hidden(void **state) {
    (void)state;
    ae_config c = small_config(6, 4, 3);
    c.hidden_act = AE_ACT_TANH;
    c.tied_weights = 1;
    check_network(c, AE_LOSS_MSE);
    check_network(c, AE_LOSS_BCE);
    c.hidden_act = AE_ACT_LEAKY_RELU;
    check_network(c, AE_LOSS_MSE);
    ae_config flat = ae_config_default(); /* no hidden layer: d -> k -> d */
    flat.input_dim = 7;
    flat.code_dim = 3;
    flat.code_act = AE_ACT_SIGMOID;
    check_network(flat, AE_LOSS_MSE);
    flat.tied_weights = 1;
    check_network(flat, AE_LOSS_BCE);
}

/* ---- training ---- */

/* Rank-3 data in [0,1]^16: x = sigmoid-free mixture 0.5 + 0.15 * (a u + b v + c w). */
static float *low_rank_data(size_t n, size_t d, uint32_t seed) {
    float *x = malloc(n * d * sizeof(float)), basis[3 * 16];
    assert_non_null(x);
    test_fill(basis, 3 * d, seed, -1, 1);
    uint32_t s = seed + 1;
    for (size_t i = 0; i < n; i++) {
        float a = test_uniform(&s, -1, 1), b = test_uniform(&s, -1, 1), c = test_uniform(&s, -1, 1);
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = 0.5f + 0.15f * (a * basis[j] + b * basis[d + j] + c * basis[2 * d + j]);
    }
    return x;
}

typedef struct history {
    int calls;
    double first, last;
    int stop_after;
} history;

static int record(const ae_epoch_stats *s, void *user) {
    history *h = user;
    h->calls++;
    assert_int_equal(s->epoch, h->calls);
    assert_true(s->samples > 0 && s->seconds >= 0.0);
    if (h->calls == 1) h->first = s->train_loss;
    h->last = s->train_loss;
    return h->stop_after && h->calls >= h->stop_after;
}

static void test_training_converges_on_low_rank_data(void **state) {
    (void)state;
    const size_t n = 1000, d = 16;
    float *x = low_rank_data(n, d, 41);
    ae_config c = small_config(d, 12, 3);
    c.output_act = AE_ACT_LINEAR;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *err = malloc(n * sizeof(float));
    assert_non_null(err);
    assert_int_equal(ae_score(m, x, n, err), AE_OK);
    double before = 0;
    for (size_t i = 0; i < n; i++) before += err[i];
    before /= (double)n;
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 100;
    o.batch_size = 32;
    o.learning_rate = 1e-2f;
    history h = {0, 0, 0, 0};
    o.on_epoch = record;
    o.user = &h;
    assert_int_equal(ae_train(m, x, n, &o), AE_OK);
    assert_int_equal(h.calls, 100);
    assert_true(h.last < h.first);
    assert_int_equal(ae_score(m, x, n, err), AE_OK);
    double after = 0;
    for (size_t i = 0; i < n; i++) after += err[i];
    after /= (double)n;
    /* Predicting each column's mean scores the data's variance; a rank-3 code must explain
     * nearly all of it. */
    double var = 0;
    for (size_t j = 0; j < d; j++) {
        double mean = 0, sq = 0;
        for (size_t i = 0; i < n; i++) mean += x[i * d + j];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) sq += (x[i * d + j] - mean) * (x[i * d + j] - mean);
        var += sq / (double)n;
    }
    var /= (double)d;
    assert_true(after < 0.01 * var);
    assert_true(after < before / 100);
    free(err);
    free(x);
    ae_free(m);
}

static void test_every_optimizer_reduces_loss(void **state) {
    (void)state;
    const size_t n = 300, d = 16;
    float *x = low_rank_data(n, d, 43);
    const ae_optimizer kinds[] = {AE_OPT_SGD, AE_OPT_SGD, AE_OPT_SGD, AE_OPT_ADAM, AE_OPT_ADAMW};
    const float moms[] = {0.0f, 0.9f, 0.9f, 0.0f, 0.0f};
    const int nest[] = {0, 0, 1, 0, 0};
    for (int k = 0; k < 5; k++) {
        ae_config c = small_config(d, 8, 3);
        c.hidden_act = AE_ACT_TANH;
        c.output_act = AE_ACT_LINEAR;
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        ae_train_opts o = ae_train_opts_default();
        o.epochs = 15;
        o.batch_size = 16;
        o.optimizer = kinds[k];
        o.learning_rate = kinds[k] == AE_OPT_SGD ? 0.05f : 3e-3f;
        o.momentum = moms[k];
        o.nesterov = nest[k];
        o.weight_decay = kinds[k] == AE_OPT_ADAMW ? 1e-2f : 0.0f;
        history h = {0, 0, 0, 0};
        o.on_epoch = record;
        o.user = &h;
        assert_int_equal(ae_train(m, x, n, &o), AE_OK);
        assert_true(h.last < 0.7 * h.first);
        ae_free(m);
    }
    free(x);
}

static void test_same_seed_is_bitwise_reproducible(void **state) {
    (void)state;
    const size_t n = 200, d = 16;
    float *x = low_rank_data(n, d, 44);
    float code[2][200 * 3];
    for (int r = 0; r < 2; r++) {
        ae_config c = small_config(d, 8, 3);
        c.seed = 1234;
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        ae_train_opts o = ae_train_opts_default();
        o.epochs = 3;
        o.batch_size = 30; /* 200 = 6 * 30 + 20: the last partial batch is used */
        assert_int_equal(ae_train(m, x, n, &o), AE_OK);
        assert_int_equal(ae_encode(m, x, n, code[r]), AE_OK);
        ae_free(m);
    }
    assert_memory_equal(code[0], code[1], sizeof code[0]);
    free(x);
}

static void test_unshuffled_training_visits_rows_in_order(void **state) {
    (void)state;
    /* Without shuffling, one epoch of full-batch SGD equals one manual step on all rows. */
    const size_t n = 50, d = 16;
    float *x = low_rank_data(n, d, 45);
    ae_config c = small_config(d, 8, 3);
    ae_model *a, *b;
    assert_int_equal(ae_create(&a, &c), AE_OK);
    assert_int_equal(ae_create(&b, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    o.batch_size = 20; /* batches 20, 20, 10 */
    o.shuffle = 0;
    o.optimizer = AE_OPT_SGD;
    o.learning_rate = 0.1f;
    assert_int_equal(ae_train(a, x, n, &o), AE_OK);
    ae_work w;
    assert_int_equal(ae_work_init(&w, b, 20), AE_OK);
    for (size_t r0 = 0; r0 < n; r0 += 20) {
        size_t rows = n - r0 < 20 ? n - r0 : 20;
        ae_pass(b, &w, x + r0 * d, x + r0 * d, rows, AE_LOSS_MSE, 1, NULL);
        for (size_t i = 0; i < b->n_params; i++) b->params[i] -= 0.1f * b->grads[i];
    }
    ae_work_free(&w);
    for (size_t i = 0; i < a->n_params; i++) assert_close(a->params[i], b->params[i], 1e-6, 1e-5);
    ae_free(a);
    ae_free(b);
    free(x);
}

static void test_callback_stops_training(void **state) {
    (void)state;
    const size_t n = 100, d = 16;
    float *x = low_rank_data(n, d, 46);
    ae_config c = small_config(d, 8, 3);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 50;
    history h = {0, 0, 0, 3};
    o.on_epoch = record;
    o.user = &h;
    assert_int_equal(ae_train(m, x, n, &o), AE_OK);
    assert_int_equal(h.calls, 3);
    ae_free(m);
    free(x);
}

typedef struct val_log {
    int calls;
    double val[100];
} val_log;

static int log_val(const ae_epoch_stats *s, void *user) {
    val_log *v = user;
    v->val[v->calls++] = s->val_loss;
    return 0;
}

static void test_validation_and_early_stopping_restore_best(void **state) {
    (void)state;
    const size_t n = 40, d = 16;
    /* Few, noisy training rows and separate validation rows: a big network overfits, the
     * validation loss turns up, and early stopping must restore the best epoch's weights. */
    float *x = low_rank_data(n, d, 47), *v = low_rank_data(200, d, 48);
    uint32_t s = 5;
    for (size_t i = 0; i < n * d; i++) x[i] += test_uniform(&s, -0.2f, 0.2f);
    ae_config c = small_config(d, 64, 12);
    c.output_act = AE_ACT_LINEAR;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 100;
    o.batch_size = 8;
    o.learning_rate = 1e-2f;
    o.val_x = v;
    o.val_n = 200;
    o.patience = 3;
    val_log lg;
    lg.calls = 0;
    o.on_epoch = log_val;
    o.user = &lg;
    assert_int_equal(ae_train(m, x, n, &o), AE_OK);
    assert_true(lg.calls >= 4 && lg.calls < 100); /* it stopped early */
    double best = INFINITY;
    for (int i = 0; i < lg.calls; i++) {
        assert_true(isfinite(lg.val[i]));
        if (lg.val[i] < best) best = lg.val[i];
    }
    /* The last three epochs did not improve on the best... */
    for (int i = lg.calls - 3; i < lg.calls; i++) assert_true(lg.val[i] >= best);
    /* ...and the model now holds the best epoch's weights. */
    float *err = malloc(200 * sizeof(float));
    assert_non_null(err);
    assert_int_equal(ae_score(m, v, 200, err), AE_OK);
    double mean = 0;
    for (int i = 0; i < 200; i++) mean += err[i];
    assert_close(mean / 200, best, 1e-6, 1e-4);
    free(err);
    free(x);
    free(v);
    ae_free(m);
}

static void test_divergence_is_reported(void **state) {
    (void)state;
    const size_t n = 64, d = 16;
    float *x = low_rank_data(n, d, 49);
    ae_config c = small_config(d, 8, 3);
    c.hidden_act = AE_ACT_LINEAR;
    c.output_act = AE_ACT_LINEAR;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.optimizer = AE_OPT_SGD;
    o.learning_rate = 1e6f;
    o.epochs = 50;
    assert_int_equal(ae_train(m, x, n, &o), AE_EDIVERGED);
    ae_free(m);
    free(x);
}

static void test_encode_decode_reconstruct_agree(void **state) {
    (void)state;
    const size_t n = 300, d = 16; /* more than one inference chunk of 256 rows */
    float *x = low_rank_data(n, d, 50);
    ae_config c = small_config(d, 8, 3);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *code = malloc(n * 3 * sizeof(float)), *out = malloc(n * d * sizeof(float)),
          *rec = malloc(n * d * sizeof(float)), *err = malloc(n * sizeof(float));
    assert_true(code && out && rec && err);
    assert_int_equal(ae_encode(m, x, n, code), AE_OK);
    assert_int_equal(ae_decode(m, code, n, out), AE_OK);
    assert_int_equal(ae_reconstruct(m, x, n, rec), AE_OK);
    assert_int_equal(ae_score(m, x, n, err), AE_OK);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            assert_close(rec[i * d + j], out[i * d + j], 1e-6, 1e-6);
            s += (double)(rec[i * d + j] - x[i * d + j]) * (rec[i * d + j] - x[i * d + j]);
        }
        assert_close(err[i], s / d, 1e-7, 1e-5);
    }
    /* Row i of a batch does not depend on the other rows. */
    float one[16];
    assert_int_equal(ae_reconstruct(m, x + 299 * d, 1, one), AE_OK);
    for (size_t j = 0; j < d; j++) assert_close(one[j], rec[299 * d + j], 1e-6, 1e-5);
    free(code);
    free(out);
    free(rec);
    free(err);
    free(x);
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rejects_bad_configs),
        cmocka_unit_test(test_calls_reject_bad_arguments),
        cmocka_unit_test(test_train_rejects_bad_options),
        cmocka_unit_test(test_nonfinite_inputs_refused),
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_network_gradients_all_activations),
        cmocka_unit_test(test_network_gradients_tied_and_no_hidden),
        cmocka_unit_test(test_training_converges_on_low_rank_data),
        cmocka_unit_test(test_every_optimizer_reduces_loss),
        cmocka_unit_test(test_same_seed_is_bitwise_reproducible),
        cmocka_unit_test(test_unshuffled_training_visits_rows_in_order),
        cmocka_unit_test(test_callback_stops_training),
        cmocka_unit_test(test_validation_and_early_stopping_restore_best),
        cmocka_unit_test(test_divergence_is_reported),
        cmocka_unit_test(test_encode_decode_reconstruct_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
