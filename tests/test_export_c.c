/* ae_export_c: the header exported, compiled by the C compiler that built the tests (C99,
 * -pedantic -Wall -Wextra -Werror, nothing linked but libm for the driver's printf), run on
 * rows, and compared with the library: ae_score, ae_reconstruct, ae_encode, ae_flag and
 * ae_head_predict, for every activation, tied weights (shared and copied), a VAE, both heads,
 * input scaling and batch norm; int8 within the tolerance stated at check_int8; the refusals
 * (bad names, NULL arguments, unwritable paths, failed allocations and writes) leave no header
 * and an existing file untouched. */
#include "test_util.h"

#include <ae.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#include "export_util.h"
#include "io_file.h"
#include "tensor.h"

#ifndef AE_TEST_CC
#define AE_TEST_CC "cc"
#endif

#define D 12
#define N 96

static char dir[512];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "%s/export-c-test", AE_TEST_WORK);
    mkdir(AE_TEST_WORK, 0777);
    mkdir(dir, 0777);
}

static const char *path_of(const char *name) {
    static char p[4][1024];
    static int i;
    i = (i + 1) & 3;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

static ae_config small_config(ae_activation hidden, ae_activation code, ae_activation out) {
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.n_hidden = 2;
    c.hidden[0] = 10;
    c.hidden[1] = 7;
    c.code_dim = 3;
    c.hidden_act = hidden;
    c.code_act = code;
    c.output_act = out;
    c.scaling = AE_SCALE_NONE;
    return c;
}

/* A model of cfg trained 3 epochs on low-rank rows (batch norm's statistics move). */
static ae_model *trained(const ae_config *cfg, const float *x) {
    ae_model *m = NULL;
    assert_int_equal(ae_create(&m, cfg), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 3;
    o.batch_size = 16;
    assert_int_equal(ae_train(m, x, N, &o), AE_OK);
    return m;
}

/* Exports m as name (opts int8, calibration rows), builds the driver and runs it on x. */
static void export_and_run(const ae_model *m, const char *name, const ae_export_opts *base, const float *x,
                           export_out *o, ae_export_report *rep) {
    ae_export_opts opts = base ? *base : ae_export_opts_default();
    opts.name = name;
    opts.report = rep;
    char header[1024];
    snprintf(header, sizeof header, "%s/%s.h", dir, name);
    assert_int_equal(ae_export_c(m, header, &opts), AE_OK);
    ae_config c;
    ae_get_config(m, &c);
    size_t outputs = 0;
    const int head = ae_head_get(m, NULL, &outputs) == AE_OK,
              flag = ae_threshold_get(m, &(float){0}, NULL, NULL) == AE_OK;
    assert_int_equal(export_build_host(AE_TEST_CC, AE_TEST_SRC, dir, name, flag, head), 0);
    assert_int_equal(export_run_host(dir, name, x, N, c.input_dim, c.code_dim, head ? outputs : 0, o), 0);
}

/* The float header against the library: relative rel, absolute 1e-6 (the header's own exp and
 * tanh are within an ulp or two of the library's; batch norm folded rounds differently). */
static void check_float(const ae_model *m, const char *name, const float *x, double rel) {
    export_out o;
    ae_export_report rep;
    export_and_run(m, name, NULL, x, &o, &rep);
    ae_config c;
    ae_get_config(m, &c);
    float *score = malloc(N * sizeof(float)), *rec = malloc(N * D * sizeof(float)),
          *code = malloc(N * c.code_dim * sizeof(float));
    assert_int_equal(ae_score(m, x, N, score), AE_OK);
    assert_int_equal(ae_reconstruct(m, x, N, rec), AE_OK);
    assert_int_equal(ae_encode(m, x, N, code), AE_OK);
    for (size_t i = 0; i < N; i++) assert_close(o.score[i], score[i], 1e-9, rel);
    for (size_t i = 0; i < N * D; i++) assert_close(o.rec[i], rec[i], 1e-6, rel);
    for (size_t i = 0; i < N * c.code_dim; i++) assert_close(o.code[i], code[i], 1e-6, rel);
    float t;
    if (ae_threshold_get(m, &t, NULL, NULL) == AE_OK) {
        unsigned char flags[N];
        assert_int_equal(ae_flag(m, x, N, flags, NULL), AE_OK);
        for (size_t i = 0; i < N; i++)
            if (fabs(score[i] - t) > 1e-6 * t) assert_int_equal((int)o.flag[i], flags[i]);
    }
    size_t outputs;
    if (ae_head_get(m, NULL, &outputs) == AE_OK) {
        float *p = malloc(N * outputs * sizeof(float));
        assert_int_equal(ae_head_predict(m, x, N, p), AE_OK);
        for (size_t i = 0; i < N * outputs; i++) assert_close(o.head[i], p[i], 1e-6, rel);
        free(p);
    }
    assert_int_equal(rep.work_floats, D + 2 * 12);
    free(score);
    free(rec);
    free(code);
    export_out_free(&o);
}

static float *rows(void) { return test_low_rank_rows(N, D, 7); }

static void test_every_activation(void **state) {
    (void)state;
    float *x = rows();
    const ae_activation acts[] = {AE_ACT_LINEAR, AE_ACT_RELU, AE_ACT_LEAKY_RELU, AE_ACT_SIGMOID, AE_ACT_TANH};
    { /* softplus is not in the header yet: refused with the reason, nothing written */
        ae_config sc = small_config(AE_ACT_SOFTPLUS, AE_ACT_LINEAR, AE_ACT_SIGMOID);
        ae_model *sm;
        assert_int_equal(ae_create(&sm, &sc), AE_OK);
        assert_int_equal(ae_export_c(sm, "softplus_refused.h", NULL), AE_EINVAL);
        assert_non_null(strstr(ae_last_error(), "softplus"));
        assert_null(fopen("softplus_refused.h", "rb"));
        ae_free(sm);
        ae_config cc = ae_config_default(); /* nor conv layers */
        cc.input_shape[0] = 1;
        cc.input_shape[1] = 6;
        cc.input_shape[2] = 6;
        cc.input_dim = 36;
        cc.n_conv = 1;
        cc.conv[0] = (ae_conv_spec){2, 3, 2};
        cc.code_dim = 4;
        assert_int_equal(ae_create(&sm, &cc), AE_OK);
        assert_int_equal(ae_export_c(sm, "conv_refused.h", NULL), AE_EINVAL);
        assert_non_null(strstr(ae_last_error(), "conv2d"));
        assert_null(fopen("conv_refused.h", "rb"));
        ae_free(sm);
    }
    const char *names[] = {"act_linear", "act_relu", "act_leaky", "act_sigmoid", "act_tanh"};
    for (size_t a = 0; a < 5; a++) {
        ae_config c = small_config(acts[a], acts[(a + 1) % 5], acts[a]);
        ae_model *m = trained(&c, x);
        check_float(m, names[a], x, 1e-5);
        ae_free(m);
    }
    free(x);
}

static void test_tied_vae_scaling(void **state) {
    (void)state;
    float *x = rows();
    ae_config c = small_config(AE_ACT_TANH, AE_ACT_LINEAR, AE_ACT_SIGMOID);
    c.tied_weights = 1; /* shared arrays, read transposed */
    ae_model *m = trained(&c, x);
    ae_export_report rep;
    export_out o;
    export_and_run(m, "tied", NULL, x, &o, &rep);
    export_out_free(&o);
    /* weights once (12*10 + 10*7 + 7*3), biases of 6 layers (10+7+3+7+10+12) */
    assert_int_equal(rep.weight_bytes, 4 * (12 * 10 + 10 * 7 + 7 * 3 + 10 + 7 + 3 + 7 + 10 + 12));
    check_float(m, "tied", x, 1e-5);
    ae_free(m);

    c = small_config(AE_ACT_RELU, AE_ACT_LINEAR, AE_ACT_LINEAR);
    c.variational = 1;
    m = trained(&c, x);
    check_float(m, "vae", x, 1e-5); /* encode: mu */
    ae_free(m);

    c = small_config(AE_ACT_LEAKY_RELU, AE_ACT_LINEAR, AE_ACT_LINEAR);
    c.scaling = AE_SCALE_ZSCORE;
    for (size_t i = 0; i < N * D; i++) x[i] = x[i] * 40.0f - 7.0f; /* units far from [0, 1] */
    m = trained(&c, x);
    ae_scaling mode;
    assert_int_equal(ae_scaling_get(m, &mode, NULL, NULL, NULL), AE_OK);
    assert_int_equal(mode, AE_SCALE_ZSCORE);
    check_float(m, "scaled", x, 1e-5);
    ae_free(m);
    free(x);
}

static void test_batchnorm_head_flag(void **state) {
    (void)state;
    float *x = rows(), y[N];
    for (size_t i = 0; i < N; i++) y[i] = (float)(i % 3);
    ae_config c = small_config(AE_ACT_RELU, AE_ACT_LINEAR, AE_ACT_SIGMOID);
    c.batch_norm = 1;
    ae_model *m = trained(&c, x);
    assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 3), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    assert_int_equal(ae_head_train(m, x, N, y, 1, &o), AE_OK);
    assert_int_equal(ae_threshold_calibrate(m, x, N, AE_THRESHOLD_QUANTILE, 0.9, NULL), AE_OK);
    check_float(m, "bn_softmax", x, 1e-4); /* folded: W' = W gamma / sqrt(var + eps) */
    ae_free(m);

    c.tied_weights = 1; /* batch norm and tied: the decoder's weights copied, then folded */
    c.hidden_act = AE_ACT_SIGMOID;
    m = trained(&c, x);
    assert_int_equal(ae_head_create(m, AE_HEAD_LINEAR, 2), AE_OK);
    float t[2 * N];
    for (size_t i = 0; i < 2 * N; i++) t[i] = x[i];
    assert_int_equal(ae_head_train(m, x, N, t, 0, &o), AE_OK);
    check_float(m, "bn_tied_linear", x, 1e-4);
    ae_free(m);
    free(x);
}

/* int8, stated tolerance: on the calibration rows, the mean score error |int8 - float| is
 * below 10% of the mean float score, every reconstructed value within 0.05 of the float
 * model's (outputs in [0, 1]); the report's score error is the header's, to float rounding
 * (the library runs the header's integer arithmetic). */
static void check_int8(const ae_model *m, const char *name, const float *x) {
    ae_export_opts opts = ae_export_opts_default();
    opts.int8 = 1;
    opts.calib_x = x;
    opts.calib_n = N;
    ae_export_report rep;
    export_out o;
    export_and_run(m, name, &opts, x, &o, &rep);
    float score[N], *rec = malloc(N * D * sizeof(float));
    assert_int_equal(ae_score(m, x, N, score), AE_OK);
    assert_int_equal(ae_reconstruct(m, x, N, rec), AE_OK);
    double diff = 0.0, base = 0.0, worst = 0.0;
    for (size_t i = 0; i < N; i++) {
        const double e = fabs((double)o.score[i] - (double)score[i]);
        diff += e;
        base += score[i];
        worst = e > worst ? e : worst;
    }
    assert_int_equal(rep.calib_rows, N);
    assert_close(rep.score_error, base > 0.0 ? diff / base : diff, 1e-12, 1e-9);
    assert_close(rep.score_max_error, worst, 1e-12, 1e-9);
    printf("%s: int8 score error %.4f (max %.3g) on %zu rows, weight bytes %zu\n", name, rep.score_error,
           rep.score_max_error, rep.calib_rows, rep.weight_bytes);
    assert_true(rep.score_error < 0.10);
    for (size_t i = 0; i < N * D; i++) assert_close(o.rec[i], rec[i], 0.05, 0.0);
    free(rec);
    export_out_free(&o);
}

static void test_int8(void **state) {
    (void)state;
    float *x = rows(), y[N];
    for (size_t i = 0; i < N; i++) y[i] = (float)(i % 4);
    const ae_activation acts[] = {AE_ACT_RELU, AE_ACT_LEAKY_RELU, AE_ACT_SIGMOID, AE_ACT_TANH};
    const char *names[] = {"q_relu", "q_leaky", "q_sigmoid", "q_tanh"};
    for (size_t a = 0; a < 4; a++) {
        ae_config c = small_config(acts[a], a == 3 ? AE_ACT_TANH : AE_ACT_LINEAR, AE_ACT_SIGMOID);
        c.batch_norm = a == 1;
        c.tied_weights = a == 2;
        c.variational = a == 0;
        ae_model *m = trained(&c, x);
        if (a == 0) {
            assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 4), AE_OK);
            ae_train_opts o = ae_train_opts_default();
            o.epochs = 2;
            assert_int_equal(ae_head_train(m, x, N, y, 1, &o), AE_OK);
            assert_int_equal(ae_threshold_calibrate(m, x, N, AE_THRESHOLD_QUANTILE, 0.5, NULL), AE_OK);
        }
        check_int8(m, names[a], x);
        ae_free(m);
    }
    /* int8 weights are a quarter of float's, plus per-channel requantisation */
    ae_config c = small_config(AE_ACT_RELU, AE_ACT_LINEAR, AE_ACT_SIGMOID);
    ae_model *m = trained(&c, x);
    ae_export_opts opts = ae_export_opts_default();
    ae_export_report rf, rq;
    opts.report = &rf;
    assert_int_equal(ae_export_c(m, path_of("size_f.h"), &opts), AE_OK);
    opts.int8 = 1, opts.calib_x = x, opts.calib_n = N, opts.report = &rq;
    assert_int_equal(ae_export_c(m, path_of("size_q.h"), &opts), AE_OK);
    const size_t w = 12 * 10 + 10 * 7 + 7 * 3, b = 10 + 7 + 3 + 7 + 10 + 12;
    assert_int_equal(rf.weight_bytes, 4 * (2 * w + b));
    /* int8 weights, int32 biases, 5 bytes of multiplier and shift per channel but the output
     * layer's, which has a float scale */
    assert_int_equal(rq.weight_bytes, 2 * w + 4 * b + 5 * (b - 12) + 4 * 12);
    ae_free(m);
    free(x);
}

