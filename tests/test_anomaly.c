/* Anomaly detection: thresholds against values worked out by hand, per-feature errors against
 * the per-row score, calibration and flags, and the threshold's trip through the model file. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "test_util.h"

#include <string.h>
#include <unistd.h>

#include "model.h"

static void test_quantile_by_hand(void **state) {
    (void)state;
    const float s[5] = {5.0f, 1.0f, 3.0f, 2.0f, 4.0f}; /* sorted: 1 2 3 4 5 */
    float t = -1.0f;
    assert_int_equal(ae_threshold_from_scores(s, 5, AE_THRESHOLD_QUANTILE, 0.5, &t), AE_OK);
    assert_close(t, 3.0, 0.0, 0.0);
    /* h = 0.9 * 4 = 3.6: 4 + 0.6 * (5 - 4) */
    assert_int_equal(ae_threshold_from_scores(s, 5, AE_THRESHOLD_QUANTILE, 0.9, &t), AE_OK);
    assert_close(t, 4.6, 1e-6, 0.0);
    /* h = 0.3 * 4 = 1.2: 2 + 0.2 * (3 - 2) */
    assert_int_equal(ae_threshold_from_scores(s, 5, AE_THRESHOLD_QUANTILE, 0.3, &t), AE_OK);
    assert_close(t, 2.2, 1e-6, 0.0);
    assert_int_equal(ae_threshold_from_scores(s, 5, AE_THRESHOLD_QUANTILE, 0.0, &t), AE_OK);
    assert_close(t, 1.0, 0.0, 0.0);
    assert_int_equal(ae_threshold_from_scores(s, 5, AE_THRESHOLD_QUANTILE, 1.0, &t), AE_OK);
    assert_close(t, 5.0, 0.0, 0.0);
    /* even count: the median halves the middle pair; one score is its own quantile */
    const float e[4] = {10.0f, 0.0f, 4.0f, 2.0f};
    assert_int_equal(ae_threshold_from_scores(e, 4, AE_THRESHOLD_QUANTILE, 0.5, &t), AE_OK);
    assert_close(t, 3.0, 1e-6, 0.0);
    assert_int_equal(ae_threshold_from_scores(e, 1, AE_THRESHOLD_QUANTILE, 0.7, &t), AE_OK);
    assert_close(t, 10.0, 0.0, 0.0);
    /* the input is left as it was */
    assert_true(s[0] == 5.0f && s[4] == 4.0f);
}

static void test_mean_std_by_hand(void **state) {
    (void)state;
    /* mean 5, population standard deviation 2 */
    const float s[8] = {2.0f, 4.0f, 4.0f, 4.0f, 5.0f, 5.0f, 7.0f, 9.0f};
    float t = -1.0f;
    assert_int_equal(ae_threshold_from_scores(s, 8, AE_THRESHOLD_MEAN_STD, 1.5, &t), AE_OK);
    assert_close(t, 8.0, 1e-6, 0.0);
    assert_int_equal(ae_threshold_from_scores(s, 8, AE_THRESHOLD_MEAN_STD, 0.0, &t), AE_OK);
    assert_close(t, 5.0, 1e-6, 0.0);
    assert_int_equal(ae_threshold_from_scores(s, 8, AE_THRESHOLD_MEAN_STD, 3.0, &t), AE_OK);
    assert_close(t, 11.0, 1e-6, 0.0);
}

static void test_threshold_rejects_bad_input(void **state) {
    (void)state;
    float s[3] = {1.0f, 2.0f, 3.0f}, t = 7.0f;
    assert_int_equal(ae_threshold_from_scores(NULL, 3, AE_THRESHOLD_QUANTILE, 0.5, &t), AE_EINVAL);
    assert_int_equal(ae_threshold_from_scores(s, 0, AE_THRESHOLD_QUANTILE, 0.5, &t), AE_EINVAL);
    assert_int_equal(ae_threshold_from_scores(s, 3, AE_THRESHOLD_QUANTILE, 0.5, NULL), AE_EINVAL);
    assert_int_equal(ae_threshold_from_scores(s, 3, AE_THRESHOLD_QUANTILE, -0.1, &t), AE_EINVAL);
    assert_int_equal(ae_threshold_from_scores(s, 3, AE_THRESHOLD_QUANTILE, 1.1, &t), AE_EINVAL);
    assert_int_equal(ae_threshold_from_scores(s, 3, AE_THRESHOLD_QUANTILE, NAN, &t), AE_EINVAL);
    assert_int_equal(ae_threshold_from_scores(s, 3, AE_THRESHOLD_MEAN_STD, -1.0, &t), AE_EINVAL);
    assert_int_equal(ae_threshold_from_scores(s, 3, AE_THRESHOLD_MEAN_STD, INFINITY, &t), AE_EINVAL);
    assert_int_equal(ae_threshold_from_scores(s, 3, AE_THRESHOLD_NONE, 0.5, &t), AE_EINVAL);
    assert_int_equal(ae_threshold_from_scores(s, 3, AE_THRESHOLD_MANUAL, 0.5, &t), AE_EINVAL);
    s[1] = NAN;
    assert_int_equal(ae_threshold_from_scores(s, 3, AE_THRESHOLD_QUANTILE, 0.5, &t), AE_ENONFINITE);
    assert_close(t, 7.0, 0.0, 0.0); /* untouched on failure */
}

