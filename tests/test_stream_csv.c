#define _POSIX_C_SOURCE 200809L
/* Text files streamed (io_seq over io_csv_stream): the rows equal ae_data_load's, read in
 * blocks of any size, plain or gzip, across the reader's buffer (a file of about 600 KB with a
 * BOM, CRLF, blank lines, quotes and pandas' index column); a malformed line is refused with
 * ae_data_load's words and line; ae_train_stream on a CSV trains as on the same rows in .npy;
 * a line made malformed mid-run stops training, names the line and leaves the last
 * checkpoint. */
#include "test_util.h"

#include <string.h>
#include <zlib.h>

#include "io_seq.h"
#include "train.h"

enum { N = 6000, D = 12, B = 32 };

static const char *csv = "test_stream_csv.csv", *gz = "test_stream_csv.csv.gz", *npy = "test_stream_csv.npy";

/* Row r, column j: a value with few digits, so that the text is exact enough for any reader. */
static float value(size_t r, size_t j) { return (float)((r * 7 + j * 13) % 1000) / 8.0f - 40.0f; }

/* pandas' to_csv: a BOM (utf-8-sig), an unnamed index column, a quoted header, CRLF; a blank
 * line every 500 rows. bad_line > 0: that line's third field is not a number. */
static void write_csv(const char *path, size_t bad_line) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("\xEF\xBB\xBF", f);
    for (size_t j = 0; j < D; j++) fprintf(f, ",\"c%zu\"", j);
    fputs("\r\n", f);
    size_t line = 1;
    for (size_t r = 0; r < N; r++) {
        if (r % 500 == 499) {
            fputs("  \r\n", f);
            line++;
        }
        line++;
        fprintf(f, "%zu", r);
        for (size_t j = 0; j < D; j++) {
            if (line == bad_line && j == 2)
                fputs(",oops", f);
            else
                fprintf(f, j == 5 ? ",\"%g\"" : ",%g", (double)value(r, j));
        }
        fputs("\r\n", f);
    }
    assert_int_equal(fclose(f), 0);
}

static void write_gzip(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    gzFile g = gzopen(to, "wb");
    assert_non_null(f);
    assert_non_null(g);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) assert_int_equal(gzwrite(g, buf, (unsigned)got), (int)got);
    fclose(f);
    assert_int_equal(gzclose(g), Z_OK);
}

static int setup(void **state) {
    (void)state;
    write_csv(csv, 0);
    write_gzip(csv, gz);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    remove(csv);
    remove(gz);
    remove(npy);
    return 0;
}

/* Every block size gives ae_data_load's rows, bit for bit, and reading again from the start
 * (the next epoch) gives them again. */
static void test_rows_equal_loaded(void **state) {
    (void)state;
    ae_data all;
    assert_int_equal(ae_data_load(csv, &all), AE_OK);
    assert_int_equal(all.rows, N);
    assert_int_equal(all.cols, D); /* the index column dropped, as ae_data_load drops it */
    float *x = malloc((size_t)N * D * sizeof(float));
    assert_non_null(x);
    const char *paths[2] = {csv, gz};
    const size_t blocks[3] = {N, 37, 1000};
    for (int p = 0; p < 2; p++)
        for (int b = 0; b < 3; b++) {
            ae_seq q;
            assert_int_equal(ae_seq_open(&q, paths[p]), AE_OK);
            assert_true(ae_seq_in_order(&q));
            assert_int_equal(q.rows, N);
            assert_int_equal(q.cols, D);
            for (int pass = 0; pass < 2; pass++) {
                memset(x, 0, (size_t)N * D * sizeof(float));
                for (size_t r = 0; r < N; r += blocks[b]) {
                    const size_t k = N - r < blocks[b] ? N - r : blocks[b];
                    assert_int_equal(ae_seq_read(&q, r, k, x + r * D), AE_OK);
                }
                assert_memory_equal(x, all.x, (size_t)N * D * sizeof(float));
            }
            /* Rows further on (a skip), then rows behind (the file opened again). */
            assert_int_equal(ae_seq_read(&q, 4000, 3, x), AE_OK);
            assert_memory_equal(x, all.x + 4000 * D, 3 * D * sizeof(float));
            assert_int_equal(ae_seq_read(&q, 10, 3, x), AE_OK);
            assert_memory_equal(x, all.x + 10 * D, 3 * D * sizeof(float));
            ae_seq_close(&q);
        }
    free(x);
    ae_data_free(&all);
}