/* ---- the files between the library and the drivers ---- */

/* Little-endian on every host, so that a driver the host's cc built reads what a library of
 * the other byte order wrote (export_util.h, export_driver.c): known bytes both ways. */
static void test_driver_files_little_endian(void **state) {
    (void)state;
    const float rows2[2] = {1.0f, -2.5f};
    const char *p = path_of("le_in.bin");
    assert_int_equal(export_write_rows(p, rows2, 1, 2), 0);
    static const unsigned char want[12] = {1, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0};
    unsigned char got[16];
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    assert_int_equal(fread(got, 1, sizeof got, f), sizeof want);
    fclose(f);
    assert_memory_equal(got, want, sizeof want);
    /* one row of d = 1, k = 1, no head: score 0.5, flag 1, code -1, reconstruction 2 */
    static const unsigned char out[16] = {0, 0, 0, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xbf, 0, 0, 0, 0x40};
    p = path_of("le_out.bin");
    f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(out, 1, sizeof out, f), sizeof out);
    assert_int_equal(fclose(f), 0);
    export_out o;
    assert_int_equal(export_read_out(p, 1, 1, 1, 0, &o), 0);
    assert_close(o.score[0], 0.5, 0, 0);
    assert_close(o.flag[0], 1.0, 0, 0);
    assert_close(o.code[0], -1.0, 0, 0);
    assert_close(o.rec[0], 2.0, 0, 0);
    export_out_free(&o);
}

