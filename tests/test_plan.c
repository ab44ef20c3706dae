/* plan: the cost model, timing within the budget, plan files and their refusals. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "plan.h"
#include "test_util.h"

static ae_model *model_of(size_t d, size_t hidden, size_t code) {
    ae_config c = ae_config_default();
    c.input_dim = d;
    c.n_hidden = 1;
    c.hidden[0] = hidden;
    c.code_dim = code;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    return m;
}

static void test_cost_model_keeps_small_models_on_one_thread(void **state) {
    (void)state;
    ae_model *m = model_of(30, 16, 4); /* the tabular case of issue 14, batch 32 */
    assert_true(ae_plan_step_flops(m, 32) < AE_PLAN_MIN_FLOPS);
    assert_int_equal(ae_plan_threads_by_cost(m, 32, 2), 1);
    ae_free(m);
    m = model_of(784, 256, 64); /* W */
    /* forward and dW for the first layer, dX too for the others: 2 M N K flops each */
    const double w = 2.0 * 128 * (2.0 * 784 * 256 + 3.0 * 256 * 64 + 3.0 * 64 * 256 + 3.0 * 256 * 784);
    assert_close(ae_plan_step_flops(m, 128), w, 0, 1e-12);
    assert_int_equal(ae_plan_threads_by_cost(m, 128, 2), 2);
    assert_int_equal(ae_plan_threads_by_cost(m, 128, 1), 1);
    assert_int_equal(ae_plan_threads_by_cost(m, 8, 3), 2); /* no fewer than 4 rows a thread */
    assert_int_equal(ae_plan_threads_by_cost(m, 7, 3), 1);
    assert_int_equal(ae_plan_chunks(128, 2), 2);
    assert_int_equal(ae_plan_chunks(6, 2), 1);
    assert_int_equal(ae_plan_chunks(100000, 64), AE_MAX_CHUNKS);
    ae_free(m);
}

/* A timer that times nothing: each kind's seconds from ctx, after sleeping ctx's delay. */
typedef struct fake_timer {
    double seconds[AE_PLAN_KINDS];
    long sleep_ns;
    int calls;
    int cols; /* the column layout covers the run */
} fake_timer;

static double fake_time(ae_run *r, int warm, void *ctx) {
    fake_timer *f = ctx;
    assert_int_equal(warm, f->calls == 0); /* the first candidate only */
    f->calls++;
    if (f->sleep_ns) {
        struct timespec ts = {0, f->sleep_ns};
        nanosleep(&ts, NULL);
    }
    return f->seconds[r->kind];
}

static ae_plan_info plan_with(ae_model *m, size_t steps, fake_timer *f, ae_run *r) {
    ae_plan_request req = {m, 128, steps, 1, f->cols, fake_time, f, 0};
    assert_int_equal(ae_plan_start(&req, r), AE_OK);
    ae_plan_info info;
    assert_int_equal(ae_plan_last(&info), AE_OK);
    ae_plan_stop(r);
    return info;
}

/* A large model's threaded candidates are timed when their passes (a warm-up, then two rounds
 * of one each) fit in 2% of an epoch, the fastest kept, ROWS on a near tie; timing stops
 * when the next pass would not fit. The fake passes take a tenth of a second or so: far more
 * than the real time the plan spends starting threads, even under an emulator. */
