/* Data readers (IDX, .npy, CSV, gzip) and the .npy writer, on small files made here. */
#define _GNU_SOURCE /* mkdtemp */
#include "test_util.h"

#include <string.h>
#include <zlib.h>

#include "ae.h"

static char dir[64];

static int make_dir(void **state) {
    (void)state;
    strcpy(dir, "/tmp/ae_io_data_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *path_of(const char *name) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void spit(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

static void spit_gz(const char *path, const void *b, size_t len) {
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, b, (unsigned)len), (int)len);
    assert_int_equal(gzclose(f), Z_OK);
}

/* Parses from memory and expects a status; on AE_OK checks the shape. */
static ae_data parse(const void *b, size_t len, int want, size_t rows, size_t cols) {
    ae_data d;
    assert_int_equal(ae_data_parse(b, len, &d), want);
    if (want == AE_OK) {
        assert_int_equal(d.rows, rows);
        assert_int_equal(d.cols, cols);
    } else {
        assert_null(d.x);
        assert_int_equal(d.rows, 0);
    }
    return d;
}

/* ---- IDX ---- */

/* A 3-D unsigned-byte file: 2 images of 2 x 3. */
static size_t idx_images(unsigned char *b) {
    const unsigned char head[] = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
    memcpy(b, head, sizeof head);
    for (int i = 0; i < 12; i++) b[16 + i] = (unsigned char)(i * 23);
    return 28;
}

static void test_idx_images_scaled_to_unit(void **state) {
    (void)state;
    unsigned char b[64];
    size_t len = idx_images(b);
    ae_data d = parse(b, len, AE_OK, 2, 6);
    for (int i = 0; i < 12; i++) assert_close(d.x[i], (float)(i * 23) / 255.0f, 0, 0);
    ae_data_free(&d);
    ae_data_free(&d); /* twice is safe */
    ae_data_free(NULL);
}

static void test_idx_labels_and_other_types(void **state) {
    (void)state;
    const unsigned char labels[] = {0, 0, 0x08, 1, 0, 0, 0, 3, 9, 0, 4};
    ae_data d = parse(labels, sizeof labels, AE_OK, 3, 1);
    assert_close(d.x[0], 9, 0, 0); /* labels keep their values */
    assert_close(d.x[2], 4, 0, 0);
    ae_data_free(&d);
    const unsigned char i16[] = {0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x00};
    d = parse(i16, sizeof i16, AE_OK, 1, 2);
    assert_close(d.x[0], -2, 0, 0);
    assert_close(d.x[1], 256, 0, 0);
    ae_data_free(&d);
    const unsigned char i32[] = {0, 0, 0x0C, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf9};
    d = parse(i32, sizeof i32, AE_OK, 1, 1);
    assert_close(d.x[0], -7, 0, 0);
    ae_data_free(&d);
    const unsigned char f32[] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0, 0}; /* 1.5f big-endian */
    d = parse(f32, sizeof f32, AE_OK, 1, 1);
    assert_close(d.x[0], 1.5, 0, 0);
    ae_data_free(&d);
    const unsigned char f64[] = {0, 0, 0x0E, 1, 0, 0, 0, 1, 0xc0, 0x04, 0, 0, 0, 0, 0, 0}; /* -2.5 */
    d = parse(f64, sizeof f64, AE_OK, 1, 1);
    assert_close(d.x[0], -2.5, 0, 0);
    ae_data_free(&d);
    const unsigned char i8[] = {0, 0, 0x09, 1, 0, 0, 0, 1, 0x80};
    d = parse(i8, sizeof i8, AE_OK, 1, 1);
    assert_close(d.x[0], -128, 0, 0);
    ae_data_free(&d);
}