/* ---- refusals ---- */

static void write_file(const char *p, const char *text) {
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void assert_file_is(const char *p, const char *text) {
    char buf[256] = {0};
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(text));
    assert_memory_equal(buf, text, n);
}

/* No file in dir but those named, no temporary left. */
static void assert_no_temporaries(void) {
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    for (struct dirent *e; (e = readdir(dd)) != NULL;)
        if (strstr(e->d_name, ".tmp.")) fail_msg("a temporary was left: %s", e->d_name);
    closedir(dd);
}

static void test_refusals(void **state) {
    (void)state;
    float *x = rows();
    ae_config c = small_config(AE_ACT_RELU, AE_ACT_LINEAR, AE_ACT_SIGMOID);
    ae_model *m = trained(&c, x);
    const char *p = path_of("kept.h");
    write_file(p, "existing\n");
    ae_export_opts o = ae_export_opts_default();
    const char *bad[] = {"",       "9lives",      "my-model",
                         "int",    "static",      "__x",
                         "_Model", "caf\xc3\xa9", "a_name_that_is_far_too_long_for_an_identifier_prefix"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.name = bad[i];
        assert_int_equal(ae_export_c(m, p, &o), AE_EINVAL);
        assert_non_null(strstr(ae_last_error(), "name"));
        assert_file_is(p, "existing\n");
    }
    o.name = NULL;
    assert_int_equal(ae_export_c(m, p, &o), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "name"));
    o.name = "ok_name";
    assert_int_equal(ae_export_c(NULL, p, &o), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "no model"));
    assert_int_equal(ae_export_c(m, NULL, &o), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "path"));
    o.int8 = 1; /* no calibration rows */
    assert_int_equal(ae_export_c(m, p, &o), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "calibration"));
    float bad_rows[D] = {0};
    bad_rows[3] = NAN;
    o.calib_x = bad_rows, o.calib_n = 1;
    assert_int_equal(ae_export_c(m, p, &o), AE_ENONFINITE);
    assert_file_is(p, "existing\n");
    o = ae_export_opts_default();
    o.int8 = 2;
    assert_int_equal(ae_export_c(m, p, &o), AE_EINVAL);
    /* unwritable: a missing folder, a folder as the path */
    o = ae_export_opts_default();
    assert_int_equal(ae_export_c(m, "/nonexistent-folder/x/model.h", &o), AE_EIO);
    assert_non_null(strstr(ae_last_error(), "/nonexistent-folder/x/model.h"));
    assert_int_equal(ae_export_c(m, dir, &o), AE_EIO);
    ae_free(m);
    free(x);
    assert_no_temporaries();
}

