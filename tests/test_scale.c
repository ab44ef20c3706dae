#define _GNU_SOURCE /* memmem */
/* Input scaling kept in the model: fitting, the modes, constant columns, the range refusal,
 * the round trip through the model file, and every entry point that takes or gives rows,
 * each checked against the same computation on rows scaled by hand. */
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#include "head.h"
#include "model.h"
#include "train.h"

enum { N = 60, D = 6, K = 2 };

/* Raw tabular rows: columns of very different units (0..1000, -5..5, around 1e-3, ...), a
 * low-rank structure underneath, and column 5 constant. */
static void raw_rows(float *x, size_t n, uint32_t seed) {
    const float *base = test_low_rank_rows(n, D, seed);
    static const float mul[D] = {2000.0f, 20.0f, 0.004f, 1.0f, 300.0f, 0.0f};
    static const float add[D] = {-500.0f, -10.0f, 0.0f, 3.0f, 40.0f, 7.5f};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++) x[i * D + j] = base[i * D + j] * mul[j] + add[j];
    free((void *)base);
}

static ae_model *make(ae_scaling mode, ae_activation out, int vae) {
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.n_hidden = 1;
    c.hidden[0] = 4;
    c.code_dim = K;
    c.output_act = out;
    c.variational = vae;
    c.scaling = mode;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    return m;
}

static ae_train_opts quick(void) {
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 3;
    o.batch_size = 16;
    return o;
}

/* x scaled by hand with the model's statistics. */
static void by_hand(const ae_model *m, const float *x, size_t n, float *out) {
    float off[D], sc[D];
    assert_int_equal(ae_scaling_get(m, NULL, NULL, off, sc), AE_OK);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++) out[i * D + j] = (x[i * D + j] - off[j]) / sc[j];
}

static void assert_same(const float *a, const float *b, size_t n) { assert_memory_equal(a, b, n * sizeof(float)); }

static void test_minmax_maps_training_rows_onto_the_output_range(void **state) {
    (void)state;
    float x[N * D], xs[N * D];
    raw_rows(x, N, 1);
    for (int tanh_out = 0; tanh_out < 2; tanh_out++) {
        ae_model *m = make(AE_SCALE_MINMAX, tanh_out ? AE_ACT_TANH : AE_ACT_SIGMOID, 0);
        assert_int_equal(ae_scaling_fit(m, x, N), AE_OK);
        ae_scaling mode;
        int fitted;
        assert_int_equal(ae_scaling_get(m, &mode, &fitted, NULL, NULL), AE_OK);
        assert_int_equal(mode, AE_SCALE_MINMAX);
        assert_int_equal(fitted, 1);
        by_hand(m, x, N, xs);
        const float lo = tanh_out ? -1.0f : 0.0f;
        for (size_t j = 0; j + 1 < D; j++) { /* each column spans [lo, 1] */
            float mn = INFINITY, mx = -INFINITY;
            for (size_t i = 0; i < N; i++) {
                mn = fminf(mn, xs[i * D + j]);
                mx = fmaxf(mx, xs[i * D + j]);
            }
            assert_close(mn, lo, 1e-5, 0);
            assert_close(mx, 1.0, 1e-5, 0);
        }
        for (size_t i = 0; i < N; i++) assert_close(xs[i * D + 5], lo, 0, 0); /* constant: no division by 0 */
        ae_free(m);
    }
}

static void test_zscore_gives_mean_0_sd_1(void **state) {
    (void)state;
    float x[N * D], xs[N * D];
    raw_rows(x, N, 2);
    ae_model *m = make(AE_SCALE_ZSCORE, AE_ACT_LINEAR, 0);
    assert_int_equal(ae_scaling_fit(m, x, N), AE_OK);
    by_hand(m, x, N, xs);
    float sc[D];
    assert_int_equal(ae_scaling_get(m, NULL, NULL, NULL, sc), AE_OK);
    assert_close(sc[5], 1.0, 0, 0); /* the constant column keeps scale 1 */
    for (size_t j = 0; j + 1 < D; j++) {
        double s = 0, q = 0;
        for (size_t i = 0; i < N; i++) s += xs[i * D + j];
        for (size_t i = 0; i < N; i++) q += (xs[i * D + j] - s / N) * (xs[i * D + j] - s / N);
        assert_close(s / N, 0.0, 1e-5, 0);
        assert_close(sqrt(q / N), 1.0, 1e-5, 0);
    }
    for (size_t i = 0; i < N; i++) assert_close(xs[i * D + 5], 0.0, 0, 0);
    ae_free(m);
}

