/* The supervised head: gradients of the softmax cross-entropy and linear MSE heads against
 * finite differences (frozen and fine-tuned encoder paths, tied and VAE encoders), training
 * to high accuracy on a separable set, what freezing leaves untouched, save/load, and
 * argument checking. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "test_util.h"

#include <string.h>
#include <unistd.h>

#include "head.h"

#define ROWS 6

static ae_config config(size_t d, size_t h, size_t k, ae_activation hidden, ae_activation code) {
    ae_config c = ae_config_default();
    c.input_dim = d;
    c.n_hidden = 1;
    c.hidden[0] = h;
    c.code_dim = k;
    c.hidden_act = hidden;
    c.code_act = code;
    return c;
}

/* Targets for rows: class indices for SOFTMAX, values in [-1, 1] for LINEAR. */
static void fill_targets(const ae_model *m, float *y, size_t rows, uint32_t seed) {
    if (m->head.kind == AE_HEAD_SOFTMAX) {
        for (size_t i = 0; i < rows; i++) y[i] = (float)((i * 7 + seed) % m->head.outputs);
    } else {
        test_fill(y, rows * m->head.outputs, seed, -1.0f, 1.0f);
    }
}

/* Central differences of the head's loss for every parameter the pass trains: the head's, and
 * the encoder's when through_encoder. The decoder's gradients must stay as they were. */
static void check_head_gradients(ae_config c, ae_head_kind kind, size_t outputs, int through_encoder) {
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(ae_head_create(m, kind, outputs), AE_OK);
    /* Non-zero biases so that every path is exercised. */
    test_fill(m->head.layer.b, outputs, 3, -0.3f, 0.3f);
    for (size_t l = 0; l < m->n_enc; l++) test_fill(m->layer[l].b, m->layer[l].out, 10 + (uint32_t)l, -0.2f, 0.2f);
    const size_t d = c.input_dim, k = c.code_dim, in_w = through_encoder ? d : k;
    float x[ROWS * 16], y[ROWS * 4];
    test_fill(x, ROWS * in_w, 5, 0.0f, 1.0f);
    fill_targets(m, y, ROWS, 2);
    ae_head_work w;
    assert_int_equal(ae_head_work_init(&w, m, ROWS, through_encoder), AE_OK);
    for (size_t i = 0; i < m->n_params; i++) m->grads[i] = 1234.5f; /* sentinel */
    const double loss = ae_head_pass(m, &w, x, y, ROWS, 1);
    assert_true(isfinite(loss) && loss > 0.0);
    const size_t enc = ae_encoder_span(m);
    for (size_t i = enc; i < m->n_params; i++) assert_true(m->grads[i] == 1234.5f); /* decoder untouched */
    if (!through_encoder)
        for (size_t i = 0; i < enc; i++) assert_true(m->grads[i] == 1234.5f);

    const float h = 5e-4f;
    size_t checked = 0;
    /* The trained tensors: the head's, then (fine-tuning) each encoder layer's. */
    const ae_layer *layers[AE_MAX_LAYERS + 1];
    size_t nl = 0;
    layers[nl++] = &m->head.layer;
    if (through_encoder)
        for (size_t l = 0; l < m->n_enc; l++) layers[nl++] = &m->layer[l];
    for (size_t t = 0; t < nl; t++) {
        const ae_layer *L = layers[t];
        float *ps[2] = {L->w, L->b};
        const float *gs[2] = {L->dw, L->db};
        size_t counts[2] = {L->in * L->out, L->out};
        for (int part = 0; part < 2; part++)
            for (size_t i = 0; i < counts[part]; i++) {
                float *p = ps[part] + i, keep = *p;
                *p = keep + h;
                double up = ae_head_pass(m, &w, x, y, ROWS, 0);
                *p = keep - h;
                double down = ae_head_pass(m, &w, x, y, ROWS, 0);
                *p = keep;
                assert_close(gs[part][i], (up - down) / (2.0 * h), 2e-4, 2e-2);
                checked++;
            }
    }
    size_t want = outputs * (k + 1);
    if (through_encoder)
        for (size_t l = 0; l < m->n_enc; l++) want += m->layer[l].in * m->layer[l].out + m->layer[l].out;
    assert_int_equal(checked, want);
    ae_head_work_free(&w);
    ae_free(m);
}