static void test_idx_malformed(void **state) {
    (void)state;
    unsigned char b[64];
    size_t len = idx_images(b);
    for (size_t cut = 1; cut < len; cut++) parse(b, cut, AE_EFORMAT, 0, 0); /* every truncation */
    parse(b, len + 1, AE_EFORMAT, 0, 0);                                     /* trailing byte */
    unsigned char z[64];
    memcpy(z, b, len);
    z[11] = 0; /* a zero dimension */
    parse(z, len, AE_EFORMAT, 0, 0);
    memcpy(z, b, len);
    z[2] = 0x07; /* unknown type */
    parse(z, len, AE_EFORMAT, 0, 0);
    memcpy(z, b, len);
    z[3] = 0; /* zero dims */
    parse(z, len, AE_EFORMAT, 0, 0);
    /* dims whose product overflows: no huge allocation, just a refusal */
    const unsigned char huge[] = {0, 0, 0x08, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    parse(huge, sizeof huge, AE_EFORMAT, 0, 0);
    const unsigned char big[] = {0, 0, 0x0E, 2, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 1};
    parse(big, sizeof big, AE_EFORMAT, 0, 0);
}

static void test_idx_gzip_equals_plain(void **state) {
    (void)state;
    unsigned char b[64];
    size_t len = idx_images(b);
    spit(path_of("img.idx"), b, len);
    spit_gz(path_of("img.idx.gz"), b, len);
    ae_data a, g;
    assert_int_equal(ae_data_load(path_of("img.idx"), &a), AE_OK);
    assert_int_equal(ae_data_load(path_of("img.idx.gz"), &g), AE_OK);
    assert_int_equal(a.rows, g.rows);
    assert_int_equal(a.cols, g.cols);
    assert_memory_equal(a.x, g.x, a.rows * a.cols * sizeof(float));
    ae_data_free(&a);
    ae_data_free(&g);
    /* a truncated gzip stream */
    FILE *f = fopen(path_of("img.idx.gz"), "rb");
    assert_non_null(f);
    unsigned char gz[256];
    size_t glen = fread(gz, 1, sizeof gz, f);
    fclose(f);
    spit(path_of("cut.gz"), gz, glen - 12);
    assert_int_equal(ae_data_load(path_of("cut.gz"), &a), AE_EFORMAT);
    /* a corrupt one */
    gz[glen / 2] ^= 0xff;
    spit(path_of("bad.gz"), gz, glen);
    assert_int_not_equal(ae_data_load(path_of("bad.gz"), &a), AE_OK);
    assert_null(a.x);
}

/* ---- .npy ---- */

static size_t npy(unsigned char *b, int version, const char *dict, const void *data, size_t dlen) {
    size_t n = strlen(dict), pre = version == 1 ? 10 : 12;
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)version;
    b[7] = 0;
    if (version == 1) {
        b[8] = (unsigned char)n;
        b[9] = (unsigned char)(n >> 8);
    } else {
        b[8] = (unsigned char)n;
        b[9] = (unsigned char)(n >> 8);
        b[10] = b[11] = 0;
    }
    memcpy(b + pre, dict, n);
    memcpy(b + pre + n, data, dlen);
    return pre + n + dlen;
}