/* A small trained model and data it was trained on. */
static ae_model *trained_model(float **x, size_t n, size_t d) {
    ae_config c = ae_config_default();
    c.input_dim = d;
    c.n_hidden = 1;
    c.hidden[0] = 8;
    c.code_dim = 3;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    *x = malloc(n * d * sizeof(float));
    assert_non_null(*x);
    test_fill(*x, n * d, 17, 0.0f, 1.0f);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 3;
    o.batch_size = 16;
    assert_int_equal(ae_train(m, *x, n, &o), AE_OK);
    return m;
}

static void test_feature_errors_average_to_row_error(void **state) {
    (void)state;
    const size_t n = 300, d = 10; /* more rows than one inference chunk (256) */
    float *x;
    ae_model *m = trained_model(&x, n, d);
    float *row = malloc(n * sizeof(float)), *feat = malloc(n * d * sizeof(float)), *rec = malloc(n * d * sizeof(float));
    assert_int_equal(ae_score(m, x, n, row), AE_OK);
    assert_int_equal(ae_score_features(m, x, n, feat), AE_OK);
    assert_int_equal(ae_reconstruct(m, x, n, rec), AE_OK);
    for (size_t i = 0; i < n; i++) {
        double mean = 0.0;
        for (size_t j = 0; j < d; j++) {
            const double e = ((double)rec[i * d + j] - x[i * d + j]) * ((double)rec[i * d + j] - x[i * d + j]);
            assert_close(feat[i * d + j], e, 1e-9, 1e-5);
            mean += feat[i * d + j];
        }
        assert_close(mean / (double)d, row[i], 1e-9, 1e-5);
        assert_true(row[i] > 0.0f);
    }
    /* one input far off shows up in its feature only */
    x[5 * d + 3] += 50.0f;
    assert_int_equal(ae_score_features(m, x, n, feat), AE_OK);
    for (size_t j = 0; j < d; j++)
        if (j != 3) assert_true(feat[5 * d + 3] > 100.0f * feat[5 * d + j]);
    assert_int_equal(ae_score_features(m, x, n, NULL), AE_EINVAL);
    assert_int_equal(ae_score_features(NULL, x, n, feat), AE_EINVAL);
    x[2] = NAN;
    assert_int_equal(ae_score_features(m, x, n, feat), AE_ENONFINITE);
    free(row);
    free(feat);
    free(rec);
    free(x);
    ae_free(m);
}