/* AUTO: rows already inside the output's range are used as they are, bit for bit. */
static void test_auto_leaves_unit_data_alone(void **state) {
    (void)state;
    float *x = test_low_rank_rows(N, D, 3);
    ae_model *a = make(AE_SCALE_AUTO, AE_ACT_SIGMOID, 0), *b = make(AE_SCALE_NONE, AE_ACT_SIGMOID, 0);
    ae_train_opts o = quick();
    assert_int_equal(ae_train(a, x, N, &o), AE_OK);
    assert_int_equal(ae_train(b, x, N, &o), AE_OK);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    ae_scaling mode;
    int fitted;
    assert_int_equal(ae_scaling_get(a, &mode, &fitted, NULL, NULL), AE_OK);
    assert_int_equal(mode, AE_SCALE_NONE);
    assert_int_equal(fitted, 1);
    /* The same data far from [0, 1]: AUTO scales it, min-max for a sigmoid, z-score for linear. */
    float raw[N * D];
    raw_rows(raw, N, 3);
    for (int lin = 0; lin < 2; lin++) {
        ae_model *c = make(AE_SCALE_AUTO, lin ? AE_ACT_LINEAR : AE_ACT_SIGMOID, 0);
        assert_int_equal(ae_train(c, raw, N, &o), AE_OK);
        assert_int_equal(ae_scaling_get(c, &mode, NULL, NULL, NULL), AE_OK);
        assert_int_equal(mode, lin ? AE_SCALE_ZSCORE : AE_SCALE_MINMAX);
        ae_free(c);
    }
    free(x);
    ae_free(a);
    ae_free(b);
}

static void test_scaling_off_refuses_rows_out_of_range(void **state) {
    (void)state;
    float *x = test_low_rank_rows(N, D, 4);
    x[2 * D + 1] = 2.5f; /* row 3, column 2 */
    ae_model *m = make(AE_SCALE_NONE, AE_ACT_SIGMOID, 0);
    float before[64];
    memcpy(before, m->params, sizeof before);
    ae_train_opts o = quick();
    assert_int_equal(ae_train(m, x, N, &o), AE_ERANGE);
    assert_non_null(strstr(ae_last_error(), "row 3 column 2"));
    assert_non_null(strstr(ae_last_error(), "scaling"));
    assert_memory_equal(before, m->params, sizeof before); /* nothing trained */
    ae_model *lin = make(AE_SCALE_NONE, AE_ACT_LINEAR, 0); /* a linear output can produce 2.5 */
    assert_int_equal(ae_train(lin, x, N, &o), AE_OK);
    assert_int_not_equal(ae_strerror(AE_ERANGE)[0], 'u'); /* a sentence of its own */
    ae_config bad = ae_config_default();
    bad.input_dim = D;
    bad.code_dim = K;
    bad.scaling = (ae_scaling)9;
    ae_model *none = NULL;
    assert_int_equal(ae_create(&none, &bad), AE_EINVAL);
    free(x);
    ae_free(m);
    ae_free(lin);
}

/* Training on raw rows with scaling = training a non-scaling model on rows scaled by hand. */
static void test_train_and_validation_see_scaled_rows(void **state) {
    (void)state;
    float x[N * D], v[20 * D], xs[N * D], vs[20 * D];
    raw_rows(x, N, 5);
    raw_rows(v, 20, 6);
    ae_model *a = make(AE_SCALE_MINMAX, AE_ACT_SIGMOID, 0), *b = make(AE_SCALE_AUTO, AE_ACT_SIGMOID, 0);
    assert_int_equal(ae_scaling_fit(a, x, N), AE_OK);
    by_hand(a, x, N, xs);
    by_hand(a, v, 20, vs);
    ae_scaler_identity(&b->scaler); /* fitted, never scales */
    ae_train_opts o = quick();
    o.val_x = v;
    o.val_n = 20;
    o.patience = 2;
    assert_int_equal(ae_train(a, x, N, &o), AE_OK);
    o.val_x = vs;
    assert_int_equal(ae_train(b, xs, N, &o), AE_OK);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    ae_free(a);
    ae_free(b);
}