static size_t full_at;
static size_t full_disk(size_t written, size_t n, void *user) {
    (void)user;
    return written + n <= full_at ? n : written < full_at ? full_at - written : 0;
}

static size_t fail_at, seen;
static int failing_alloc(size_t bytes, void *user) {
    (void)bytes;
    (void)user;
    return ++seen == fail_at;
}

static void test_failed_writes_and_allocations(void **state) {
    (void)state;
    float *x = rows();
    ae_config c = small_config(AE_ACT_RELU, AE_ACT_LINEAR, AE_ACT_SIGMOID);
    c.batch_norm = 1;
    ae_model *m = trained(&c, x);
    const char *p = path_of("kept2.h");
    write_file(p, "existing\n");
    ae_export_opts o = ae_export_opts_default();
    o.int8 = 1, o.calib_x = x, o.calib_n = N;
    assert_int_equal(ae_export_c(m, path_of("full.h"), &o), AE_OK);
    struct stat st;
    assert_int_equal(stat(path_of("full.h"), &st), 0);
    const size_t size = (size_t)st.st_size;
    for (full_at = 0; full_at < size; full_at += size / 10 + 1) {
        ae_set_write_hook(full_disk, NULL);
        const int rc = ae_export_c(m, p, &o);
        ae_set_write_hook(NULL, NULL);
        assert_int_equal(rc, AE_EIO);
        assert_file_is(p, "existing\n");
    }
    int done = 0;
    for (fail_at = 1; !done; fail_at++) {
        seen = 0;
        ae_set_alloc_hook(failing_alloc, NULL);
        const int rc = ae_export_c(m, p, &o);
        ae_set_alloc_hook(NULL, NULL);
        if (rc == AE_OK) {
            done = 1;
        } else {
            assert_int_equal(rc, AE_ENOMEM);
            assert_file_is(p, "existing\n");
        }
    }
    assert_true(fail_at > 10);
    assert_no_temporaries();
    ae_free(m);
    free(x);
}