static void test_softmax_head_gradients(void **state) {
    (void)state;
    for (int through = 0; through < 2; through++) {
        check_head_gradients(config(7, 5, 3, AE_ACT_TANH, AE_ACT_LINEAR), AE_HEAD_SOFTMAX, 4, through);
        check_head_gradients(config(7, 5, 3, AE_ACT_SIGMOID, AE_ACT_TANH), AE_HEAD_SOFTMAX, 3, through);
        check_head_gradients(config(6, 4, 3, AE_ACT_LEAKY_RELU, AE_ACT_SIGMOID), AE_HEAD_SOFTMAX, 2, through);
    }
}

static void test_linear_head_gradients(void **state) {
    (void)state;
    for (int through = 0; through < 2; through++)
        check_head_gradients(config(7, 5, 3, AE_ACT_TANH, AE_ACT_LINEAR), AE_HEAD_LINEAR, 2, through);
}

/* A tied encoder (whose layer accumulates into a gradient shared with the decoder in ae_train)
 * and a VAE encoder (the head reads mu; logvar gets no gradient). */
static void test_head_gradients_tied_and_vae(void **state) {
    (void)state;
    ae_config c = config(7, 5, 3, AE_ACT_TANH, AE_ACT_LINEAR);
    c.tied_weights = 1;
    check_head_gradients(c, AE_HEAD_SOFTMAX, 3, 1);
    c.tied_weights = 0;
    c.variational = 1;
    check_head_gradients(c, AE_HEAD_SOFTMAX, 3, 1);
    check_head_gradients(c, AE_HEAD_LINEAR, 2, 1);
}

/* Three well separated clusters in 12 dimensions, n rows; labels in y. */
static float *clusters(size_t n, size_t d, float *y, uint32_t seed) {
    float *x = malloc(n * d * sizeof(float));
    assert_non_null(x);
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        size_t c = i % 3;
        y[i] = (float)c;
        for (size_t j = 0; j < d; j++) x[i * d + j] = (j % 3 == c ? 0.7f : 0.2f) + test_uniform(&s, -0.15f, 0.15f);
    }
    return x;
}

static void test_classifier_learns_separable_set(void **state) {
    (void)state;
    const size_t n = 300, d = 12, t = 150;
    float y[300], yt[150];
    float *x = clusters(n, d, y, 1), *xt = clusters(t, d, yt, 99);
    for (int freeze = 0; freeze < 2; freeze++) {
        ae_model *m;
        ae_config c = config(d, 8, 4, AE_ACT_RELU, AE_ACT_LINEAR);
        assert_int_equal(ae_create(&m, &c), AE_OK);
        ae_train_opts o = ae_train_opts_default();
        o.epochs = 30;
        o.batch_size = 16;
        assert_int_equal(ae_train(m, x, n, &o), AE_OK);
        assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 3), AE_OK);
        double before;
        assert_int_equal(ae_head_evaluate(m, xt, t, yt, NULL, &before), AE_OK);
        o.learning_rate = 1e-2f;
        assert_int_equal(ae_head_train(m, x, n, y, freeze, &o), AE_OK);
        double loss = -1.0, acc = -1.0;
        assert_int_equal(ae_head_evaluate(m, xt, t, yt, &loss, &acc), AE_OK);
        assert_true(acc >= 0.97);
        assert_true(loss >= 0.0 && loss < 0.3);
        assert_true(before < 0.9);
        /* classify is the argmax of predict, and probabilities sum to 1 */
        float *p = malloc(t * 3 * sizeof(float));
        int32_t *lab = malloc(t * sizeof(int32_t));
        assert_int_equal(ae_head_predict(m, xt, t, p), AE_OK);
        assert_int_equal(ae_head_classify(m, xt, t, lab), AE_OK);
        size_t right = 0;
        for (size_t i = 0; i < t; i++) {
            int32_t best = 0;
            for (int j = 1; j < 3; j++)
                if (p[i * 3 + j] > p[i * 3 + best]) best = j;
            assert_int_equal(lab[i], best);
            assert_close(p[i * 3] + p[i * 3 + 1] + p[i * 3 + 2], 1.0, 1e-5, 0.0);
            right += lab[i] == (int32_t)yt[i];
        }
        assert_close((double)right / (double)t, acc, 1e-12, 0.0);
        free(p);
        free(lab);
        ae_free(m);
    }
    free(x);
    free(xt);
}