/* encode, decode, reconstruct, score, score_features, calibrate, flag: against the layers run
 * on hand-scaled rows. */
static void test_inference_entry_points_scale(void **state) {
    (void)state;
    float x[N * D], xs[N * D], ref[N * D], got[N * D], code[N * K], rcode[N * K];
    raw_rows(x, N, 7);
    ae_model *m = make(AE_SCALE_MINMAX, AE_ACT_SIGMOID, 0);
    ae_train_opts o = quick();
    assert_int_equal(ae_train(m, x, N, &o), AE_OK);
    by_hand(m, x, N, xs);
    float off[D], sc[D];
    assert_int_equal(ae_scaling_get(m, NULL, NULL, off, sc), AE_OK);

    assert_int_equal(ae_encode(m, x, N, code), AE_OK);
    assert_int_equal(ae_forward_layers(m, 0, m->n_enc, xs, N, rcode), AE_OK);
    assert_same(code, rcode, N * K);

    assert_int_equal(ae_decode(m, code, N, got), AE_OK);
    assert_int_equal(ae_forward_layers(m, m->n_enc, m->n_layers, rcode, N, ref), AE_OK);
    for (size_t i = 0; i < N * D; i++) ref[i] = ref[i] * sc[i % D] + off[i % D]; /* user units */
    assert_same(got, ref, N * D);
    assert_int_equal(ae_reconstruct(m, x, N, got), AE_OK);
    assert_same(got, ref, N * D);

    float rec[N * D], err[N], ferr[N * D], want[N];
    assert_int_equal(ae_forward_layers(m, 0, m->n_layers, xs, N, rec), AE_OK);
    for (size_t i = 0; i < N; i++) { /* scores in scaled units */
        double s = 0;
        for (size_t j = 0; j < D; j++) { /* each term a float, as ae_score sums them */
            const float e = (rec[i * D + j] - xs[i * D + j]) * (rec[i * D + j] - xs[i * D + j]);
            s += e;
        }
        want[i] = (float)(s / D);
    }
    assert_int_equal(ae_score(m, x, N, err), AE_OK);
    assert_same(err, want, N);
    assert_int_equal(ae_score_features(m, x, N, ferr), AE_OK);
    for (size_t i = 0; i < N * D; i++) assert_close(ferr[i], (float)((rec[i] - xs[i]) * (rec[i] - xs[i])), 0, 0);

    float t, t2;
    assert_int_equal(ae_threshold_from_scores(want, N, AE_THRESHOLD_CONTAMINATION, 0.1, &t), AE_OK);
    assert_int_equal(ae_threshold_calibrate(m, x, N, AE_THRESHOLD_CONTAMINATION, 0.1, &t2), AE_OK);
    assert_close(t, t2, 0, 0);
    unsigned char flags[N];
    size_t flagged = 0;
    assert_int_equal(ae_flag(m, x, N, flags, NULL), AE_OK);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(flags[i], want[i] > t);
        flagged += flags[i];
    }
    assert_in_range(flagged, 5, 7); /* 10% of 60 */
    ae_free(m);
}

static void test_sample_comes_back_in_user_units(void **state) {
    (void)state;
    float x[N * D], got[8 * D], ref[8 * D];
    raw_rows(x, N, 8);
    ae_model *m = make(AE_SCALE_MINMAX, AE_ACT_SIGMOID, 1);
    ae_train_opts o = quick();
    assert_int_equal(ae_train(m, x, N, &o), AE_OK);
    float off[D], sc[D];
    assert_int_equal(ae_scaling_get(m, NULL, NULL, off, sc), AE_OK);
    assert_int_equal(ae_reseed(m, 9), AE_OK);
    assert_int_equal(ae_sample(m, 8, got), AE_OK);
    assert_int_equal(ae_reseed(m, 9), AE_OK); /* the same draws through the raw layers */
    float z[8 * K];
    ae_rng_fill_normal(&m->rng, z, 8 * K);
    assert_int_equal(ae_forward_layers(m, m->n_enc, m->n_layers, z, 8, ref), AE_OK);
    for (size_t i = 0; i < 8 * D; i++) ref[i] = ref[i] * sc[i % D] + off[i % D];
    assert_same(got, ref, 8 * D);
    ae_free(m);
}