static void test_timing_within_the_budget(void **state) {
    (void)state;
    assert_int_equal(ae_set_threads(2), AE_OK);
    ae_model *m = model_of(784, 256, 64);
    ae_run r;
    fake_timer f = {{0, 0, 0.2, 0.1}, 0, 0, 0};
    ae_plan_info info = plan_with(m, 469, &f, &r);
    assert_int_equal(info.kind, AE_PLAN_BLAS);
    assert_string_equal(info.source, "timings");
    assert_close(info.pass_seconds[AE_PLAN_ROWS], 0.2, 0, 1e-12);
    assert_close(info.pass_seconds[AE_PLAN_BLAS], 0.1, 0, 1e-12);
    assert_int_equal(f.calls, 4); /* two rounds */
    f = (fake_timer){{0, 0, 0.2, 0.185}, 0, 0, 0}; /* BLAS within 10%: ROWS bears busy cores better */
    info = plan_with(m, 469, &f, &r);
    assert_int_equal(info.kind, AE_PLAN_ROWS);
    /* the column layout as a third candidate where it covers the run */
    f = (fake_timer){{0, 0, 0.2, 0.15, 0.12}, 0, 0, 1};
    info = plan_with(m, 469, &f, &r);
    assert_int_equal(f.calls, 6);
    assert_int_equal(info.kind, AE_PLAN_COLS);
    assert_int_equal(info.chunks, 2);
    f = (fake_timer){{0, 0, 0.2, 0.15, 0.12}, 0, 0, 1};
    info = plan_with(m, 190, &f, &r); /* 4 passes are more than 2% of 190 steps */
    assert_int_equal(f.calls, 0);
    f = (fake_timer){{0, 0, 0.2, 0.1}, 0, 0, 0};
    info = plan_with(m, 140, &f, &r); /* 3 passes are more than 2% of 140 steps */
    assert_int_equal(f.calls, 0);
    assert_int_equal(info.kind, AE_PLAN_ROWS);
    assert_string_equal(info.source, "the cost model");
    /* ROWS's warm-up and timed pass took 40 ms in all against 1 ms a pass: BLAS would not fit
     * in 2% of 1000 passes */
    f = (fake_timer){{0, 0, 1e-3, 0.5e-3}, 40 * 1000 * 1000, 0, 0};
    info = plan_with(m, 1000, &f, &r);
    assert_int_equal(f.calls, 1);
    assert_int_equal(info.kind, AE_PLAN_ROWS);
    assert_true(info.pass_seconds[AE_PLAN_BLAS] == 0.0);
    ae_free(m);
    m = model_of(100, 64, 8); /* 12 MFLOP a step: threaded by the cost model, not timed */
    f = (fake_timer){{0, 0, 2e-3, 1e-3}, 0, 0, 0};
    info = plan_with(m, 1000, &f, &r);
    assert_int_equal(f.calls, 0);
    assert_int_equal(info.kind, AE_PLAN_ROWS);
    ae_free(m);
    m = model_of(30, 16, 4);
    info = plan_with(m, 1000, &f, &r);
    assert_int_equal(info.kind, AE_PLAN_ONE);
    assert_string_equal(info.source, "the cost model");
    assert_int_equal(ae_set_threads(1), AE_OK);
    info = plan_with(m, 1000, &f, &r);
    assert_string_equal(info.source, "the thread count");
    ae_free(m);
}

static void test_forced_plans_and_names(void **state) {
    (void)state;
    assert_int_equal(ae_set_plan((ae_plan_kind)5), AE_EINVAL);
    assert_int_equal(ae_set_plan((ae_plan_kind)-1), AE_EINVAL);
    assert_string_equal(ae_plan_name(AE_PLAN_ROWS), "rows");
    assert_string_equal(ae_plan_name((ae_plan_kind)9), "?");
    assert_int_equal(ae_set_threads(3), AE_OK);
    ae_model *m = model_of(30, 16, 4);
    fake_timer f = {{0}, 0, 0, 0};
    ae_run r;
    for (int k = AE_PLAN_ONE; k <= AE_PLAN_COLS; k++) {
        assert_int_equal(ae_set_plan((ae_plan_kind)k), AE_OK);
        ae_plan_info info = plan_with(m, 1000, &f, &r);
        assert_int_equal(info.kind, k);
        assert_int_equal(info.threads, k == AE_PLAN_ONE ? 1 : 3);
        assert_int_equal(info.chunks, k == AE_PLAN_ROWS || k == AE_PLAN_COLS ? 3 : 1);
        assert_string_equal(info.source, "ae_set_plan");
        char line[256];
        size_t len = ae_plan_describe(&info, line, sizeof line);
        assert_int_equal(len, strlen(line));
        assert_non_null(strstr(line, ae_plan_name((ae_plan_kind)k)));
        assert_non_null(strstr(line, "chosen by ae_set_plan"));
        char tiny[8];
        assert_int_equal(ae_plan_describe(&info, tiny, sizeof tiny), len); /* cut, full length told */
        assert_int_equal(strlen(tiny), 7);
    }
    assert_int_equal(f.calls, 0);
    assert_int_equal(ae_set_plan(AE_PLAN_AUTO), AE_OK);
    assert_int_equal(ae_set_threads(1), AE_OK);
    ae_free(m);
}