/* The header alone compiles as C99 under -pedantic -Wall -Wextra -Werror (and more), and two
 * models live in one program. */
static void test_header_alone(void **state) {
    (void)state;
    float *x = rows();
    ae_config c = small_config(AE_ACT_TANH, AE_ACT_LINEAR, AE_ACT_SIGMOID);
    ae_model *m = trained(&c, x);
    assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 2), AE_OK);
    assert_int_equal(ae_threshold_set(m, 0.01f), AE_OK);
    ae_export_opts o = ae_export_opts_default();
    o.name = "Alone";
    assert_int_equal(ae_export_c(m, path_of("Alone.h"), &o), AE_OK);
    o.name = "alone8", o.int8 = 1, o.calib_x = x, o.calib_n = N;
    assert_int_equal(ae_export_c(m, path_of("alone8.h"), &o), AE_OK);
    const char *flags = "-std=c99 -pedantic -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes";
    assert_int_equal(export_sh("%s %s -fsyntax-only -x c %s", AE_TEST_CC, flags, path_of("Alone.h")), 0);
    assert_int_equal(export_sh("%s %s -fsyntax-only -x c %s", AE_TEST_CC, flags, path_of("alone8.h")), 0);
    write_file(path_of("two.c"), "#include \"Alone.h\"\n#include \"alone8.h\"\n"
                                 "int main(void) { float x[ALONE_INPUT_DIM] = {0};\n"
                                 "  return Alone_flag(x) + alone8_classify(x) + (ALONE8_INT8 != 1) > 100; }\n");
    assert_true(export_sh("%s %s %s -o %s", AE_TEST_CC, flags, path_of("two.c"), path_of("two")) == 0);
    assert_int_equal(export_sh("%s", path_of("two")), 0);
    ae_free(m);
    free(x);
}

int main(void) {
    make_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_activation),
        cmocka_unit_test(test_tied_vae_scaling),
        cmocka_unit_test(test_batchnorm_head_flag),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_driver_files_little_endian),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_failed_writes_and_allocations),
        cmocka_unit_test(test_header_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