static void test_calibrate_and_flag(void **state) {
    (void)state;
    const size_t n = 200, d = 10;
    float *x;
    ae_model *m = trained_model(&x, n, d);
    float t = 0.0f, scores[200], by_hand;
    unsigned char flags[200];
    assert_int_equal(ae_threshold_get(m, &t, NULL, NULL), AE_EINVAL); /* none yet */
    assert_int_equal(ae_flag(m, x, n, flags, NULL), AE_EINVAL);
    assert_int_equal(ae_threshold_calibrate(m, x, n, AE_THRESHOLD_QUANTILE, 0.9, &t), AE_OK);
    assert_int_equal(ae_score(m, x, n, scores), AE_OK);
    assert_int_equal(ae_threshold_from_scores(scores, n, AE_THRESHOLD_QUANTILE, 0.9, &by_hand), AE_OK);
    assert_close(t, by_hand, 0.0, 0.0);
    float got = 0.0f;
    ae_threshold_method method = AE_THRESHOLD_NONE;
    double param = 0.0;
    assert_int_equal(ae_threshold_get(m, &got, &method, &param), AE_OK);
    assert_close(got, t, 0.0, 0.0);
    assert_int_equal(method, AE_THRESHOLD_QUANTILE);
    assert_close(param, 0.9, 0.0, 0.0);
    /* flags: score above the threshold; 10% of the calibration rows */
    float s2[200];
    assert_int_equal(ae_flag(m, x, n, flags, s2), AE_OK);
    size_t above = 0;
    for (size_t i = 0; i < n; i++) {
        assert_close(s2[i], scores[i], 0.0, 0.0);
        assert_int_equal(flags[i], scores[i] > t);
        above += flags[i];
    }
    assert_int_equal(above, 20);
    /* a failed calibration keeps the threshold; a manual one replaces it */
    assert_int_equal(ae_threshold_calibrate(m, x, n, AE_THRESHOLD_QUANTILE, 2.0, NULL), AE_EINVAL);
    assert_int_equal(ae_threshold_get(m, &got, &method, NULL), AE_OK);
    assert_close(got, t, 0.0, 0.0);
    assert_int_equal(ae_threshold_calibrate(m, x, n, AE_THRESHOLD_MEAN_STD, 2.0, &t), AE_OK);
    assert_int_equal(ae_threshold_from_scores(scores, n, AE_THRESHOLD_MEAN_STD, 2.0, &by_hand), AE_OK);
    assert_close(t, by_hand, 0.0, 0.0);
    assert_int_equal(ae_threshold_set(m, NAN), AE_EINVAL);
    assert_int_equal(ae_threshold_set(m, 0.0f), AE_OK); /* everything is above 0 */
    assert_int_equal(ae_flag(m, x, n, flags, NULL), AE_OK);
    for (size_t i = 0; i < n; i++) assert_int_equal(flags[i], 1);
    assert_int_equal(ae_threshold_get(m, &got, &method, &param), AE_OK);
    assert_int_equal(method, AE_THRESHOLD_MANUAL);
    assert_int_equal(ae_flag(m, x, n, NULL, NULL), AE_EINVAL);
    x[0] = INFINITY;
    assert_int_equal(ae_flag(m, x, n, flags, NULL), AE_ENONFINITE);
    assert_int_equal(ae_threshold_calibrate(m, x, n, AE_THRESHOLD_QUANTILE, 0.5, NULL), AE_ENONFINITE);
    free(x);
    ae_free(m);
}

/* The first occurrence of the n bytes of w in buf[0..len), or NULL. */
static unsigned char *find_bytes(unsigned char *buf, size_t len, const char *w, size_t n) {
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, w, n) == 0) return buf + i;
    return NULL;
}

static size_t read_all(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void test_threshold_survives_save_load(void **state) {
    (void)state;
    char dir[] = "/tmp/ae_anomaly_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    const size_t n = 100, d = 10;
    float *x;
    ae_model *m = trained_model(&x, n, d), *back;
    const ae_threshold_method methods[3] = {AE_THRESHOLD_QUANTILE, AE_THRESHOLD_MEAN_STD, AE_THRESHOLD_MANUAL};
    const double params[3] = {0.95, 2.5, 0.0};
    for (int i = 0; i < 3; i++) {
        float t = 0.0f, t2 = -1.0f;
        if (methods[i] == AE_THRESHOLD_MANUAL) {
            t = 0.0123456789f;
            assert_int_equal(ae_threshold_set(m, t), AE_OK);
        } else {
            assert_int_equal(ae_threshold_calibrate(m, x, n, methods[i], params[i], &t), AE_OK);
        }
        assert_int_equal(ae_save(m, path), AE_OK);
        assert_int_equal(ae_load(&back, path), AE_OK);
        ae_threshold_method method;
        double param;
        assert_int_equal(ae_threshold_get(back, &t2, &method, &param), AE_OK);
        assert_true(t2 == t); /* bit for bit */
        assert_int_equal(method, methods[i]);
        assert_true(param == params[i]);
        unsigned char f1[100], f2[100];
        assert_int_equal(ae_flag(m, x, n, f1, NULL), AE_OK);
        assert_int_equal(ae_flag(back, x, n, f2, NULL), AE_OK);
        assert_int_equal(memcmp(f1, f2, n), 0);
        ae_free(back);
    }
    /* a malformed "anomaly" entry is a malformed file: an unknown method (same length) */
    static unsigned char buf[1 << 16];
    size_t len = read_all(path, buf, sizeof buf);
    assert_true(len < sizeof buf);
    unsigned char *hit = find_bytes(buf, len, "manual", 6);
    assert_non_null(hit);
    memcpy(hit, "manuel", 6);
    assert_int_equal(ae_load_buffer(&back, buf, len), AE_EFORMAT);
    assert_null(back);
    memcpy(hit, "manual", 6);
    assert_int_equal(ae_load_buffer(&back, buf, len), AE_OK);
    ae_free(back);
    free(x);
    ae_free(m);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantile_by_hand),
        cmocka_unit_test(test_mean_std_by_hand),
        cmocka_unit_test(test_threshold_rejects_bad_input),
        cmocka_unit_test(test_feature_errors_average_to_row_error),
        cmocka_unit_test(test_calibrate_and_flag),
        cmocka_unit_test(test_threshold_survives_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
