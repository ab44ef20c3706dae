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
    assert_int_equal(ae_sample(m, 0, out), AE_EINVAL);
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
#define BAD(field, value) \
    o = d; \
    o.field = value; \
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
    BAD(nesterov, 1); /* Adam with Nesterov */
    BAD(patience, -1);
    BAD(val_n, 3); /* val_n without val_x */
    BAD(val_x, x); /* val_x without val_n */
    BAD(noise, (ae_noise)7);
    BAD(dropout, 1.0f);
    BAD(dropout, -0.1f);
    BAD(sparsity_weight, -1.0f);
    BAD(kl_weight, NAN);
    o = d;
    o.noise = AE_NOISE_GAUSSIAN;
    o.noise_level = -0.3f;
    assert_int_equal(ae_train(m, x, 2, &o), AE_EINVAL);
    o.noise = AE_NOISE_MASK;
    o.noise_level = 1.0f;
    assert_int_equal(ae_train(m, x, 2, &o), AE_EINVAL);
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

static ae_pass_cfg plain(ae_loss loss) {
    ae_pass_cfg p;
    memset(&p, 0, sizeof p);
    p.loss = loss;
    p.train = 1;
    p.sparsity_target = 0.05f;
    p.kl_weight = 1.0f;
    return p;
}

/* Checks every parameter and every input value of a tiny network against central
 * differences of the loss. The RNG is rewound before every pass, so noise, dropout masks
 * and a VAE's draws are the same in each. */
static void check_network_with(ae_config c, ae_pass_cfg pc) {
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
    assert_int_equal(ae_work_init(&w, m, ROWS, &pc), AE_OK);
    const ae_rng start = m->rng;
    memset(dx, 0, sizeof dx);
    ae_pass(m, &w, x, x, ROWS, &pc, 1, dx, NULL);
    float *grads = malloc(m->n_params * sizeof(float));
    assert_non_null(grads);
    memcpy(grads, m->grads, m->n_params * sizeof(float));
    /* Small enough that no ReLU kink lies within reach of any perturbation here; float
     * round-off at this step is about 1e-5 of a gradient. */
    const float h = 5e-4f;
    size_t checked = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        float *ps[2] = {L->w_transposed ? NULL : L->w, L->b};
        size_t counts[2] = {L->in * L->out, L->out};
        for (int t = 0; t < 2; t++) {
            if (!ps[t]) continue;
            for (size_t i = 0; i < counts[t]; i++) {
                float *p = ps[t] + i, keep = *p;
                *p = keep + h;
                m->rng = start;
                double up = ae_pass(m, &w, x, x, ROWS, &pc, 0, NULL, NULL);
                *p = keep - h;
                m->rng = start;
                double down = ae_pass(m, &w, x, x, ROWS, &pc, 0, NULL, NULL);
                *p = keep;
                double num = (up - down) / (2.0 * h);
                assert_close(grads[p - m->params], num, 2e-4, 2e-2);
                checked++;
            }
        }
    }
    assert_int_equal(checked, ae_param_count(m));
    if (pc.noise != AE_NOISE_NONE) { /* no input gradient through the noise */
        free(grads);
        ae_work_free(&w);
        ae_free(m);
        return;
    }
    /* The input feeds the loss twice (as input and as target): dx here is the input path
     * only, so the target is held fixed in the difference. */
    float target[ROWS * 8];
    memcpy(target, x, sizeof target);
    for (size_t i = 0; i < ROWS * d; i++) {
        float keep = x[i];
        x[i] = keep + h;
        m->rng = start;
        double up = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
        x[i] = keep - h;
        m->rng = start;
        double down = ae_pass(m, &w, x, target, ROWS, &pc, 0, NULL, NULL);
        x[i] = keep;
        assert_close(dx[i], (up - down) / (2.0 * h), 2e-4, 2e-2);
    }
    free(grads);
    ae_work_free(&w);
    ae_free(m);
}