static void test_npy_dtypes_and_shapes(void **state) {
    (void)state;
    unsigned char b[512];
    const float f4[6] = {1, 2, 3, 4, 5, -6.5f};
    const double f8[3] = {0.25, -1e3, 7};
    const unsigned char u1[4] = {0, 1, 128, 255};
    size_t len = npy(b, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", f4, sizeof f4);
    ae_data d = parse(b, len, AE_OK, 2, 3);
    assert_memory_equal(d.x, f4, sizeof f4);
    ae_data_free(&d);
    len = npy(b, 1, "{'shape': (3,), 'fortran_order': False, 'descr': '<f8'}", f8, sizeof f8);
    d = parse(b, len, AE_OK, 3, 1);
    assert_close(d.x[1], -1000, 0, 0);
    ae_data_free(&d);
    len = npy(b, 2, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }", u1, sizeof u1);
    d = parse(b, len, AE_OK, 1, 4);
    assert_close(d.x[3], 255, 0, 0); /* .npy keeps the values */
    ae_data_free(&d);
    len = npy(b, 1, "{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(6,1)}", f4, sizeof f4);
    d = parse(b, len, AE_OK, 6, 1);
    ae_data_free(&d);
}

static void test_npy_malformed(void **state) {
    (void)state;
    unsigned char b[512];
    const float f4[6] = {1, 2, 3, 4, 5, 6};
    const char *bad[] = {
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
        "{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 6), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }",
        "['descr', '<f4']",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = npy(b, 1, bad[i], f4, sizeof f4);
        parse(b, len, AE_EFORMAT, 0, 0);
    }
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    size_t len = npy(b, 1, good, f4, sizeof f4);
    parse(b, len - 1, AE_EFORMAT, 0, 0); /* data short by one byte */
    parse(b, len + 1, AE_EFORMAT, 0, 0); /* one byte too many */
    b[8] = 0xff;                          /* header length past the end */
    b[9] = 0xff;
    parse(b, len, AE_EFORMAT, 0, 0);
    len = npy(b, 9, good, f4, sizeof f4); /* unknown version */
    parse(b, len, AE_EFORMAT, 0, 0);
}

static void test_npy_save_round_trip(void **state) {
    (void)state;
    float x[3 * 5];
    test_fill(x, 15, 7, -3, 3);
    x[4] = -0.0f;
    assert_int_equal(ae_npy_save(path_of("x.npy"), x, 3, 5), AE_OK);
    ae_data d;
    assert_int_equal(ae_data_load(path_of("x.npy"), &d), AE_OK);
    assert_int_equal(d.rows, 3);
    assert_int_equal(d.cols, 5);
    assert_memory_equal(d.x, x, sizeof x);
    ae_data_free(&d);
    /* header padded to 64 bytes, as NumPy writes it */
    FILE *f = fopen(path_of("x.npy"), "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    assert_int_equal((ftell(f) - (long)sizeof x) % 64, 0);
    fclose(f);
    /* a failed save leaves the earlier file alone */
    assert_int_equal(ae_npy_save(path_of("missing/dir/y.npy"), x, 3, 5), AE_EIO);
    assert_int_equal(ae_data_load(path_of("x.npy"), &d), AE_OK);
    assert_memory_equal(d.x, x, sizeof x);
    ae_data_free(&d);
    assert_int_equal(ae_npy_save(path_of("z.npy"), NULL, 3, 5), AE_EINVAL);
    assert_int_equal(ae_npy_save(path_of("z.npy"), x, 0, 5), AE_EINVAL);
    assert_int_equal(ae_npy_save(path_of("z.npy"), x, 3, 0), AE_EINVAL);
    assert_int_equal(ae_npy_save(path_of("z.npy"), x, (size_t)-1, 3), AE_EINVAL);
}

/* ---- CSV ---- */

static void test_csv_variants(void **state) {
    (void)state;
    const char *a = "x,y,z\r\n1,2,3\r\n\r\n4.5,-5e-1,6\r\n";
    ae_data d = parse(a, strlen(a), AE_OK, 2, 3);
    assert_close(d.x[3], 4.5, 0, 0);
    assert_close(d.x[4], -0.5, 0, 0);
    ae_data_free(&d);
    const char *b = "1\t2\n3\t4"; /* tabs, no final newline */
    d = parse(b, strlen(b), AE_OK, 2, 2);
    assert_close(d.x[3], 4, 0, 0);
    ae_data_free(&d);
    const char *c = "  1   2  3\n4 5 6  \n"; /* runs of spaces */
    d = parse(c, strlen(c), AE_OK, 2, 3);
    assert_close(d.x[5], 6, 0, 0);
    ae_data_free(&d);
    const char *e = "1;2\n3;4\n";
    d = parse(e, strlen(e), AE_OK, 2, 2);
    ae_data_free(&d);
    spit_gz(path_of("t.csv.gz"), a, strlen(a));
    assert_int_equal(ae_data_load(path_of("t.csv.gz"), &d), AE_OK);
    assert_int_equal(d.rows, 2);
    ae_data_free(&d);
}

static void test_csv_malformed(void **state) {
    (void)state;
    const char *bad[] = {"1,2,3\n4,5\n", "1,2\n3,x\n", "1,,2\n", "1,2,\n", "a,b\n", "\n\n  \n",
                         "1,2\nh,e\n3,4\n", "1,2\x01\n", "1,\xc3\xa9\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) parse(bad[i], strlen(bad[i]), AE_EFORMAT, 0, 0);
    /* the buffer is not NUL-terminated: the parser must stop at len */
    const char nz[4] = {'1', ',', '2', '3'};
    ae_data d = parse(nz, 3, AE_OK, 1, 2);
    assert_close(d.x[1], 2, 0, 0);
    ae_data_free(&d);
}

static void test_bad_arguments_and_files(void **state) {
    (void)state;
    ae_data d = {(float *)0x1, 5, 5};
    assert_int_equal(ae_data_load(NULL, &d), AE_EINVAL);
    assert_null(d.x);
    assert_int_equal(ae_data_load("x", NULL), AE_EINVAL);
    assert_int_equal(ae_data_parse(NULL, 3, &d), AE_EINVAL);
    assert_int_equal(ae_data_parse("1", 1, NULL), AE_EINVAL);
    assert_int_equal(ae_data_parse("1", 0, &d), AE_EFORMAT); /* no rows */
    assert_int_equal(ae_data_load(path_of("does-not-exist"), &d), AE_EIO);
    assert_int_equal(ae_data_load(dir, &d), AE_EIO); /* a directory */
    spit(path_of("empty"), "", 0);
    assert_int_equal(ae_data_load(path_of("empty"), &d), AE_EFORMAT);
    assert_null(d.x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_images_scaled_to_unit),
        cmocka_unit_test(test_idx_labels_and_other_types),
        cmocka_unit_test(test_idx_malformed),
        cmocka_unit_test(test_idx_gzip_equals_plain),
        cmocka_unit_test(test_npy_dtypes_and_shapes),
        cmocka_unit_test(test_npy_malformed),
        cmocka_unit_test(test_npy_save_round_trip),
        cmocka_unit_test(test_csv_variants),
        cmocka_unit_test(test_csv_malformed),
        cmocka_unit_test(test_bad_arguments_and_files),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