/* Frozen: the encoder (and decoder) keep their weights bit for bit; fine-tuned: the encoder
 * moves, the decoder does not. */
static void test_freeze_leaves_encoder_alone(void **state) {
    (void)state;
    const size_t n = 90, d = 12;
    float y[90];
    float *x = clusters(n, d, y, 4);
    for (int freeze = 0; freeze < 2; freeze++) {
        ae_model *m;
        ae_config c = config(d, 8, 4, AE_ACT_TANH, AE_ACT_LINEAR);
        c.tied_weights = freeze; /* the tied decoder's biases must stay too */
        assert_int_equal(ae_create(&m, &c), AE_OK);
        assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 3), AE_OK);
        float *before = malloc(m->n_params * sizeof(float)), *head = malloc(m->head.n * sizeof(float));
        memcpy(before, m->params, m->n_params * sizeof(float));
        memcpy(head, m->head.params, m->head.n * sizeof(float));
        ae_train_opts o = ae_train_opts_default();
        o.epochs = 3;
        o.batch_size = 10;
        assert_int_equal(ae_head_train(m, x, n, y, freeze, &o), AE_OK);
        const size_t enc = ae_encoder_span(m);
        assert_int_equal(memcmp(before + enc, m->params + enc, (m->n_params - enc) * sizeof(float)), 0);
        int enc_same = memcmp(before, m->params, enc * sizeof(float)) == 0;
        assert_int_equal(enc_same, freeze);
        assert_true(memcmp(head, m->head.params, m->head.n * sizeof(float)) != 0);
        free(before);
        free(head);
        ae_free(m);
    }
    free(x);
}

static void test_linear_head_regresses(void **state) {
    (void)state;
    const size_t n = 200, d = 10;
    float *x = malloc(n * d * sizeof(float)), *t = malloc(n * 2 * sizeof(float));
    test_fill(x, n * d, 8, 0.0f, 1.0f);
    for (size_t i = 0; i < n; i++) { /* targets linear in the input */
        t[2 * i] = x[i * d] - x[i * d + 1];
        t[2 * i + 1] = 0.5f * x[i * d + 2];
    }
    ae_model *m;
    ae_config c = config(d, 16, 8, AE_ACT_TANH, AE_ACT_LINEAR);
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(ae_head_create(m, AE_HEAD_LINEAR, 2), AE_OK);
    double before, after, acc = 0.0;
    assert_int_equal(ae_head_evaluate(m, x, n, t, &before, &acc), AE_OK);
    assert_true(isnan(acc)); /* no accuracy for regression */
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 200;
    o.batch_size = 20;
    o.learning_rate = 3e-3f;
    assert_int_equal(ae_head_train(m, x, n, t, 0, &o), AE_OK);
    assert_int_equal(ae_head_evaluate(m, x, n, t, &after, NULL), AE_OK);
    assert_true(after < 0.01 && after < before / 10.0);
    int32_t lab[200];
    assert_int_equal(ae_head_classify(m, x, n, lab), AE_EINVAL); /* classes need a softmax */
    free(x);
    free(t);
    ae_free(m);
}