static void test_head_and_pretraining_scale(void **state) {
    (void)state;
    float x[N * D], xs[N * D], y[N];
    raw_rows(x, N, 10);
    for (size_t i = 0; i < N; i++) y[i] = (float)(i % 2);
    ae_model *a = make(AE_SCALE_MINMAX, AE_ACT_SIGMOID, 0), *b = make(AE_SCALE_AUTO, AE_ACT_SIGMOID, 0);
    assert_int_equal(ae_scaling_fit(a, x, N), AE_OK);
    by_hand(a, x, N, xs);
    ae_scaler_identity(&b->scaler);
    ae_train_opts o = quick();
    assert_int_equal(ae_pretrain_layerwise(a, x, N, &o, 2), AE_OK);
    assert_int_equal(ae_pretrain_layerwise(b, xs, N, &o, 2), AE_OK);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    assert_int_equal(ae_head_create(a, AE_HEAD_SOFTMAX, 2), AE_OK);
    assert_int_equal(ae_head_create(b, AE_HEAD_SOFTMAX, 2), AE_OK);
    assert_int_equal(ae_head_train(a, x, N, y, 0, &o), AE_OK);
    assert_int_equal(ae_head_train(b, xs, N, y, 0, &o), AE_OK);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    assert_memory_equal(a->head.params, b->head.params, a->head.n * sizeof(float));
    float pa[N * 2], pb[N * 2];
    int32_t la[N], lb[N];
    double lossa, lossb;
    assert_int_equal(ae_head_predict(a, x, N, pa), AE_OK);
    assert_int_equal(ae_head_predict(b, xs, N, pb), AE_OK);
    assert_same(pa, pb, N * 2);
    assert_int_equal(ae_head_classify(a, x, N, la), AE_OK);
    assert_int_equal(ae_head_classify(b, xs, N, lb), AE_OK);
    assert_memory_equal(la, lb, sizeof la);
    assert_int_equal(ae_head_evaluate(a, x, N, y, &lossa, NULL), AE_OK);
    assert_int_equal(ae_head_evaluate(b, xs, N, y, &lossb, NULL), AE_OK);
    assert_close(lossa, lossb, 0, 0);
    ae_free(a);
    ae_free(b);
}