/* ---- plan files ---- */

static ae_plan_request request_for(ae_model *m, size_t batch) {
    ae_plan_request req = {m, batch, 100, 1, 1, NULL, NULL, 1};
    return req;
}

static void test_plan_text_round_trip_and_refusals(void **state) {
    (void)state;
    assert_int_equal(ae_set_threads(2), AE_OK);
    ae_model *m = model_of(784, 256, 64), *other = model_of(784, 128, 64);
    ae_plan_request req = request_for(m, 128);
    ae_run run, back;
    memset(&run, 0, sizeof run);
    run.kind = AE_PLAN_ROWS;
    run.threads = 2;
    run.chunks = 2;
    ae_plan_info info;
    memset(&info, 0, sizeof info);
    info.pass_seconds[AE_PLAN_ROWS] = 1.5e-3;
    char text[2048];
    size_t len = ae_plan_format(&req, &run, &info, text, sizeof text);
    assert_true(len > 0 && len == strlen(text));
    assert_non_null(strstr(text, "plan rows\n"));
    memset(&back, 0, sizeof back);
    assert_int_equal(ae_plan_parse(&req, text, len, &back), AE_OK);
    assert_int_equal(back.kind, AE_PLAN_ROWS);
    assert_int_equal(back.threads, 2);
    assert_int_equal(back.chunks, 2);
    /* every single byte changed before the checksum line: refused */
    const size_t crc_at = (size_t)(strstr(text, "crc32 ") - text);
    for (size_t i = 0; i < crc_at; i++) {
        char bad[2048];
        memcpy(bad, text, len);
        bad[i] ^= 0x20;
        assert_int_not_equal(ae_plan_parse(&req, bad, len, &back), AE_OK);
    }
    text[crc_at + 8] ^= 1; /* the checksum itself */
    assert_int_equal(ae_plan_parse(&req, text, len, &back), AE_EFORMAT);
    assert_non_null(strstr(ae_last_error(), "damaged"));
    assert_int_equal(ae_plan_parse(&req, text, crc_at, &back), AE_EFORMAT); /* cut short */
    assert_int_equal(ae_plan_parse(&req, "hello\n", 6, &back), AE_EFORMAT);
    assert_non_null(strstr(ae_last_error(), "not a libae plan"));
    /* another model, batch, thread count or host: a valid file, refused */
    len = ae_plan_format(&req, &run, &info, text, sizeof text);
    ae_plan_request req2 = request_for(other, 128);
    assert_int_equal(ae_plan_parse(&req2, text, len, &back), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "plan made for model 784-256-64-256-784"));
    req2 = request_for(m, 64);
    assert_int_equal(ae_plan_parse(&req2, text, len, &back), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "batch 128, not 64"));
    assert_int_equal(ae_set_threads(3), AE_OK);
    assert_int_equal(ae_plan_parse(&req, text, len, &back), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "2 threads, not 3"));
    assert_int_equal(ae_set_threads(2), AE_OK);
    char moved[2048];
    const char *host_end = strchr(strstr(text, "host "), '\n');
    int k = snprintf(moved, sizeof moved, "libae-plan 1\nhost another machine%s", host_end);
    const char *crc = strstr(moved, "crc32 ");
    k = (int)(crc - moved);
    k += snprintf(moved + k, sizeof moved - (size_t)k, "crc32 %08lx\n", crc32(0L, (const Bytef *)moved, (uInt)k));
    assert_int_equal(ae_plan_parse(&req, moved, (size_t)k, &back), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "plan made on another host (another machine)"));
    assert_int_equal(ae_set_threads(1), AE_OK);
    ae_free(m);
    ae_free(other);
}