static void check_network(ae_config c, ae_loss loss) { check_network_with(c, plain(loss)); }

static void test_network_gradients_all_activations(void **state) {
    (void)state;
    for (int ha = 0; ha <= AE_ACT_SOFTPLUS; ha++)
        for (int oa = 0; oa <= AE_ACT_SOFTPLUS; oa++) {
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
    float *x = test_low_rank_rows(n, d, 41);
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
    float *x = test_low_rank_rows(n, d, 43);
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
    float *x = test_low_rank_rows(n, d, 44);
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
    float *x = test_low_rank_rows(n, d, 45);
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
    ae_pass_cfg pc = plain(AE_LOSS_MSE);
    assert_int_equal(ae_work_init(&w, b, 20, &pc), AE_OK);
    for (size_t r0 = 0; r0 < n; r0 += 20) {
        size_t rows = n - r0 < 20 ? n - r0 : 20;
        ae_pass(b, &w, x + r0 * d, x + r0 * d, rows, &pc, 1, NULL, NULL);
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
    float *x = test_low_rank_rows(n, d, 46);
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
    float *x = test_low_rank_rows(n, d, 47), *v = test_low_rank_rows(200, d, 48);
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

typedef struct diverge_log {
    int calls, diverged, epoch;
    size_t step;
} diverge_log;

static int log_divergence(const ae_epoch_stats *s, void *user) {
    diverge_log *d = user;
    d->calls++;
    if (s->diverged) {
        d->diverged = 1;
        d->epoch = s->epoch;
        d->step = s->step;
    }
    return 0;
}

static void test_divergence_restores_finite_weights(void **state) {
    (void)state;
    const size_t n = 64, d = 16;
    float *x = test_low_rank_rows(n, d, 49);
    ae_config c = small_config(d, 8, 3);
    c.hidden_act = AE_ACT_LINEAR;
    c.output_act = AE_ACT_LINEAR;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 3;
    o.batch_size = 8;
    o.learning_rate = 1e-3f; /* one calm epoch first */
    assert_int_equal(ae_train(m, x, n, &o), AE_OK);
    float *start = malloc(m->n_params * sizeof(float));
    assert_non_null(start);
    memcpy(start, m->params, m->n_params * sizeof(float));
    o.optimizer = AE_OPT_SGD;
    o.learning_rate = 1e6f;
    o.epochs = 50;
    diverge_log lg = {0, 0, 0, 0};
    o.on_epoch = log_divergence;
    o.user = &lg;
    assert_int_equal(ae_train(m, x, n, &o), AE_EDIVERGED);
    assert_true(lg.diverged);
    assert_true(lg.epoch >= 1 && lg.step >= 1 && lg.step <= n / 8);
    assert_true(ae_all_finite(m->params, m->n_params));
    if (lg.epoch == 1) assert_memory_equal(m->params, start, m->n_params * sizeof(float));
    float err[64];
    assert_int_equal(ae_score(m, x, n, err), AE_OK); /* still usable */
    free(start);
    ae_free(m);
    free(x);
}

static void test_gradient_clipping_bounds_the_step(void **state) {
    (void)state;
    const size_t n = 32, d = 16;
    float *x = test_low_rank_rows(n, d, 52);
    double moved[2];
    for (int clip = 0; clip < 2; clip++) {
        ae_config c = small_config(d, 8, 3);
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        float *before = malloc(m->n_params * sizeof(float));
        assert_non_null(before);
        memcpy(before, m->params, m->n_params * sizeof(float));
        ae_train_opts o = ae_train_opts_default();
        o.optimizer = AE_OPT_SGD; /* one full-batch step: p -= lr g */
        o.learning_rate = 1.0f;
        o.epochs = 1;
        o.batch_size = n;
        o.clip_norm = clip ? 1e-3f : 0.0f;
        assert_int_equal(ae_train(m, x, n, &o), AE_OK);
        double sq = 0;
        for (size_t i = 0; i < m->n_params; i++) sq += ((double)m->params[i] - before[i]) * (m->params[i] - before[i]);
        moved[clip] = sqrt(sq);
        free(before);
        ae_free(m);
    }
    assert_true(moved[0] > 2e-3); /* unclipped, the gradient is longer */
    assert_close(moved[1], 1e-3, 1e-7, 1e-3); /* clipped to exactly the norm */
    ae_config c = small_config(d, 8, 3);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.clip_norm = -1.0f;
    assert_int_equal(ae_train(m, x, n, &o), AE_EINVAL);
    o.clip_norm = NAN;
    assert_int_equal(ae_train(m, x, n, &o), AE_EINVAL);
    ae_free(m);
    free(x);
}

static void test_encode_decode_reconstruct_agree(void **state) {
    (void)state;
    const size_t n = 300, d = 16; /* more than one inference chunk of 256 rows */
    float *x = test_low_rank_rows(n, d, 50);
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

/* ---- variants: denoising, dropout, sparsity, tied, variational ---- */

static ae_config deep_config(void) {
    ae_config c = ae_config_default();
    c.input_dim = 6;
    c.n_hidden = 2;
    c.hidden[0] = 5;
    c.hidden[1] = 4;
    c.code_dim = 3;
    return c;
}

static void test_variant_gradients_each_option(void **state) {
    (void)state;
    ae_config c = deep_config();
    ae_pass_cfg p = plain(AE_LOSS_MSE);
    p.dropout = 0.3f; /* dropout alone, ReLU and tanh hidden layers */
    check_network_with(c, p);
    c.hidden_act = AE_ACT_TANH;
    check_network_with(c, p);
    p = plain(AE_LOSS_BCE); /* Gaussian noise alone, clipped before the sigmoid output */
    p.noise = AE_NOISE_GAUSSIAN;
    p.noise_level = 0.3f;
    check_network_with(c, p);
    p.noise = AE_NOISE_MASK; /* masking noise alone */
    p.noise_level = 0.4f;
    check_network_with(c, p);
    c = deep_config(); /* KL sparsity on a sigmoid code */
    c.code_act = AE_ACT_SIGMOID;
    p = plain(AE_LOSS_MSE);
    p.sparsity_weight = 0.5f;
    p.sparsity_target = 0.1f;
    check_network_with(c, p);
    c.code_act = AE_ACT_TANH; /* L1 activity penalty on another code */
    check_network_with(c, p);
    c = deep_config(); /* VAE with MSE and BCE, and a KL weight other than 1 */
    c.variational = 1;
    check_network_with(c, plain(AE_LOSS_MSE));
    check_network_with(c, plain(AE_LOSS_BCE));
    p = plain(AE_LOSS_BCE);
    p.kl_weight = 0.25f;
    check_network_with(c, p);
}

static void test_variant_gradients_combined(void **state) {
    (void)state;
    ae_config c = deep_config();
    c.tied_weights = 1;
    c.code_act = AE_ACT_SIGMOID;
    c.hidden_act = AE_ACT_LEAKY_RELU;
    ae_pass_cfg p = plain(AE_LOSS_BCE);
    p.dropout = 0.25f;
    p.noise = AE_NOISE_GAUSSIAN;
    p.noise_level = 0.2f;
    p.sparsity_weight = 0.3f;
    p.sparsity_target = 0.2f;
    check_network_with(c, p);
    c = deep_config();
    c.variational = 1;
    c.hidden_act = AE_ACT_TANH;
    p = plain(AE_LOSS_MSE);
    p.dropout = 0.2f;
    p.noise = AE_NOISE_MASK;
    p.noise_level = 0.3f;
    check_network_with(c, p);
}

static double mean_score(const ae_model *m, const float *x, size_t n) {
    float *err = malloc(n * sizeof(float));
    assert_non_null(err);
    assert_int_equal(ae_score(m, x, n, err), AE_OK);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += err[i];
    free(err);
    return s / (double)n;
}

static void test_dropout_changes_nothing_at_inference(void **state) {
    (void)state;
    const size_t n = 200, d = 16;
    float *x = test_low_rank_rows(n, d, 60);
    ae_config c = small_config(d, 32, 4);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 3;
    o.dropout = 0.5f;
    assert_int_equal(ae_train(m, x, n, &o), AE_OK);
    /* Inference is deterministic and equals a pass with dropout off. */
    float *r1 = malloc(n * d * sizeof(float)), *r2 = malloc(n * d * sizeof(float));
    assert_true(r1 && r2);
    assert_int_equal(ae_reconstruct(m, x, n, r1), AE_OK);
    assert_int_equal(ae_reconstruct(m, x, n, r2), AE_OK);
    assert_memory_equal(r1, r2, n * d * sizeof(float));
    ae_pass_cfg p = plain(AE_LOSS_MSE);
    p.train = 0;
    p.dropout = 0.5f;
    ae_work w;
    assert_int_equal(ae_work_init(&w, m, n, &p), AE_OK);
    double inference = ae_pass(m, &w, x, x, n, &p, 0, NULL, NULL);
    assert_close(inference, mean_score(m, x, n), 1e-7, 1e-5);
    ae_work_free(&w);
    /* In training the masks do change the output. */
    p.train = 1;
    assert_int_equal(ae_work_init(&w, m, n, &p), AE_OK);
    double training = ae_pass(m, &w, x, x, n, &p, 0, NULL, NULL);
    assert_true(fabs(training - inference) > 1e-6);
    ae_work_free(&w);
    free(r1);
    free(r2);
    free(x);
    ae_free(m);
}

static void test_same_seed_same_corruption(void **state) {
    (void)state;
    const size_t n = 100, d = 16;
    float *x = test_low_rank_rows(n, d, 61);
    const ae_noise kinds[2] = {AE_NOISE_GAUSSIAN, AE_NOISE_MASK};
    for (int k = 0; k < 2; k++) {
        ae_config c = small_config(d, 8, 3);
        ae_model *a, *b, *clean;
        assert_int_equal(ae_create(&a, &c), AE_OK);
        assert_int_equal(ae_create(&b, &c), AE_OK);
        assert_int_equal(ae_create(&clean, &c), AE_OK);
        ae_train_opts o = ae_train_opts_default();
        o.epochs = 2;
        assert_int_equal(ae_train(clean, x, n, &o), AE_OK);
        o.noise = kinds[k];
        o.noise_level = 0.3f;
        assert_int_equal(ae_train(a, x, n, &o), AE_OK);
        assert_int_equal(ae_train(b, x, n, &o), AE_OK);
        assert_memory_equal(a->params, b->params, a->n_params * sizeof(float)); /* same seed */
        assert_memory_not_equal(a->params, clean->params, a->n_params * sizeof(float));
        /* Rewound, the generator corrupts identically; run on, it corrupts differently. */
        ae_pass_cfg p = plain(AE_LOSS_MSE);
        p.noise = kinds[k];
        p.noise_level = 0.3f;
        ae_work w;
        assert_int_equal(ae_work_init(&w, a, n, &p), AE_OK);
        ae_rng start = a->rng;
        double l1 = ae_pass(a, &w, x, x, n, &p, 0, NULL, NULL);
        a->rng = start;
        double l2 = ae_pass(a, &w, x, x, n, &p, 0, NULL, NULL);
        double l3 = ae_pass(a, &w, x, x, n, &p, 0, NULL, NULL);
        assert_true(l1 == l2);
        assert_true(l1 != l3);
        ae_work_free(&w);
        ae_free(a);
        ae_free(b);
        ae_free(clean);
    }
    free(x);
}

static void test_sparsity_reaches_target(void **state) {
    (void)state;
    const size_t n = 1000, d = 16, k = 8;
    float *x = test_low_rank_rows(n, d, 62);
    ae_config c = small_config(d, 16, k);
    c.code_act = AE_ACT_SIGMOID;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 30;
    o.batch_size = 64;
    o.learning_rate = 3e-3f;
    o.sparsity_target = 0.05f;
    o.sparsity_weight = 1.0f;
    assert_int_equal(ae_train(m, x, n, &o), AE_OK);
    float *code = malloc(n * k * sizeof(float));
    assert_non_null(code);
    assert_int_equal(ae_encode(m, x, n, code), AE_OK);
    double mean = 0;
    for (size_t i = 0; i < n * k; i++) mean += code[i];
    mean /= (double)(n * k);
    assert_close(mean, 0.05, 0.02, 0);
    free(code);
    free(x);
    ae_free(m);
}

typedef struct vae_log {
    int calls;
    double first, last, kl;
} vae_log;

static int log_vae(const ae_epoch_stats *s, void *user) {
    vae_log *v = user;
    if (v->calls++ == 0) v->first = s->train_loss;
    v->last = s->train_loss;
    v->kl = s->train_kl;
    assert_close(s->train_loss, s->train_recon + s->train_kl + s->train_sparsity, 1e-12, 1e-9);
    assert_true(isfinite(s->train_kl) && s->train_kl > 0.0);
    return 0;
}

static void test_vae_trains_and_samples_in_range(void **state) {
    (void)state;
    const size_t n = 500, d = 16, k = 2;
    float *x = test_low_rank_rows(n, d, 63);
    ae_config c = small_config(d, 32, k);
    c.variational = 1;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 20;
    o.batch_size = 32;
    o.loss = AE_LOSS_BCE;
    vae_log lg = {0, 0, 0, 0};
    o.on_epoch = log_vae;
    o.user = &lg;
    assert_int_equal(ae_train(m, x, n, &o), AE_OK);
    assert_true(lg.last < lg.first);
    assert_true(lg.kl > 0.0);
    float s[50 * 16], code[4 * 2], dec[4 * 16];
    assert_int_equal(ae_sample(m, 50, s), AE_OK);
    for (int i = 0; i < 50 * 16; i++) assert_true(isfinite(s[i]) && s[i] >= 0.0f && s[i] <= 1.0f);
    /* ae_encode returns mu: deterministic, and decode of any code works. */
    float code2[4 * 2];
    assert_int_equal(ae_encode(m, x, 4, code), AE_OK);
    assert_int_equal(ae_encode(m, x, 4, code2), AE_OK);
    assert_memory_equal(code, code2, sizeof code);
    assert_close(code[0], m->layer[m->n_enc - 1].b[0] + 0.0, 1e3, 0); /* finite */
    const float far[4 * 2] = {5, -5, 0, 0, -3, 3, 0.1f, 0.2f};
    assert_int_equal(ae_decode(m, far, 4, dec), AE_OK);
    for (int i = 0; i < 4 * 16; i++) assert_true(isfinite(dec[i]));
    /* The code of a reconstruction is mu, not a sample: reconstruct = decode(encode). */
    float rec[4 * 16];
    assert_int_equal(ae_decode(m, code, 4, dec), AE_OK);
    assert_int_equal(ae_reconstruct(m, x, 4, rec), AE_OK);
    assert_memory_equal(dec, rec, sizeof rec);
    free(x);
    ae_free(m);
}

static void test_variant_configs_checked(void **state) {
    (void)state;
    ae_config c = deep_config();
    ae_model *m = NULL;
    c.variational = 1;
    c.code_act = AE_ACT_SIGMOID; /* VAE heads are linear */
    assert_int_equal(ae_create(&m, &c), AE_EINVAL);
    c.code_act = AE_ACT_LINEAR;
    c.tied_weights = 1;
    assert_int_equal(ae_create(&m, &c), AE_EINVAL);
    c.tied_weights = 0;
    c.variational = 2;
    assert_int_equal(ae_create(&m, &c), AE_EINVAL);
    c.variational = 1;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(ae_param_count(m),
                     (6 * 5 + 5) + (5 * 4 + 4) + (4 * 6 + 6) + (3 * 4 + 4) + (4 * 5 + 5) + (5 * 6 + 6));
    float x[12];
    test_fill(x, 12, 3, 0, 1);
    ae_train_opts o = ae_train_opts_default();
    o.sparsity_weight = 1.0f; /* no sparsity on a VAE's sampled code */
    assert_int_equal(ae_train(m, x, 2, &o), AE_EINVAL);
    ae_free(m);
    c = deep_config();
    c.code_act = AE_ACT_SIGMOID;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    o.sparsity_target = 0.0f; /* KL needs a target inside (0, 1) */
    assert_int_equal(ae_train(m, x, 2, &o), AE_EINVAL);
    o.sparsity_target = 1.0f;
    assert_int_equal(ae_train(m, x, 2, &o), AE_EINVAL);
    float out[6];
    assert_int_equal(ae_sample(m, 1, out), AE_EINVAL); /* not a VAE */
    ae_free(m);
}

/* ---- no allocation per training step ---- */

static int count_alloc(size_t bytes, void *user) {
    (void)bytes;
    ++*(size_t *)user;
    return 0; /* let it succeed */
}

typedef struct alloc_log {
    size_t *counter;
    size_t at_epoch[8];
    int epochs;
} alloc_log;

static int log_allocs(const ae_epoch_stats *s, void *user) {
    alloc_log *a = user;
    a->at_epoch[a->epochs++] = *a->counter;
    (void)s;
    return 0;
}

/* Allocations made by one ae_train call of the given size, with every option that needs a
 * buffer switched on; per-epoch counts go to log. */
static size_t allocs_of_training(ae_config c, size_t n, int epochs, alloc_log *log) {
    const size_t d = c.input_dim;
    float *x = test_low_rank_rows(n, d, 70), *v = test_low_rank_rows(50, d, 71);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = epochs;
    o.batch_size = 16;
    o.dropout = 0.2f;
    o.noise = AE_NOISE_GAUSSIAN;
    o.noise_level = 0.1f;
    o.val_x = v;
    o.val_n = 50;
    o.patience = 100;
    o.on_epoch = log_allocs;
    o.user = log;
    size_t count = 0;
    log->counter = &count;
    log->epochs = 0;
    ae_set_alloc_hook(count_alloc, &count);
    int rc = ae_train(m, x, n, &o);
    ae_set_alloc_hook(NULL, NULL);
    assert_int_equal(rc, AE_OK);
    free(x);
    free(v);
    ae_free(m);
    return count;
}

static void test_no_allocation_per_step(void **state) {
    (void)state;
    ae_config c = small_config(16, 8, 3);
    for (int vae = 0; vae < 2; vae++) {
        c.variational = vae;
        alloc_log one, many;
        size_t a1 = allocs_of_training(c, 64, 1, &one); /* 4 steps */
        size_t a5 = allocs_of_training(c, 640, 5, &many); /* 200 steps */
        assert_true(a1 > 0); /* the hook does see the workspace being made */
        assert_int_equal(a1, a5); /* ...and nothing more for 50 times the steps */
        assert_int_equal(many.epochs, 5);
        for (int e = 0; e < 5; e++) assert_int_equal(many.at_epoch[e], a5); /* all made up front */
    }
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
        cmocka_unit_test(test_divergence_restores_finite_weights),
        cmocka_unit_test(test_gradient_clipping_bounds_the_step),
        cmocka_unit_test(test_encode_decode_reconstruct_agree),
        cmocka_unit_test(test_variant_gradients_each_option),
        cmocka_unit_test(test_variant_gradients_combined),
        cmocka_unit_test(test_dropout_changes_nothing_at_inference),
        cmocka_unit_test(test_same_seed_same_corruption),
        cmocka_unit_test(test_sparsity_reaches_target),
        cmocka_unit_test(test_vae_trains_and_samples_in_range),
        cmocka_unit_test(test_variant_configs_checked),
        cmocka_unit_test(test_no_allocation_per_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