static void test_head_save_load(void **state) {
    (void)state;
    char dir[] = "/tmp/ae_head_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    const size_t n = 30, d = 12;
    float y[30];
    float *x = clusters(n, d, y, 6);
    for (int kind = 0; kind < 2; kind++) {
        ae_model *m, *back;
        ae_config c = config(d, 8, 4, AE_ACT_RELU, AE_ACT_LINEAR);
        c.variational = kind; /* a VAE too: its head reads mu */
        assert_int_equal(ae_create(&m, &c), AE_OK);
        assert_int_equal(ae_head_create(m, kind ? AE_HEAD_LINEAR : AE_HEAD_SOFTMAX, 3), AE_OK);
        assert_int_equal(ae_save(m, path), AE_OK);
        assert_int_equal(ae_load(&back, path), AE_OK);
        ae_head_kind k2;
        size_t out2 = 0;
        assert_int_equal(ae_head_get(back, &k2, &out2), AE_OK);
        assert_int_equal(k2, kind ? AE_HEAD_LINEAR : AE_HEAD_SOFTMAX);
        assert_int_equal(out2, 3);
        float p1[30 * 3], p2[30 * 3];
        assert_int_equal(ae_head_predict(m, x, n, p1), AE_OK);
        assert_int_equal(ae_head_predict(back, x, n, p2), AE_OK);
        assert_int_equal(memcmp(p1, p2, sizeof p1), 0);
        ae_free(back);
        ae_free(m);
    }
    /* A model without a head loads without one. */
    ae_model *m, *back;
    ae_config c = config(d, 8, 4, AE_ACT_RELU, AE_ACT_LINEAR);
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(ae_save(m, path), AE_OK);
    assert_int_equal(ae_load(&back, path), AE_OK);
    assert_int_equal(ae_head_get(back, NULL, NULL), AE_EINVAL);
    ae_free(back);
    ae_free(m);
    free(x);
    unlink(path);
    rmdir(dir);
}

static void test_head_rejects_bad_input(void **state) {
    (void)state;
    const size_t n = 12, d = 6;
    float x[12 * 6], y[12];
    test_fill(x, n * d, 1, 0.0f, 1.0f);
    for (size_t i = 0; i < n; i++) y[i] = (float)(i % 3);
    ae_model *m;
    ae_config c = config(d, 4, 2, AE_ACT_RELU, AE_ACT_LINEAR);
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    float out[12 * 3];
    int32_t lab[12];
    /* no head yet */
    assert_int_equal(ae_head_train(m, x, n, y, 0, &o), AE_EINVAL);
    assert_int_equal(ae_head_predict(m, x, n, out), AE_EINVAL);
    assert_int_equal(ae_head_classify(m, x, n, lab), AE_EINVAL);
    assert_int_equal(ae_head_evaluate(m, x, n, y, NULL, NULL), AE_EINVAL);
    assert_int_equal(ae_head_get(m, NULL, NULL), AE_EINVAL);
    assert_int_equal(ae_head_create(NULL, AE_HEAD_SOFTMAX, 3), AE_EINVAL);
    assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 1), AE_EINVAL); /* one class */
    assert_int_equal(ae_head_create(m, AE_HEAD_LINEAR, 0), AE_EINVAL);
    assert_int_equal(ae_head_create(m, (ae_head_kind)7, 3), AE_EINVAL);
    assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 3), AE_OK);
    /* labels out of range, fractional, negative, NaN */
    float bad[12];
    const float wrong[4] = {3.0f, 1.5f, -1.0f, NAN};
    for (int b = 0; b < 4; b++) {
        memcpy(bad, y, sizeof bad);
        bad[5] = wrong[b];
        assert_int_equal(ae_head_train(m, x, n, bad, 0, &o), AE_EINVAL);
        assert_int_equal(ae_head_evaluate(m, x, n, bad, NULL, NULL), AE_EINVAL);
    }
    assert_int_equal(ae_head_train(m, x, n, NULL, 0, &o), AE_EINVAL);
    assert_int_equal(ae_head_train(m, NULL, n, y, 0, &o), AE_EINVAL);
    assert_int_equal(ae_head_train(m, x, 0, y, 0, &o), AE_EINVAL);
    x[7] = INFINITY;
    assert_int_equal(ae_head_train(m, x, n, y, 0, &o), AE_ENONFINITE);
    assert_int_equal(ae_head_predict(m, x, n, out), AE_ENONFINITE);
    x[7] = 0.5f;
    /* options the head's training does not take */
    ae_train_opts b = o;
    b.noise = AE_NOISE_MASK;
    b.noise_level = 0.2f;
    assert_int_equal(ae_head_train(m, x, n, y, 0, &b), AE_EINVAL);
    b = o;
    b.dropout = 0.1f;
    assert_int_equal(ae_head_train(m, x, n, y, 0, &b), AE_EINVAL);
    b = o;
    b.val_x = x;
    b.val_n = n;
    assert_int_equal(ae_head_train(m, x, n, y, 0, &b), AE_EINVAL);
    b = o;
    assert_int_equal(ae_head_train(m, x, n, y, 2, &b), AE_EINVAL);
    b = o;
    b.learning_rate = -1.0f;
    assert_int_equal(ae_head_train(m, x, n, y, 0, &b), AE_EINVAL);
    assert_int_equal(ae_head_predict(m, x, n, NULL), AE_EINVAL);
    assert_int_equal(ae_head_train(m, x, n, y, 0, &o), AE_OK);
    ae_free(m);
}