/* Fit, save, load: the same statistics and the same scores; a checkpoint resumes the same. */
static void test_round_trip_and_resume(void **state) {
    (void)state;
    char dir[] = "/tmp/ae_scale_XXXXXX", path[64], ck[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    snprintf(ck, sizeof ck, "%s/c.ckpt", dir);
    float x[N * D], s1[N], s2[N];
    raw_rows(x, N, 11);
    for (int mode = AE_SCALE_MINMAX; mode <= AE_SCALE_ZSCORE; mode++) {
        ae_model *m = make((ae_scaling)mode, AE_ACT_LINEAR, 0), *back;
        ae_train_opts o = quick();
        o.epochs = 2;
        o.checkpoint_path = ck;
        o.checkpoint_every = 1;
        assert_int_equal(ae_train(m, x, N, &o), AE_OK);
        assert_int_equal(ae_save(m, path), AE_OK);
        assert_int_equal(ae_load(&back, path), AE_OK);
        float o1[D], o2[D], c1[D], c2[D];
        ae_scaling m1, m2;
        assert_int_equal(ae_scaling_get(m, &m1, NULL, o1, c1), AE_OK);
        assert_int_equal(ae_scaling_get(back, &m2, NULL, o2, c2), AE_OK);
        assert_int_equal(m1, m2);
        assert_int_equal(m1, mode);
        assert_same(o1, o2, D);
        assert_same(c1, c2, D);
        assert_int_equal(ae_score(m, x, N, s1), AE_OK);
        assert_int_equal(ae_score(back, x, N, s2), AE_OK);
        assert_same(s1, s2, N);
        ae_config cb;
        assert_int_equal(ae_get_config(back, &cb), AE_OK);
        assert_int_equal(cb.scaling, mode);
        /* Resume from the checkpoint of epoch 2 to epoch 4 = 4 epochs straight. */
        ae_model *r, *straight = make((ae_scaling)mode, AE_ACT_LINEAR, 0);
        assert_int_equal(ae_checkpoint_load(&r, ck), AE_OK);
        ae_train_opts ro = quick();
        ro.epochs = 4;
        ro.resume = 1;
        assert_int_equal(ae_train(r, x, N, &ro), AE_OK);
        ro.resume = 0;
        assert_int_equal(ae_train(straight, x, N, &ro), AE_OK);
        assert_memory_equal(r->params, straight->params, r->n_params * sizeof(float));
        ae_free(r);
        ae_free(straight);
        ae_free(back);
        ae_free(m);
    }
    /* Statistics of another width than the model's inputs: refused. */
    {
        ae_model *m = make(AE_SCALE_MINMAX, AE_ACT_SIGMOID, 0), *bad = NULL;
        assert_int_equal(ae_scaling_fit(m, x, N), AE_OK);
        assert_int_equal(ae_save(m, path), AE_OK);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char buf[1 << 16];
        const size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        char *at = memmem(buf, len, "\"scaling.offset\":{\"dtype\":\"F32\",\"shape\":[6]", 42);
        assert_non_null(at);
        at[41] = '5'; /* shape [5]: valid JSON, the wrong width */
        assert_int_equal(ae_load_buffer(&bad, buf, len), AE_EFORMAT);
        assert_null(bad);
        ae_free(m);
    }
    /* An unfitted model saved and loaded stays unfitted: its first training fits. */
    ae_model *fresh = make(AE_SCALE_AUTO, AE_ACT_SIGMOID, 0), *back;
    assert_int_equal(ae_save(fresh, path), AE_OK);
    assert_int_equal(ae_load(&back, path), AE_OK);
    int fitted = 1;
    assert_int_equal(ae_scaling_get(back, NULL, &fitted, NULL, NULL), AE_OK);
    assert_int_equal(fitted, 0);
    ae_free(fresh);
    ae_free(back);
    unlink(path);
    unlink(ck);
    rmdir(dir);
}

/* val_split holds out every 1/s-th row: the same as passing those rows as val_x; the
 * threshold option calibrates on them. */
static void test_val_split_and_threshold_option(void **state) {
    (void)state;
    float x[N * D], tr[N * D], ho[N * D];
    raw_rows(x, N, 12);
    size_t nt = 0, nh = 0;
    for (size_t i = 0; i < N; i++) { /* s = 0.25: rows 3, 7, 11, ... */
        const int held = floor((double)(i + 1) * 0.25) > floor((double)i * 0.25);
        memcpy(held ? ho + nh++ * D : tr + nt++ * D, x + i * D, D * sizeof(float));
    }
    assert_int_equal(nh, 15);
    ae_model *a = make(AE_SCALE_MINMAX, AE_ACT_SIGMOID, 0), *b = make(AE_SCALE_MINMAX, AE_ACT_SIGMOID, 0);
    ae_train_opts o = quick();
    o.val_split = 0.25f;
    o.threshold = AE_THRESHOLD_CONTAMINATION;
    o.threshold_param = 0.2;
    assert_int_equal(ae_train(a, x, N, &o), AE_OK);
    ae_train_opts p = quick();
    p.val_x = ho;
    p.val_n = nh;
    assert_int_equal(ae_train(b, tr, nt, &p), AE_OK);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    float ta, tb;
    ae_threshold_method meth;
    double param;
    assert_int_equal(ae_threshold_get(a, &ta, &meth, &param), AE_OK);
    assert_int_equal(meth, AE_THRESHOLD_CONTAMINATION);
    assert_close(param, 0.2, 0, 0);
    assert_int_equal(ae_threshold_calibrate(b, ho, nh, AE_THRESHOLD_CONTAMINATION, 0.2, &tb), AE_OK);
    assert_close(ta, tb, 0, 0);
    /* Refusals name the option. */
    o.val_x = ho;
    o.val_n = nh;
    assert_int_equal(ae_train(a, x, N, &o), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "val_split"));
    o.val_x = NULL;
    o.val_n = 0;
    o.val_split = 0.95f;
    assert_int_equal(ae_train(a, x, N, &o), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "val_split"));
    o.val_split = 0.0f;
    o.threshold_param = 0.7;
    assert_int_equal(ae_train(a, x, N, &o), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "contamination"));
    ae_train_opts lr = quick();
    lr.learning_rate = -1.0f;
    assert_int_equal(ae_train(a, x, N, &lr), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "learning_rate"));
    ae_free(a);
    ae_free(b);
}