/* A malformed line: the same refusal as ae_data_load's, with the line's number. */
static void test_malformed_line(void **state) {
    (void)state;
    const char *bad = "test_stream_csv_bad.csv";
    write_csv(bad, 4321);
    ae_data d;
    assert_int_equal(ae_data_load(bad, &d), AE_EFORMAT);
    char loaded[512];
    snprintf(loaded, sizeof loaded, "%s", ae_last_error());
    assert_non_null(strstr(loaded, "line 4321 column 4 (c2): 'oops' is not a number"));
    ae_seq q;
    assert_int_equal(ae_seq_open(&q, bad), AE_EFORMAT);
    assert_string_equal(ae_last_error(), loaded);
    ae_seq_close(&q);
    remove(bad);
}

static ae_model *model(void) {
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.n_hidden = 1;
    c.hidden[0] = 8;
    c.code_dim = 3;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    return m;
}

static ae_train_opts opts(void) {
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = B;
    o.shuffle = 0;
    return o;
}

/* Without shuffling, a streamed CSV trains to the bits of the same rows streamed from .npy. */
static void test_train_csv_is_npy(void **state) {
    (void)state;
    ae_set_threads(1);
    ae_data all;
    assert_int_equal(ae_data_load(csv, &all), AE_OK);
    assert_int_equal(ae_npy_save(npy, all.x, all.rows, all.cols), AE_OK);
    ae_data_free(&all);
    ae_model *a = model(), *b = model(), *z = model();
    ae_train_opts o = opts();
    assert_int_equal(ae_train_stream(a, npy, &o, 640), AE_OK);
    assert_int_equal(ae_train_stream(b, csv, &o, 640), AE_OK);
    assert_int_equal(ae_train_stream(z, gz, &o, 640), AE_OK);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    assert_memory_equal(a->params, z->params, a->n_params * sizeof(float));
    ae_free(a);
    ae_free(b);
    ae_free(z);
}

/* After the first epoch the file gets a malformed line: the second epoch stops there with
 * the line's number, and the checkpoint of epoch 1 is there and loads. */
static int spoil(const ae_epoch_stats *s, void *user) {
    (void)s;
    write_csv((const char *)user, 5000);
    return 0;
}

static void test_malformed_mid_run(void **state) {
    (void)state;
    const char *path = "test_stream_csv_mid.csv", *ckpt = "test_stream_csv.ckpt";
    write_csv(path, 0);
    ae_model *m = model();
    ae_train_opts o = opts();
    o.epochs = 3;
    o.on_epoch = spoil;
    o.user = (void *)path;
    o.checkpoint_path = ckpt;
    o.checkpoint_every = 1;
    assert_int_equal(ae_train_stream(m, path, &o, 640), AE_EFORMAT);
    assert_non_null(strstr(ae_last_error(), "line 5000 column 4 (c2): 'oops' is not a number"));
    assert_non_null(strstr(ae_last_error(), path));
    ae_model *k;
    assert_int_equal(ae_checkpoint_load(&k, ckpt), AE_OK);
    assert_int_equal(ae_epochs_done(k), 1);
    ae_free(k);
    ae_free(m);
    remove(ckpt);
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_equal_loaded),
        cmocka_unit_test(test_malformed_line),
        cmocka_unit_test(test_train_csv_is_npy),
        cmocka_unit_test(test_malformed_mid_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