/* A diverging run (an absurd learning rate) restores the epoch's first weights. */
static void test_head_divergence_restores(void **state) {
    (void)state;
    const size_t n = 60, d = 12;
    float y[60];
    float *x = clusters(n, d, y, 2);
    ae_model *m;
    ae_config c = config(d, 8, 4, AE_ACT_RELU, AE_ACT_LINEAR);
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(ae_head_create(m, AE_HEAD_LINEAR, 1), AE_OK);
    float t[60];
    for (size_t i = 0; i < n; i++) t[i] = 1e30f;
    float *before = malloc(m->n_params * sizeof(float));
    memcpy(before, m->params, m->n_params * sizeof(float));
    ae_train_opts o = ae_train_opts_default();
    o.optimizer = AE_OPT_SGD;
    o.learning_rate = 1e10f;
    o.epochs = 1;
    assert_int_equal(ae_head_train(m, x, n, t, 0, &o), AE_EDIVERGED);
    assert_int_equal(memcmp(before, m->params, m->n_params * sizeof(float)), 0);
    free(before);
    free(x);
    ae_free(m);
}

static int count_alloc(size_t bytes, void *user) {
    (void)bytes;
    ++*(size_t *)user;
    return 0;
}

/* Allocations of one ae_head_train call do not depend on how many steps it takes. */
static void test_head_training_allocates_once(void **state) {
    (void)state;
    const size_t n = 60, d = 12;
    float y[60];
    float *x = clusters(n, d, y, 3);
    size_t counts[2][2];
    for (int freeze = 0; freeze < 2; freeze++)
        for (int run = 0; run < 2; run++) {
            ae_model *m;
            ae_config c = config(d, 8, 4, AE_ACT_RELU, AE_ACT_LINEAR);
            assert_int_equal(ae_create(&m, &c), AE_OK);
            assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 3), AE_OK);
            ae_train_opts o = ae_train_opts_default();
            o.epochs = run ? 40 : 1;
            o.batch_size = 8;
            o.patience = 100;
            o.clip_norm = 1.0f;
            size_t count = 0;
            ae_set_alloc_hook(count_alloc, &count);
            int rc = ae_head_train(m, x, n, y, freeze, &o);
            ae_set_alloc_hook(NULL, NULL);
            assert_int_equal(rc, AE_OK);
            counts[freeze][run] = count;
            ae_free(m);
        }
    assert_int_equal(counts[0][0], counts[0][1]);
    assert_int_equal(counts[1][0], counts[1][1]);
    free(x);
}