/* threshold_folds: the threshold of out-of-fold scores, each row scored by the model that
 * did not learn it; the model itself trains on every row as without the option. */
static void test_threshold_folds(void **state) {
    (void)state;
    float x[N * D], tr[N * D], te[N * D], s[N], pooled[N];
    raw_rows(x, N, 14);
    ae_model *a = make(AE_SCALE_AUTO, AE_ACT_SIGMOID, 0), *plain = make(AE_SCALE_AUTO, AE_ACT_SIGMOID, 0);
    ae_train_opts o = quick();
    assert_int_equal(ae_train(plain, x, N, &o), AE_OK);
    o.threshold = AE_THRESHOLD_CONTAMINATION;
    o.threshold_param = 0.2;
    o.threshold_folds = 3;
    assert_int_equal(ae_train(a, x, N, &o), AE_OK);
    assert_memory_equal(a->params, plain->params, a->n_params * sizeof(float));
    ae_train_opts fo = quick();
    for (size_t k = 0; k < 3; k++) {
        size_t nt = 0, ne = 0;
        for (size_t i = 0; i < N; i++) memcpy(i % 3 == k ? te + ne++ * D : tr + nt++ * D, x + i * D, D * sizeof(float));
        ae_model *f = make(AE_SCALE_AUTO, AE_ACT_SIGMOID, 0);
        assert_int_equal(ae_train(f, tr, nt, &fo), AE_OK);
        assert_int_equal(ae_score(f, te, ne, s), AE_OK);
        for (size_t i = 0; i < ne; i++) pooled[i * 3 + k] = s[i];
        ae_free(f);
    }
    float want, got;
    assert_int_equal(ae_threshold_from_scores(pooled, N, AE_THRESHOLD_CONTAMINATION, 0.2, &want), AE_OK);
    assert_int_equal(ae_threshold_get(a, &got, NULL, NULL), AE_OK);
    assert_close(got, want, 0, 0);
    o.val_split = 0.2f; /* folds and a held-out share do not mix */
    assert_int_equal(ae_train(a, x, N, &o), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "threshold_folds"));
    ae_free(a);
    ae_free(plain);
}

static void test_nan_refusal_names_row_and_column(void **state) {
    (void)state;
    float x[N * D];
    raw_rows(x, N, 13);
    x[4 * D + 2] = NAN;
    ae_model *m = make(AE_SCALE_AUTO, AE_ACT_SIGMOID, 0);
    float code[N * K];
    assert_int_equal(ae_encode(m, x, N, code), AE_ENONFINITE);
    assert_non_null(strstr(ae_last_error(), "row 5 column 3 is NaN"));
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minmax_maps_training_rows_onto_the_output_range),
        cmocka_unit_test(test_zscore_gives_mean_0_sd_1),
        cmocka_unit_test(test_auto_leaves_unit_data_alone),
        cmocka_unit_test(test_scaling_off_refuses_rows_out_of_range),
        cmocka_unit_test(test_train_and_validation_see_scaled_rows),
        cmocka_unit_test(test_inference_entry_points_scale),
        cmocka_unit_test(test_sample_comes_back_in_user_units),
        cmocka_unit_test(test_head_and_pretraining_scale),
        cmocka_unit_test(test_round_trip_and_resume),
        cmocka_unit_test(test_val_split_and_threshold_option),
        cmocka_unit_test(test_threshold_folds),
        cmocka_unit_test(test_nan_refusal_names_row_and_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