static ae_model *train_with_plan_file(size_t hidden, ae_plan_info *info) {
    ae_model *m = model_of(40, hidden, 8);
    float *x = test_low_rank_rows(300, 40, 3);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 64;
    assert_int_equal(ae_train(m, x, 300, &o), AE_OK);
    assert_int_equal(ae_plan_last(info), AE_OK);
    free(x);
    return m;
}

static int file_text(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t len = fread(buf, 1, n - 1, f);
    buf[len] = '\0';
    fclose(f);
    return (int)len;
}

/* AE_PLAN names a plan file: made and saved by the first run, used as it is by the next (the
 * same bits), refused when damaged or made for another model, and then replaced. */
static void test_plan_file_saved_reused_and_refused(void **state) {
    (void)state;
    char path[] = "/tmp/ae_plan_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    remove(path);
    assert_int_equal(setenv("AE_PLAN", path, 1), 0);
    assert_int_equal(ae_set_plan_file(NULL), AE_OK); /* the environment's */
    assert_int_equal(ae_set_threads(2), AE_OK);
    ae_plan_test_min_flops(0.0); /* thread this small model */
    ae_plan_info info;
    ae_model *first = train_with_plan_file(24, &info);
    assert_int_equal(info.kind, AE_PLAN_ROWS);
    assert_string_equal(info.source, "the cost model");
    assert_non_null(strstr(info.note, "no plan in"));
    assert_non_null(strstr(info.note, "plan saved to"));
    char text[4096];
    assert_true(file_text(path, text, sizeof text) > 0);
    assert_non_null(strstr(text, "plan rows\n"));

    ae_model *again = train_with_plan_file(24, &info);
    assert_string_equal(info.source, "the plan file");
    assert_string_equal(info.note, "");
    assert_memory_equal(first->params, again->params, first->n_params * sizeof(float));
    ae_free(again);

    /* damaged: refused with the reason, a fresh plan made and saved over it */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 20, SEEK_SET), 0);
    assert_int_equal(fputc('#', f), '#');
    assert_int_equal(fclose(f), 0);
    again = train_with_plan_file(24, &info);
    assert_string_equal(info.source, "the cost model");
    assert_non_null(strstr(info.note, "refused: damaged plan file"));
    assert_memory_equal(first->params, again->params, first->n_params * sizeof(float));
    ae_free(again);
    again = train_with_plan_file(24, &info);
    assert_string_equal(info.source, "the plan file");
    ae_free(again);

    /* another model's plan: refused, and replaced by this model's */
    again = train_with_plan_file(20, &info);
    assert_string_equal(info.source, "the cost model");
    assert_non_null(strstr(info.note, "refused: plan made for model 40-24-8-24-40"));
    ae_free(again);
    again = train_with_plan_file(20, &info);
    assert_string_equal(info.source, "the plan file");
    ae_free(again);

    /* ae_set_plan_file overrides the environment; a forced plan reads no file */
    assert_int_equal(ae_set_plan_file(""), AE_OK);
    again = train_with_plan_file(20, &info);
    assert_string_equal(info.source, "the cost model");
    ae_free(again);
    assert_int_equal(ae_set_plan_file(NULL), AE_OK);
    assert_int_equal(ae_set_plan(AE_PLAN_BLAS), AE_OK);
    again = train_with_plan_file(20, &info);
    assert_string_equal(info.source, "ae_set_plan");
    ae_free(again);
    assert_int_equal(ae_set_plan(AE_PLAN_AUTO), AE_OK);
    char long_path[5000];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    assert_int_equal(ae_set_plan_file(long_path), AE_EINVAL);

    ae_plan_test_min_flops(-1.0);
    assert_int_equal(ae_set_threads(1), AE_OK);
    assert_int_equal(unsetenv("AE_PLAN"), 0);
    remove(path);
    ae_free(first);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_model_keeps_small_models_on_one_thread),
        cmocka_unit_test(test_timing_within_the_budget),
        cmocka_unit_test(test_forced_plans_and_names),
        cmocka_unit_test(test_plan_text_round_trip_and_refusals),
        cmocka_unit_test(test_plan_file_saved_reused_and_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