/* ae_reseed: the same seed gives the same new head (and training), another seed another. */
static void test_reseed_restarts_the_stream(void **state) {
    (void)state;
    ae_model *m;
    ae_config c = config(6, 4, 2, AE_ACT_RELU, AE_ACT_LINEAR);
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float w[3][2 * 3];
    const uint64_t seeds[3] = {5, 5, 6};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ae_reseed(m, seeds[i]), AE_OK);
        assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 3), AE_OK);
        memcpy(w[i], m->head.layer.w, sizeof w[i]);
    }
    assert_int_equal(memcmp(w[0], w[1], sizeof w[0]), 0);
    assert_true(memcmp(w[0], w[2], sizeof w[0]) != 0);
    ae_config got;
    assert_int_equal(ae_get_config(m, &got), AE_OK);
    assert_int_equal(got.seed, c.seed); /* the config keeps the seed of the weights */
    assert_int_equal(ae_reseed(NULL, 1), AE_EINVAL);
    ae_free(m);
}

/* val_split gives the head a validation loss (from the held-out rows and their targets) and
 * early stopping on it, through the one training loop; a split that leaves no rows is refused. */
typedef struct val_log {
    int epochs, finite_val;
    double best_val;
} val_log;

static int log_val(const ae_epoch_stats *s, void *user) {
    val_log *v = user;
    v->epochs++;
    if (isfinite(s->val_loss)) v->finite_val++;
    if (s->val_loss < v->best_val) v->best_val = s->val_loss;
    return 0;
}

static void test_head_validation_and_early_stopping(void **state) {
    (void)state;
    const size_t n = 120, d = 6;
    float *y = malloc(n * sizeof(float)), *x = clusters(n, d, y, 11);
    assert_non_null(x);
    uint32_t s = 5;
    for (size_t i = 0; i < n; i++) y[i] = (float)((size_t)test_uniform(&s, 0.0f, 2.999f)); /* labels without signal */
    ae_model *m;
    ae_config c = config(d, 8, 4, AE_ACT_RELU, AE_ACT_LINEAR);
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 3), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 200;
    o.batch_size = 16;
    o.learning_rate = 0.05f; /* memorises noise: the held-out loss soon stops improving */
    o.val_split = 0.25f;
    o.patience = 3;
    val_log v = {0, 0, INFINITY};
    o.on_epoch = log_val;
    o.user = &v;
    assert_int_equal(ae_head_train(m, x, n, y, 0, &o), AE_OK);
    assert_int_equal(v.finite_val, v.epochs); /* every epoch reported a validation loss */
    assert_true(v.epochs < 200); /* early stopping ended the run */
    /* the best epoch's weights are back: their loss on the held-out rows is the best seen */
    float *vx = malloc(30 * d * sizeof(float)), *vy = malloc(30 * sizeof(float));
    size_t h = 0;
    for (size_t g = 0; g < n; g++)
        if ((size_t)floor((double)(g + 1) * 0.25f) > (size_t)floor((double)g * 0.25f)) {
            memcpy(vx + h * d, x + g * d, d * sizeof(float));
            vy[h++] = y[g];
        }
    assert_int_equal(h, 30);
    double loss = NAN;
    assert_int_equal(ae_head_evaluate(m, vx, h, vy, &loss, NULL), AE_OK);
    assert_close(loss, v.best_val, 1e-5, 1e-4);
    o.val_split = 0.005f; /* 0 of 120 rows */
    o.on_epoch = NULL;
    assert_int_equal(ae_head_train(m, x, n, y, 0, &o), AE_EINVAL);
    free(vx);
    free(vy);
    free(x);
    free(y);
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_head_gradients),
        cmocka_unit_test(test_linear_head_gradients),
        cmocka_unit_test(test_head_gradients_tied_and_vae),
        cmocka_unit_test(test_classifier_learns_separable_set),
        cmocka_unit_test(test_freeze_leaves_encoder_alone),
        cmocka_unit_test(test_linear_head_regresses),
        cmocka_unit_test(test_head_save_load),
        cmocka_unit_test(test_head_rejects_bad_input),
        cmocka_unit_test(test_head_divergence_restores),
        cmocka_unit_test(test_head_training_allocates_once),
        cmocka_unit_test(test_reseed_restarts_the_stream),
        cmocka_unit_test(test_head_validation_and_early_stopping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
