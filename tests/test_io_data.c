/* Data files: IDX, .npy and CSV (each also gzipped) read into the exact expected floats,
 * every malformed or oversized header refused with AE_EFORMAT before anything big is
 * allocated, and ae_npy_save round trips bit for bit, atomically. ae_data_info and
 * ae_data_load_range agree with ae_data_load on every range of every format, plain and gzip,
 * and refuse what it refuses. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_util.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ae.h"
#include "byteorder.h"
#include "tensor.h" /* ae_set_alloc_hook */

static char dir[64];

static int make_dir(void **state) {
    (void)state;
    strcpy(dir, "/tmp/ae_io_data_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

/* The tests make only files and empty directories in dir. */
static int remove_dir(void **state) {
    (void)state;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    closedir(d);
    return rmdir(dir) == 0 ? 0 : -1;
}

static void path_of(char *out, const char *name) { snprintf(out, 256, "%s/%s", dir, name); }

static void write_bytes(const char *name, const void *p, size_t n) {
    char path[256];
    path_of(path, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* gzip with zlib's file API; split > 0 writes two members, as `cat a.gz b.gz` would. */
static void write_gz(const char *name, const void *p, size_t n, size_t split) {
    char path[256];
    path_of(path, name);
    size_t first = split > 0 ? split : n;
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, p, (unsigned)first), (int)first);
    assert_int_equal(gzclose(g), Z_OK);
    if (split > 0) {
        g = gzopen(path, "ab");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, (const unsigned char *)p + first, (unsigned)(n - first)), (int)(n - first));
        assert_int_equal(gzclose(g), Z_OK);
    }
}

static unsigned char *slurp(const char *name, size_t *len) {
    char path[256];
    path_of(path, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long sz = ftell(f);
    assert_true(sz >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    *len = (size_t)sz;
    unsigned char *b = malloc(*len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Entries of dir whose name contains ".tmp." (leftover temporaries). */
static int count_temporaries(void) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* An exact-size heap copy, so that the sanitizers and valgrind catch any read past len. */
static void *exact_copy(const void *buf, size_t len) {
    void *c = malloc(len ? len : 1);
    assert_non_null(c);
    if (len) memcpy(c, buf, len);
    return c;
}

/* Parsing buf must fail with want and leave out zeroed (it starts as junk). */
static void expect_parse(const void *buf, size_t len, int want) {
    float junk;
    ae_data d = {&junk, 7, 7};
    void *c = exact_copy(buf, len);
    assert_int_equal(ae_data_parse(c, len, &d), want);
    free(c);
    assert_null(d.x);
    assert_int_equal(d.rows, 0);
    assert_int_equal(d.cols, 0);
}

static void expect_parse_str(const char *s, int want) { expect_parse(s, strlen(s), want); }

/* Parse a text buffer that must succeed with the given shape. */
static ae_data parse_ok(const void *buf, size_t len, size_t rows, size_t cols) {
    ae_data d;
    void *c = exact_copy(buf, len);
    assert_int_equal(ae_data_parse(c, len, &d), AE_OK);
    free(c);
    assert_non_null(d.x);
    assert_int_equal(d.rows, rows);
    assert_int_equal(d.cols, cols);
    return d;
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An IDX file in buf: header for type and dims, then dlen bytes of data; returns its length. */
static size_t idx_make(unsigned char *buf, unsigned type, unsigned nd, const uint32_t *dims, const void *data,
                       size_t dlen) {
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)nd;
    for (unsigned i = 0; i < nd; i++) put_be32(buf + 4 + 4 * i, dims[i]);
    size_t h = 4 + 4 * (size_t)nd;
    if (dlen) memcpy(buf + h, data, dlen);
    return h + dlen;
}

/* A .npy file (major.0) with the given dict, padded with spaces and '\n' to 64 bytes, then
 * dlen bytes of data: the host's floats, stored little-endian when the dict's type is f4 or
 * f8 (as NumPy writes them on any host). */
static unsigned char *npy_make(int major, const char *dict, const void *data, size_t dlen, size_t *len) {
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64;
    unsigned char *b = malloc(total + dlen + 1);
    assert_non_null(b);
    memcpy(b,
           "\x93"
           "NUMPY",
           6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    size_t hl = total - pre;
    for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, ' ', total - pre - dl - 1);
    b[total - 1] = '\n';
    if (dlen) memcpy(b + total, data, dlen);
    const size_t width = strstr(dict, "f4'") || strstr(dict, "f4\"")   ? 4
                         : strstr(dict, "f8'") || strstr(dict, "f8\"") ? 8
                                                                       : 1;
    ae_le_copy(b + total, b + total, dlen / width, width);
    *len = total + dlen;
    return b;
}

static void expect_npy(int major, const char *dict, const void *data, size_t dlen, int want) {
    size_t len;
    unsigned char *b = npy_make(major, dict, data, dlen, &len);
    expect_parse(b, len, want);
    free(b);
}

/* ---------------------------------------------------------------- IDX */

static void test_idx_ubyte_images_scaled(void **state) {
    (void)state;
    const unsigned char px[12] = {0, 1, 51, 127, 128, 255, 2, 3, 4, 200, 250, 17};
    const uint32_t dims[3] = {2, 2, 3};
    unsigned char buf[64];
    size_t n = idx_make(buf, 0x08, 3, dims, px, sizeof px);
    ae_data d = parse_ok(buf, n, 2, 6);
    for (int i = 0; i < 12; i++) assert_close(d.x[i], (float)((float)px[i] / 255.0f), 0, 0);
    assert_close(d.x[0], 0.0f, 0, 0);
    assert_close(d.x[2], (float)0.2f, 0, 0); /* the cast: a float constant may carry double precision (s390x) */
    assert_close(d.x[5], 1.0f, 0, 0);
    ae_data_free(&d);
}

static void test_idx_labels_keep_values(void **state) {
    (void)state;
    const unsigned char lab[5] = {0, 9, 255, 3, 1};
    const uint32_t dims[1] = {5};
    unsigned char buf[32];
    size_t n = idx_make(buf, 0x08, 1, dims, lab, sizeof lab);
    ae_data d = parse_ok(buf, n, 5, 1);
    for (int i = 0; i < 5; i++) assert_close(d.x[i], (float)lab[i], 0, 0);
    ae_data_free(&d);
}

static void test_idx_other_types(void **state) {
    (void)state;
    unsigned char buf[128], raw[64];
    const uint32_t dims[2] = {2, 2};
    ae_data d;

    const unsigned char s8[4] = {0xFF, 0x7F, 0x80, 0x01};
    d = parse_ok(buf, idx_make(buf, 0x09, 2, dims, s8, 4), 2, 2);
    const float s8_want[4] = {-1, 127, -128, 1};
    for (int i = 0; i < 4; i++) assert_close(d.x[i], s8_want[i], 0, 0);
    ae_data_free(&d);

    const int32_t i16[4] = {-2, 300, -32768, 32767};
    for (int i = 0; i < 4; i++) {
        raw[2 * i] = (unsigned char)((uint32_t)i16[i] >> 8);
        raw[2 * i + 1] = (unsigned char)i16[i];
    }
    d = parse_ok(buf, idx_make(buf, 0x0B, 2, dims, raw, 8), 2, 2);
    for (int i = 0; i < 4; i++) assert_close(d.x[i], (float)i16[i], 0, 0);
    ae_data_free(&d);

    const int32_t i32[4] = {-70000, 5, INT32_MIN, 16777216};
    for (int i = 0; i < 4; i++) put_be32(raw + 4 * i, (uint32_t)i32[i]);
    d = parse_ok(buf, idx_make(buf, 0x0C, 2, dims, raw, 16), 2, 2);
    for (int i = 0; i < 4; i++) assert_close(d.x[i], (float)i32[i], 0, 0);
    ae_data_free(&d);

    const float f32[4] = {1.5f, -0.25f, 3e38f, 1e-40f /* subnormal */};
    for (int i = 0; i < 4; i++) {
        uint32_t u;
        memcpy(&u, &f32[i], 4);
        put_be32(raw + 4 * i, u);
    }
    d = parse_ok(buf, idx_make(buf, 0x0D, 2, dims, raw, 16), 2, 2);
    assert_memory_equal(d.x, f32, sizeof f32);
    ae_data_free(&d);

    const double f64[4] = {0.1, -2.5, 1e10, 1.0 / 3.0};
    for (int i = 0; i < 4; i++) {
        uint64_t u;
        memcpy(&u, &f64[i], 8);
        put_be32(raw + 8 * i, (uint32_t)(u >> 32));
        put_be32(raw + 8 * i + 4, (uint32_t)u);
    }
    d = parse_ok(buf, idx_make(buf, 0x0E, 2, dims, raw, 32), 2, 2);
    for (int i = 0; i < 4; i++) assert_close(d.x[i], (float)f64[i], 0, 0);
    ae_data_free(&d);
}

static void test_idx_gzip_equals_plain(void **state) {
    (void)state;
    unsigned char px[3 * 4 * 5], buf[128];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 37 + 11);
    const uint32_t dims[3] = {3, 4, 5};
    size_t n = idx_make(buf, 0x08, 3, dims, px, sizeof px);
    write_bytes("img.idx", buf, n);
    write_gz("img.idx.gz", buf, n, 0);
    write_gz("img2.idx.gz", buf, n, 30); /* two gzip members */

    char p[256];
    ae_data plain, gz, gz2;
    path_of(p, "img.idx");
    assert_int_equal(ae_data_load(p, &plain), AE_OK);
    path_of(p, "img.idx.gz");
    assert_int_equal(ae_data_load(p, &gz), AE_OK);
    path_of(p, "img2.idx.gz");
    assert_int_equal(ae_data_load(p, &gz2), AE_OK);
    assert_int_equal(plain.rows, 3);
    assert_int_equal(plain.cols, 20);
    assert_close(plain.x[1], (float)((float)px[1] / 255.0f), 0, 0);
    for (ae_data *o = &gz; o != NULL; o = o == &gz ? &gz2 : NULL) {
        assert_int_equal(o->rows, plain.rows);
        assert_int_equal(o->cols, plain.cols);
        assert_memory_equal(o->x, plain.x, plain.rows * plain.cols * sizeof(float));
    }
    ae_data_free(&plain);
    ae_data_free(&gz);
    ae_data_free(&gz2);
}

static void test_gzip_damage_refused(void **state) {
    (void)state;
    unsigned char px[200], buf[256];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 7);
    const uint32_t dims[2] = {10, 20};
    size_t n = idx_make(buf, 0x08, 2, dims, px, sizeof px);
    write_gz("d.gz", buf, n, 0);
    size_t len;
    unsigned char *gz = slurp("d.gz", &len);
    ae_data d = parse_ok(gz, len, 10, 20); /* from memory too */
    ae_data_free(&d);

    expect_parse(gz, len - 1, AE_EFORMAT); /* trailer cut */
    expect_parse(gz, len - 8, AE_EFORMAT); /* whole trailer missing */
    expect_parse(gz, len / 2, AE_EFORMAT); /* cut in the deflate data */
    expect_parse(gz, 10, AE_EFORMAT); /* header only */
    expect_parse(gz, 2, AE_EFORMAT); /* magic only */

    unsigned char *junk = malloc(len + 3);
    assert_non_null(junk);
    memcpy(junk, gz, len);
    memcpy(junk + len, "abc", 3);
    expect_parse(junk, len + 3, AE_EFORMAT); /* junk after the member */
    memcpy(junk, gz, len);
    junk[len - 6] ^= 0x55; /* CRC-32 of the data */
    expect_parse(junk, len, AE_EFORMAT);
    free(junk);
    free(gz);

    write_gz("empty.gz", "", 0, 0);
    gz = slurp("empty.gz", &len);
    expect_parse(gz, len, AE_EFORMAT); /* inflates to nothing */
    free(gz);
}

static void test_idx_bad_sizes_refused(void **state) {
    (void)state;
    unsigned char px[12] = {0}, buf[128];
    const uint32_t dims[3] = {2, 2, 3};
    size_t n = idx_make(buf, 0x08, 3, dims, px, sizeof px);
    ae_data d = parse_ok(buf, n, 2, 6); /* the baseline is fine */
    ae_data_free(&d);
    expect_parse(buf, n - 1, AE_EFORMAT); /* truncated by a byte */
    buf[n] = 0;
    expect_parse(buf, n + 1, AE_EFORMAT); /* a trailing byte */
    expect_parse(buf, 15, AE_EFORMAT); /* dims cut short */
    expect_parse(buf, 3, AE_EFORMAT);

    const uint32_t zero[3] = {2, 0, 3};
    expect_parse(buf, idx_make(buf, 0x08, 3, zero, NULL, 0), AE_EFORMAT);
    const uint32_t zero_rows[2] = {0, 3};
    expect_parse(buf, idx_make(buf, 0x08, 2, zero_rows, NULL, 0), AE_EFORMAT);

    /* Products that overflow size_t, or float bytes that do: refused from the header alone. */
    const uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    expect_parse(buf, idx_make(buf, 0x08, 3, huge, px, 12), AE_EFORMAT);
    expect_parse(buf, idx_make(buf, 0x0E, 2, huge, px, 12), AE_EFORMAT);
    expect_parse(buf, idx_make(buf, 0x08, 2, huge, px, 12), AE_EFORMAT);
    /* A declared 4 GiB of pixels in a tiny file. */
    const uint32_t big[2] = {65536, 65536};
    expect_parse(buf, idx_make(buf, 0x08, 2, big, px, 12), AE_EFORMAT);

    expect_parse(buf, idx_make(buf, 0x08, 0, dims, NULL, 0), AE_EFORMAT); /* no dims */
    const uint32_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    expect_parse(buf, idx_make(buf, 0x08, 9, nine, px, 1), AE_EFORMAT); /* more than 8 */
    const uint32_t eight[8] = {1, 1, 1, 1, 1, 1, 1, 2};
    d = parse_ok(buf, idx_make(buf, 0x08, 8, eight, px, 2), 1, 2); /* 8 is allowed */
    ae_data_free(&d);
    expect_parse(buf, idx_make(buf, 0x0A, 2, dims, px, 4), AE_EFORMAT); /* unknown type */
    expect_parse(buf, idx_make(buf, 0x0F, 2, dims, px, 4), AE_EFORMAT);
}

/* ---------------------------------------------------------------- .npy */

static void test_npy_f4_2d(void **state) {
    (void)state;
    const float v[6] = {1.0f, -2.5f, 3.25f, 1e-40f, -0.0f, 65504.0f};
    size_t len;
    unsigned char *b = npy_make(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v, &len);
    assert_int_equal(len % 64, sizeof v % 64);
    ae_data d = parse_ok(b, len, 2, 3);
    assert_memory_equal(d.x, v, sizeof v);
    ae_data_free(&d);
    free(b);
}

static void test_npy_f8_1d(void **state) {
    (void)state;
    const double v[3] = {0.1, -7.0, 1e20};
    size_t len;
    unsigned char *b = npy_make(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", v, sizeof v, &len);
    ae_data d = parse_ok(b, len, 3, 1); /* 1-D: one column */
    for (int i = 0; i < 3; i++) assert_close(d.x[i], (float)v[i], 0, 0);
    ae_data_free(&d);
    free(b);
}

static void test_npy_u1_3d_not_scaled(void **state) {
    (void)state;
    const unsigned char v[12] = {0, 1, 2, 3, 100, 128, 200, 254, 255, 9, 8, 7};
    size_t len;
    unsigned char *b = npy_make(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 3), }", v, sizeof v, &len);
    ae_data d = parse_ok(b, len, 2, 6);
    for (int i = 0; i < 12; i++) assert_close(d.x[i], (float)v[i], 0, 0);
    assert_close(d.x[8], 255.0f, 0, 0);
    ae_data_free(&d);
    free(b);

    b = npy_make(1, "{'descr': 'u1', 'fortran_order': False, 'shape': (12,), }", v, sizeof v, &len);
    d = parse_ok(b, len, 12, 1);
    assert_close(d.x[6], 200.0f, 0, 0);
    ae_data_free(&d);
    free(b);
}

static void test_npy_versions_and_key_order(void **state) {
    (void)state;
    const float v[4] = {1, 2, 3, 4};
    const char *dicts[] = {
        "{'shape': (2, 2), 'fortran_order': False, 'descr': '<f4'}",
        "{ \"fortran_order\"  :False ,\"descr\":\"<f4\",'shape':( 2 ,2 , ) , }",
        "{'descr':'=f4','shape':(2L, 2L),'fortran_order':False}", /* Python 2 longs */
    };
    for (int major = 1; major <= 3; major++)
        for (size_t k = 0; k < sizeof dicts / sizeof dicts[0]; k++) {
            size_t len;
            unsigned char *b = npy_make(major, dicts[k], v, sizeof v, &len);
            ae_data d = parse_ok(b, len, 2, 2);
            assert_memory_equal(d.x, v, sizeof v);
            ae_data_free(&d);
            free(b);
        }
    size_t len;
    unsigned char *b = npy_make(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", v, 4, &len);
    ae_data d = parse_ok(b, len, 1, 1); /* a scalar */
    assert_close(d.x[0], 1.0f, 0, 0);
    ae_data_free(&d);
    free(b);
}

static void test_npy_bad_headers_refused(void **state) {
    (void)state;
    const float v[4] = {1, 2, 3, 4};
    const char *bad[] = {
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
        "{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'shape': (2, 2)}",
        "{'descr': '<f4', 'shape': (2, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2.0), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,, 2), }",
        "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), } x",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), ",
        "['descr', '<f4']",
        /* overflow: of the product, of the float bytes, of a single number */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616,), }",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) expect_npy(1, bad[k], v, sizeof v, AE_EFORMAT);
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    expect_npy(1, good, v, sizeof v - 1, AE_EFORMAT); /* data short by one byte */
    expect_npy(1, good, v, 4, AE_EFORMAT);
    expect_npy(1, good, v, 0, AE_EFORMAT);
    /* Zero dims refused even though zero data bytes would match them. */
    expect_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", v, 0, AE_EFORMAT);
    expect_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", v, 0, AE_EFORMAT);
    unsigned char more[17] = {0};
    expect_npy(1, good, more, 17, AE_EFORMAT); /* one byte too many */

    size_t len;
    unsigned char *b = npy_make(1, good, v, sizeof v, &len);
    ae_data d = parse_ok(b, len, 2, 2); /* the baseline is fine */
    ae_data_free(&d);
    b[8] = 0xFF; /* header length past the end */
    b[9] = 0xFF;
    expect_parse(b, len, AE_EFORMAT);
    b[8] = 54; /* header length cuts the dict */
    b[9] = 0;
    expect_parse(b, len, AE_EFORMAT);
    b[8] = (unsigned char)(len - 10); /* takes in the data: no room left for it */
    expect_parse(b, len, AE_EFORMAT);
    b[8] = 128 - 10;
    b[6] = 4; /* version 4.0 */
    expect_parse(b, len, AE_EFORMAT);
    b[6] = 1;
    b[7] = 1; /* version 1.1 */
    expect_parse(b, len, AE_EFORMAT);
    expect_parse(b, 9, AE_EFORMAT);
    free(b);

    b = npy_make(2, good, v, sizeof v, &len);
    b[11] = 0x7F; /* a 2 GiB header */
    expect_parse(b, len, AE_EFORMAT);
    expect_parse(b, 11, AE_EFORMAT);
    free(b);

    /* A header over 1 MiB is refused even when it is complete and well formed. */
    size_t dl = strlen(good), hl = ((size_t)1 << 20) + 64;
    char *dict = malloc(hl + 1);
    assert_non_null(dict);
    memcpy(dict, good, dl);
    memset(dict + dl, ' ', hl - dl);
    dict[hl] = '\0';
    expect_npy(2, dict, v, sizeof v, AE_EFORMAT);
    free(dict);
}

/* ---------------------------------------------------------------- text */

static void test_csv_header_crlf(void **state) {
    (void)state;
    const char *s = "a,b,\"c\"\r\n1,2,3\r\n4.5,-6,7e-1\r\n";
    ae_data d = parse_ok(s, strlen(s), 2, 3);
    const float want[6] = {1, 2, 3, 4.5f, -6, 0.7f};
    for (int i = 0; i < 6; i++) assert_close(d.x[i], want[i], 0, 0);
    ae_data_free(&d);
}

static void test_text_separators_and_blank_lines(void **state) {
    (void)state;
    const float want[6] = {1, 2, 3, 4, 5, 6};
    const char *texts[] = {
        "1\t2\t3\n4\t5\t6\n",
        "\n\n  1 2   3\n\n \t \n4  5 6", /* blank lines, runs of spaces, no final newline */
        "1;2;3\n4;5;6\n",
        "1, 2 , 3\r\n\r\n4 ,5,\t6\r\n",
        "x y z\n1 2 3\n4 5 6\n",
        ",x,y\n1,2,3\n4,5,6\n", /* pandas' index column header */
        "\xEF\xBB\xBFtemp\xC3\xA9rature;x;y\n1;2;3\n4;5;6\n", /* BOM and a UTF-8 header */
        "+1,2.0,0.3e1\n4,5,6\n",
    };
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        ae_data d = parse_ok(texts[k], strlen(texts[k]), 2, 3);
        for (int i = 0; i < 6; i++) assert_close(d.x[i], want[i], 0, 0);
        ae_data_free(&d);
    }
    const char *bom = "\xEF\xBB\xBF"
                      "1,2,3\n4,5,6\n"; /* the BOM is no header */
    ae_data d = parse_ok(bom, strlen(bom), 2, 3);
    for (int i = 0; i < 6; i++) assert_close(d.x[i], want[i], 0, 0);
    ae_data_free(&d);
    d = parse_ok("7\n8\n9", 5, 3, 1); /* one column */
    assert_close(d.x[2], 9.0f, 0, 0);
    ae_data_free(&d);
    /* Not NUL-terminated: the parser stops at len. */
    char buf[8] = {'1', ',', '2', '\n', '3', ',', '4', '5'};
    d = parse_ok(buf, 7, 2, 2);
    assert_close(d.x[3], 4.0f, 0, 0);
    ae_data_free(&d);
}

static void test_text_nan_inf_pass_through(void **state) {
    (void)state;
    const char *s = "nan,inf\n1,-inf\n";
    ae_data d = parse_ok(s, strlen(s), 2, 2); /* the first line is data, not a header */
    assert_true(isnan(d.x[0]));
    assert_true(isinf(d.x[1]) && d.x[1] > 0);
    assert_close(d.x[2], 1.0f, 0, 0);
    assert_true(isinf(d.x[3]) && d.x[3] < 0);
    ae_data_free(&d);
}

static void test_text_malformed_refused(void **state) {
    (void)state;
    expect_parse_str("1,2,3\n4,5\n", AE_EFORMAT); /* ragged: short */
    expect_parse_str("1,2\n3,4,5\n", AE_EFORMAT); /* ragged: long */
    expect_parse_str("a,b\n1,2\n3,x\n", AE_EFORMAT); /* non-numeric cell */
    expect_parse_str("1,2\na,b\n", AE_EFORMAT); /* a header after the data */
    expect_parse_str("a,b\nc,d\n1,2\n", AE_EFORMAT); /* two header lines */
    expect_parse_str("1,,2\n3,4,5\n", AE_EFORMAT); /* empty field, first line */
    expect_parse_str("1,2,3\n3,,5\n", AE_EFORMAT); /* empty field */
    expect_parse_str("1,2,\n3,4,\n", AE_EFORMAT); /* trailing comma */
    expect_parse_str("1,2\n,3,4\n", AE_EFORMAT); /* leading comma */
    expect_parse_str("1;;2\n", AE_EFORMAT);
    expect_parse_str("1,2\n1.5.2,3\n", AE_EFORMAT);
    expect_parse_str("1,2\n0x,3\n", AE_EFORMAT);
    expect_parse_str("a,b,c\n", AE_EFORMAT); /* header only */
    expect_parse_str("  \n\r\n\t\n", AE_EFORMAT); /* blank only */
    expect_parse_str("1,2\n3,4\x01\n", AE_EFORMAT); /* control character */
    expect_parse_str("a\x01,b\n1,2\n", AE_EFORMAT); /* even in the header */
    expect_parse_str("a\x7f,b\n1,2\n", AE_EFORMAT);
    expect_parse_str("h\xC3\x28,x\n1,2\n", AE_EFORMAT); /* invalid UTF-8 */
    expect_parse_str("h\xED\xA0\x80,x\n1,2\n", AE_EFORMAT); /* UTF-8 surrogate */
    expect_parse_str("h\xC3", AE_EFORMAT); /* UTF-8 cut short */
    const unsigned char bin[] = {'1', ',', '2', '\n', 0, 0x13, 0xFF, 0x7F};
    expect_parse(bin, sizeof bin, AE_EFORMAT); /* binary junk */
    const unsigned char bin_header[] = {'P', 'K', 0x03, 0x04, '\n', '1', '\n'};
    expect_parse(bin_header, sizeof bin_header, AE_EFORMAT); /* a zip file is no header */

    /* A field too long to be a number (over 255 characters). */
    char longf[400];
    memset(longf, '1', 300);
    strcpy(longf + 300, ",2\n");
    expect_parse_str(longf, AE_EFORMAT);
    memset(longf, '0', 250); /* 250 digits is still a number */
    strcpy(longf + 250, "1,2\n");
    ae_data d = parse_ok(longf, strlen(longf), 1, 2);
    assert_close(d.x[0], 1.0f, 0, 0);
    ae_data_free(&d);
}

static void test_csv_gzip(void **state) {
    (void)state;
    const char *s = "x;y\r\n0.5;1.5\r\n\r\n-2;3e2\r\n";
    write_gz("t.csv.gz", s, strlen(s), 0);
    char p[256];
    path_of(p, "t.csv.gz");
    ae_data d;
    assert_int_equal(ae_data_load(p, &d), AE_OK);
    assert_int_equal(d.rows, 2);
    assert_int_equal(d.cols, 2);
    const float want[4] = {0.5f, 1.5f, -2, 300};
    for (int i = 0; i < 4; i++) assert_close(d.x[i], want[i], 0, 0);
    ae_data_free(&d);

    write_bytes("t.csv", s, strlen(s));
    path_of(p, "t.csv");
    assert_int_equal(ae_data_load(p, &d), AE_OK);
    assert_int_equal(d.rows, 2);
    assert_close(d.x[3], 300.0f, 0, 0);
    ae_data_free(&d);
}

/* ---------------------------------------------------------------- ae_npy_save */

static void test_npy_save_round_trip(void **state) {
    (void)state;
    float x[3 * 5];
    test_fill(x, 15, 7, -3, 3);
    x[0] = -0.0f;
    x[1] = 1e-42f;
    x[2] = NAN; /* saving does not judge the values; the bits come back */
    char p[256];
    path_of(p, "a.npy");
    assert_int_equal(ae_npy_save(p, x, 3, 5), AE_OK);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644); /* not mkstemp's 0600 */

    size_t len;
    unsigned char *b = slurp("a.npy", &len);
    assert_memory_equal(b,
                        "\x93"
                        "NUMPY\x01\x00",
                        8);
    size_t hl = (size_t)b[8] | (size_t)b[9] << 8;
    assert_int_equal((10 + hl) % 64, 0);
    assert_int_equal(len, 10 + hl + sizeof x);
    assert_int_equal(b[10 + hl - 1], '\n');
    b[10 + hl - 1] = '\0';
    assert_non_null(strstr((char *)b + 10, "'descr': '<f4'"));
    assert_non_null(strstr((char *)b + 10, "'fortran_order': False"));
    assert_non_null(strstr((char *)b + 10, "'shape': (3, 5)"));
    free(b);

    ae_data d;
    assert_int_equal(ae_data_load(p, &d), AE_OK);
    assert_int_equal(d.rows, 3);
    assert_int_equal(d.cols, 5);
    assert_memory_equal(d.x, x, sizeof x);
    ae_data_free(&d);

    /* Saving again replaces the file; a column vector comes back as one column. */
    assert_int_equal(ae_npy_save(p, x, 15, 1), AE_OK);
    assert_int_equal(ae_data_load(p, &d), AE_OK);
    assert_int_equal(d.rows, 15);
    assert_int_equal(d.cols, 1);
    assert_memory_equal(d.x, x, sizeof x);
    ae_data_free(&d);
    assert_int_equal(count_temporaries(), 0);
}

static void test_npy_save_failure_keeps_previous_file(void **state) {
    (void)state;
    const float x[4] = {1, 2, 3, 4}, y[2] = {9, 9};
    char good[256], bad[256], sub[256];
    path_of(good, "keep.npy");
    assert_int_equal(ae_npy_save(good, x, 2, 2), AE_OK);
    size_t len0, len1;
    unsigned char *before = slurp("keep.npy", &len0);

    path_of(bad, "no_such_dir/keep.npy");
    assert_int_equal(ae_npy_save(bad, y, 1, 2), AE_EIO);
    assert_false(exists(bad));

    /* The rename fails (a directory is in the way): the temporary must go, the directory stay. */
    path_of(sub, "a_directory");
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(ae_npy_save(sub, y, 1, 2), AE_EIO);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(count_temporaries(), 0);

    unsigned char *after = slurp("keep.npy", &len1);
    assert_int_equal(len1, len0);
    assert_memory_equal(after, before, len0);
    free(before);
    free(after);
}

/* ---------------------------------------------------------------- arguments, errors */

static void test_null_arguments(void **state) {
    (void)state;
    float junk;
    ae_data d = {&junk, 3, 3};
    assert_int_equal(ae_data_parse(NULL, 5, &d), AE_EINVAL);
    assert_null(d.x);
    assert_int_equal(d.rows + d.cols, 0);
    assert_int_equal(ae_data_parse("1,2", 3, NULL), AE_EINVAL);
    d = (ae_data){&junk, 3, 3};
    assert_int_equal(ae_data_load(NULL, &d), AE_EINVAL);
    assert_null(d.x);
    assert_int_equal(d.rows + d.cols, 0);
    char p[256];
    path_of(p, "whatever");
    assert_int_equal(ae_data_load(p, NULL), AE_EINVAL);

    const float x[2] = {1, 2};
    path_of(p, "n.npy");
    assert_int_equal(ae_npy_save(NULL, x, 1, 2), AE_EINVAL);
    assert_int_equal(ae_npy_save(p, NULL, 1, 2), AE_EINVAL);
    assert_int_equal(ae_npy_save(p, x, 0, 2), AE_EINVAL);
    assert_int_equal(ae_npy_save(p, x, 1, 0), AE_EINVAL);
    assert_int_equal(ae_npy_save(p, x, SIZE_MAX, 2), AE_EINVAL); /* size overflows */
    assert_int_equal(ae_npy_save(p, x, SIZE_MAX / 2, 1), AE_EINVAL);
    assert_false(exists(p));
    assert_int_equal(count_temporaries(), 0);
}

/* Length 0 is AE_EFORMAT (nothing to parse, like an empty file), not AE_EINVAL. */
static void test_empty_input_and_free(void **state) {
    (void)state;
    expect_parse("1,2", 0, AE_EFORMAT);
    write_bytes("empty.csv", "", 0);
    char p[256];
    path_of(p, "empty.csv");
    float junk;
    ae_data d = {&junk, 1, 1};
    assert_int_equal(ae_data_load(p, &d), AE_EFORMAT);
    assert_null(d.x);
    assert_int_equal(d.rows + d.cols, 0);

    ae_data_free(NULL);
    d = parse_ok("1 2\n", 4, 1, 2);
    ae_data_free(&d);
    assert_null(d.x);
    assert_int_equal(d.rows + d.cols, 0);
    ae_data_free(&d); /* already freed */
    assert_null(d.x);
}

static void test_load_io_errors(void **state) {
    (void)state;
    char p[256];
    float junk;
    ae_data d = {&junk, 2, 2};
    path_of(p, "missing.idx");
    assert_int_equal(ae_data_load(p, &d), AE_EIO);
    assert_null(d.x);
    assert_int_equal(d.rows + d.cols, 0);
    assert_int_equal(ae_data_load(dir, &d), AE_EIO); /* a directory */
    assert_null(d.x);
}

/* ---------------------------------------------------------------- rows of a file */

/* ae_data_load_range must fail with want and leave out zeroed (it starts as junk). */
static void expect_range(const char *path, size_t first, size_t count, int want) {
    float junk;
    ae_data d = {&junk, 7, 7};
    assert_int_equal(ae_data_load_range(path, first, count, &d), want);
    assert_null(d.x);
    assert_int_equal(d.rows, 0);
    assert_int_equal(d.cols, 0);
}

/* ae_data_info must fail with want and zero rows and cols. */
static void expect_info(const char *path, int want) {
    size_t rows = 7, cols = 7;
    assert_int_equal(ae_data_info(path, &rows, &cols), want);
    assert_int_equal(rows, 0);
    assert_int_equal(cols, 0);
}

/* Rows [first, first + count) of path equal those rows of all, bit for bit. */
static void expect_rows(const char *path, const ae_data *all, size_t first, size_t count) {
    ae_data d;
    assert_int_equal(ae_data_load_range(path, first, count, &d), AE_OK);
    assert_non_null(d.x);
    assert_int_equal(d.rows, count);
    assert_int_equal(d.cols, all->cols);
    assert_memory_equal(d.x, all->x + first * all->cols, count * all->cols * sizeof(float));
    ae_data_free(&d);
}

/* Ranges outside [0, rows): AE_EINVAL, overflowing first + count included. */
static void expect_bad_ranges(const char *path, size_t rows) {
    expect_range(path, 0, 0, AE_EINVAL);
    expect_range(path, rows, 1, AE_EINVAL);
    expect_range(path, rows - 1, 2, AE_EINVAL);
    expect_range(path, 0, rows + 1, AE_EINVAL);
    expect_range(path, SIZE_MAX, 1, AE_EINVAL);
    expect_range(path, 1, SIZE_MAX, AE_EINVAL);
    expect_range(path, SIZE_MAX, SIZE_MAX, AE_EINVAL);
}

/* ae_data_load of the file; ae_data_info must give its shape. */
static ae_data load_with_info(const char *path) {
    ae_data all;
    assert_int_equal(ae_data_load(path, &all), AE_OK);
    size_t rows = 0, cols = 0;
    assert_int_equal(ae_data_info(path, &rows, &cols), AE_OK);
    assert_int_equal(rows, all.rows);
    assert_int_equal(cols, all.cols);
    return all;
}

/* Every range (first, count) of dir/name equals the same rows of ae_data_load, the whole
 * range included; returns the number of rows. */
static size_t check_every_range(const char *name) {
    char p[256];
    path_of(p, name);
    ae_data all = load_with_info(p);
    for (size_t first = 0; first < all.rows; first++)
        for (size_t count = 1; count <= all.rows - first; count++) expect_rows(p, &all, first, count);
    expect_bad_ranges(p, all.rows);
    size_t rows = all.rows;
    ae_data_free(&all);
    return rows;
}

/* The file buf as name, name.gz, and two-member gzip files split inside the header (name.h.gz)
 * and inside the data (name.d.gz): each through check_every_range, each with rows rows. */
static void check_every_form(const char *name, const void *buf, size_t n, size_t rows) {
    const char *suffix[4] = {"", ".gz", ".h.gz", ".d.gz"};
    const size_t split[4] = {0, 0, n > 4 ? 3 : 1, n > 4 ? n - n / 3 : n - 1}; /* n >= 2 */
    for (int i = 0; i < 4; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%.50s%s", name, suffix[i]);
        if (i == 0)
            write_bytes(nm, buf, n);
        else
            write_gz(nm, buf, n, split[i]);
        assert_int_equal(check_every_range(nm), rows);
    }
}

static void test_range_idx_ubyte_images(void **state) {
    (void)state;
    unsigned char px[5 * 3 * 4], buf[128];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 37 + 11);
    const uint32_t dims[3] = {5, 3, 4};
    size_t n = idx_make(buf, 0x08, 3, dims, px, sizeof px);
    check_every_form("r.idx", buf, n, 5);

    /* The values themselves: pixels scaled to [0,1]. */
    char p[256];
    path_of(p, "r.idx.d.gz");
    ae_data d;
    assert_int_equal(ae_data_load_range(p, 2, 2, &d), AE_OK);
    for (int i = 0; i < 24; i++) assert_close(d.x[i], (float)((float)px[24 + i] / 255.0f), 0, 0);
    ae_data_free(&d);
}

static void test_range_idx_labels(void **state) {
    (void)state;
    const unsigned char lab[9] = {0, 9, 255, 3, 1, 7, 7, 2, 128};
    const uint32_t dims[1] = {9};
    unsigned char buf[32];
    size_t n = idx_make(buf, 0x08, 1, dims, lab, sizeof lab);
    check_every_form("lab.idx", buf, n, 9);
    char p[256];
    path_of(p, "lab.idx.gz");
    ae_data d;
    assert_int_equal(ae_data_load_range(p, 2, 3, &d), AE_OK);
    assert_int_equal(d.cols, 1);
    for (int i = 0; i < 3; i++) assert_close(d.x[i], (float)lab[2 + i], 0, 0); /* class numbers */
    ae_data_free(&d);
}

static void test_range_idx_other_types(void **state) {
    (void)state;
    const unsigned types[5] = {0x09, 0x0B, 0x0C, 0x0D, 0x0E};
    const size_t esize[5] = {1, 2, 4, 4, 8};
    const uint32_t dims[2] = {4, 3};
    unsigned char data[4 * 3 * 8], buf[128];
    for (int t = 0; t < 5; t++) {
        if (types[t] == 0x0D) { /* real floats for float32: a subnormal, a negative zero */
            float v[12];
            test_fill(v, 12, 5, -3, 3);
            v[1] = 1e-40f;
            v[2] = -0.0f;
            for (int i = 0; i < 12; i++) {
                uint32_t u;
                memcpy(&u, &v[i], 4);
                put_be32(data + 4 * i, u);
            }
        } else if (types[t] == 0x0E) {
            for (int i = 0; i < 12; i++) {
                double v = (i - 5) * 0.37;
                uint64_t u;
                memcpy(&u, &v, 8);
                put_be32(data + 8 * i, (uint32_t)(u >> 32));
                put_be32(data + 8 * i + 4, (uint32_t)u);
            }
        } else {
            for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 73 + 5);
        }
        char name[32];
        snprintf(name, sizeof name, "t%02x.idx", types[t]);
        check_every_form(name, buf, idx_make(buf, types[t], 2, dims, data, 12 * esize[t]), 4);
    }
    /* float32 keeps its bits. */
    char p[256];
    path_of(p, "t0d.idx.gz");
    ae_data d;
    assert_int_equal(ae_data_load_range(p, 0, 1, &d), AE_OK);
    assert_close(d.x[1], (float)1e-40f, 0, 0);
    assert_true(signbit(d.x[2]));
    ae_data_free(&d);
}

static void test_range_npy(void **state) {
    (void)state;
    size_t len;
    unsigned char *b;
    float f4[5 * 3];
    test_fill(f4, 15, 3, -2, 2);
    f4[4] = -0.0f;
    b = npy_make(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3), }", f4, sizeof f4, &len);
    check_every_form("f4.npy", b, len, 5);
    free(b);

    const double f8[6] = {0.1, -7.0, 1e20, 1.0 / 3.0, -2.5e-3, 42};
    b = npy_make(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", f8, sizeof f8, &len);
    check_every_form("f8.npy", b, len, 6);
    free(b);
    b = npy_make(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", f8, sizeof f8, &len);
    check_every_form("f8_2d.npy", b, len, 2);
    free(b);

    const unsigned char u1[12] = {0, 1, 2, 3, 100, 128, 200, 254, 255, 9, 8, 7};
    b = npy_make(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (12,), }", u1, sizeof u1, &len);
    check_every_form("u1.npy", b, len, 12);
    free(b);
    b = npy_make(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4, 3), }", u1, sizeof u1, &len);
    check_every_form("u1_2d.npy", b, len, 4);
    free(b);
    b = npy_make(1, "{'descr': 'u1', 'fortran_order': False, 'shape': (2, 2, 3), }", u1, sizeof u1, &len);
    check_every_form("u1_3d.npy", b, len, 2);
    free(b);
    char p[256];
    path_of(p, "u1_2d.npy.gz");
    ae_data d;
    assert_int_equal(ae_data_load_range(p, 3, 1, &d), AE_OK);
    for (int i = 0; i < 3; i++) assert_close(d.x[i], (float)u1[9 + i], 0, 0); /* not scaled */
    ae_data_free(&d);

    /* Versions 2.0 and 3.0 (a 4-byte header length), and a scalar (one row). */
    b = npy_make(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3), }", f4, sizeof f4, &len);
    check_every_form("v2.npy", b, len, 5);
    free(b);
    b = npy_make(3, "{'shape': (3, 5), 'fortran_order': False, 'descr': '<f4'}", f4, sizeof f4, &len);
    check_every_form("v3.npy", b, len, 3);
    free(b);
    b = npy_make(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f4, 4, &len);
    check_every_form("scalar.npy", b, len, 1);
    free(b);
}

static void test_range_text(void **state) {
    (void)state;
    const char *s = "x;y;z\r\n0.5;1.5;2\r\n\r\n-2;3e2;1\r\n7;8;9\r\n1;1;1\r\n-1;-2;-3\r\n";
    check_every_form("r.csv", s, strlen(s), 5);
    const char *one = "5\n";
    check_every_form("one.csv", one, strlen(one), 1);
    char p[256];
    path_of(p, "r.csv.gz");
    ae_data d;
    assert_int_equal(ae_data_load_range(p, 1, 2, &d), AE_OK);
    assert_int_equal(d.cols, 3);
    const float want[6] = {-2, 300, 1, 7, 8, 9};
    for (int i = 0; i < 6; i++) assert_close(d.x[i], want[i], 0, 0);
    ae_data_free(&d);
    /* A malformed text file: as ae_data_load says. */
    write_bytes("ragged.csv", "1,2\n3\n", 6);
    path_of(p, "ragged.csv");
    expect_info(p, AE_EFORMAT);
    expect_range(p, 0, 1, AE_EFORMAT);
}

/* Files bigger than the 64 KiB pieces the reader works in, compressed and not, with member
 * boundaries swept across the first piece's end: a sample of ranges, rows and pieces
 * straddled. */
static void test_range_large_files(void **state) {
    (void)state;
    enum { R = 200, C = 1000 };
    const uint32_t dims[2] = {R, C};
    size_t n = 12 + (size_t)R * C;
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    uint32_t lcg = 1;
    unsigned char *px = buf + 12;
    for (size_t i = 0; i < (size_t)R * C; i++) { /* incompressible: the gzip file is as big */
        lcg = lcg * 1664525u + 1013904223u;
        px[i] = (unsigned char)(lcg >> 24);
    }
    idx_make(buf, 0x08, 2, dims, NULL, 0);
    write_bytes("big.idx", buf, n);
    write_gz("big.idx.gz", buf, n, 0);
    char p[256], q[256];
    path_of(p, "big.idx");
    ae_data all = load_with_info(p);
    const size_t firsts[] = {0, 1, 64, 65, 66, 130, 131, 199}, counts[] = {1, 2, 65, 66, 67, 200};
    for (int g = 0; g < 2; g++) {
        path_of(q, g ? "big.idx.gz" : "big.idx");
        for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++)
            for (size_t j = 0; j < sizeof counts / sizeof counts[0]; j++)
                if (counts[j] <= R - firsts[i]) expect_rows(q, &all, firsts[i], counts[j]);
    }
    /* A second member starting near the first 64 KiB of compressed input: the reader must
     * look for the next member's magic across the end of a piece. */
    path_of(q, "big2.idx.gz");
    for (size_t split = 65536 - 40; split <= 65536 + 8; split++) {
        write_gz("big2.idx.gz", buf, n, split);
        expect_rows(q, &all, 0, R);
        expect_rows(q, &all, 60, 10);
    }
    ae_data_free(&all);

    /* .npy <f8: 8-byte values, 8192 of them to a piece. */
    size_t vals = 300 * 101, len;
    double *v = malloc(vals * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < vals; i++) v[i] = (double)i * 0.001 - 7;
    unsigned char *b =
        npy_make(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (300, 101), }", v, vals * sizeof *v, &len);
    write_bytes("big.npy", b, len);
    write_gz("big.npy.gz", b, len, len / 2);
    path_of(p, "big.npy");
    all = load_with_info(p);
    for (int g = 0; g < 2; g++) {
        path_of(q, g ? "big.npy.gz" : "big.npy");
        expect_rows(q, &all, 0, 300);
        expect_rows(q, &all, 81, 82);
        expect_rows(q, &all, 162, 1);
        expect_rows(q, &all, 299, 1);
    }
    ae_data_free(&all);
    free(b);
    free(v);
    free(buf);
}

/* Truncation. A plain file must be exactly as long as its header says, whatever the range
 * (an fstat: free). A gzip stream must hold the declared data only up to the range's last
 * row; a range that ends at the last row reads the stream to its end and refuses what
 * ae_data_load refuses (cut, damaged, junk after it, CRC). */
static void test_range_truncated(void **state) {
    (void)state;
    unsigned char px[10 * 20], buf[256];
    uint32_t lcg = 7;
    for (size_t i = 0; i < sizeof px; i++) {
        lcg = lcg * 1664525u + 1013904223u;
        px[i] = (unsigned char)(lcg >> 24);
    }
    const uint32_t dims[2] = {10, 20};
    size_t n = idx_make(buf, 0x08, 2, dims, px, sizeof px);
    write_bytes("full.idx", buf, n);
    char p[256];
    path_of(p, "full.idx");
    ae_data all = load_with_info(p);

    /* Plain, cut inside row 7: refused for every range, before or inside the cut. */
    write_bytes("cut.idx", buf, n - 50);
    path_of(p, "cut.idx");
    expect_info(p, AE_EFORMAT);
    expect_range(p, 0, 3, AE_EFORMAT);
    expect_range(p, 7, 1, AE_EFORMAT);
    expect_range(p, 0, 10, AE_EFORMAT);
    /* Plain, one byte too many: refused too, as ae_data_load refuses it. */
    buf[n] = 0;
    write_bytes("long.idx", buf, n + 1);
    path_of(p, "long.idx");
    expect_info(p, AE_EFORMAT);
    expect_range(p, 0, 1, AE_EFORMAT);
    expect_range(p, 9, 1, AE_EFORMAT);

    /* Plain, cut at every length: what ae_data_load says, info and ranges say. */
    for (size_t cut = 0; cut < n; cut++) {
        write_bytes("every.idx", buf, cut);
        path_of(p, "every.idx");
        ae_data d;
        assert_int_equal(ae_data_load(p, &d), AE_EFORMAT);
        expect_info(p, AE_EFORMAT);
        expect_range(p, 0, 1, AE_EFORMAT);
    }

    /* A whole gzip stream of a cut file (the data ends inside row 7). */
    write_gz("cut.idx.gz", buf, n - 50, 0);
    path_of(p, "cut.idx.gz");
    size_t rows = 0, cols = 0;
    assert_int_equal(ae_data_info(p, &rows, &cols), AE_OK); /* the header alone: no data read */
    assert_int_equal(rows, 10);
    assert_int_equal(cols, 20);
    expect_rows(p, &all, 0, 3); /* the stream holds rows 0..6: fine */
    expect_rows(p, &all, 6, 1);
    expect_range(p, 7, 1, AE_EFORMAT); /* cut inside the range */
    expect_range(p, 5, 3, AE_EFORMAT);
    expect_range(p, 8, 2, AE_EFORMAT); /* cut before the range */
    expect_range(p, 0, 10, AE_EFORMAT);
    /* ... and of a file one byte too long: seen only by a range that ends at the last row. */
    write_gz("long.idx.gz", buf, n + 1, 0);
    path_of(p, "long.idx.gz");
    expect_rows(p, &all, 0, 9);
    expect_range(p, 9, 1, AE_EFORMAT);
    expect_range(p, 0, 10, AE_EFORMAT);

    /* The gzip stream itself cut or damaged. */
    write_gz("z.gz", buf, n, 0);
    size_t len;
    unsigned char *gz = slurp("z.gz", &len);
    path_of(p, "z.gz");
    expect_rows(p, &all, 0, 10); /* the baseline is fine */
    write_bytes("z.gz", gz, len - 4); /* trailer cut: its length field */
    expect_rows(p, &all, 0, 9);
    expect_range(p, 9, 1, AE_EFORMAT);
    write_bytes("z.gz", gz, len / 2); /* cut in the deflate data (about row 5: incompressible) */
    expect_rows(p, &all, 0, 2);
    expect_range(p, 8, 1, AE_EFORMAT);
    expect_range(p, 0, 10, AE_EFORMAT);
    write_bytes("z.gz", gz, 10); /* the gzip header only */
    expect_info(p, AE_EFORMAT);
    expect_range(p, 0, 1, AE_EFORMAT);
    write_bytes("z.gz", gz, 2); /* the magic only */
    expect_info(p, AE_EFORMAT);
    expect_range(p, 0, 1, AE_EFORMAT);
    unsigned char *bad = malloc(len + 3);
    assert_non_null(bad);
    memcpy(bad, gz, len);
    memcpy(bad + len, "abc", 3);
    write_bytes("z.gz", bad, len + 3); /* junk after the member */
    expect_rows(p, &all, 0, 9);
    expect_range(p, 9, 1, AE_EFORMAT);
    write_bytes("z.gz", bad, len + 1); /* one byte: not even a magic */
    expect_range(p, 0, 10, AE_EFORMAT);
    bad[len - 6] ^= 0x55; /* CRC-32 of the data */
    write_bytes("z.gz", bad, len);
    expect_rows(p, &all, 0, 9);
    expect_range(p, 0, 10, AE_EFORMAT);
    /* Compressed bytes cut at every length: the whole range is always refused. */
    for (size_t cut = 0; cut < len; cut++) {
        write_bytes("z.gz", gz, cut);
        expect_range(p, 0, 10, AE_EFORMAT);
    }
    free(bad);
    free(gz);
    ae_data_free(&all);
}

/* The largest allocation made while the hook is on. */
static size_t biggest;
static int record_size(size_t bytes, void *user) {
    (void)user;
    if (bytes > biggest) biggest = bytes;
    return 0;
}

/* A header that declares far more than the file holds: a plain file is refused from its size,
 * a gzip file once its stream ends, without allocating for the declared rows; declared sizes
 * over ae_data_load's limit (8 GiB) are refused from the header. */
static void test_range_hostile_headers(void **state) {
    (void)state;
    unsigned char px[12] = {0}, buf[64];
    char p[256];
    const uint32_t big[2] = {65536, 65536}; /* 4 GiB of pixels, 16 GiB of floats */
    size_t n = idx_make(buf, 0x08, 2, big, px, sizeof px);
    write_bytes("hostile.idx", buf, n);
    write_gz("hostile.idx.gz", buf, n, 0);
    path_of(p, "hostile.idx");
    expect_info(p, AE_EFORMAT);
    expect_range(p, 0, 65536, AE_EFORMAT);
    path_of(p, "hostile.idx.gz");
    size_t rows, cols;
    assert_int_equal(ae_data_info(p, &rows, &cols), AE_OK); /* the header alone is plausible */
    assert_int_equal(rows, 65536);
    assert_int_equal(cols, 65536);
    biggest = 0;
    ae_set_alloc_hook(record_size, NULL);
    float junk;
    ae_data d = {&junk, 7, 7};
    int rc = ae_data_load_range(p, 0, 65536, &d);
    ae_set_alloc_hook(NULL, NULL);
    assert_int_equal(rc, AE_EFORMAT);
    assert_null(d.x);
    assert_true(biggest <= ((size_t)1 << 20)); /* 64 KiB pieces, zlib's window */
    expect_range(p, 65535, 1, AE_EFORMAT);

    const uint32_t over[3] = {65536, 65536, 3}; /* 12 GiB */
    n = idx_make(buf, 0x08, 3, over, px, sizeof px);
    write_gz("over.idx.gz", buf, n, 0);
    path_of(p, "over.idx.gz");
    expect_info(p, AE_EFORMAT);
    expect_range(p, 0, 1, AE_EFORMAT);
    size_t len;
    unsigned char *b = npy_make(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (50000, 50000), }", px, 8, &len);
    write_gz("over.npy.gz", b, len, 0);
    free(b);
    path_of(p, "over.npy.gz");
    expect_info(p, AE_EFORMAT);
    expect_range(p, 0, 1, AE_EFORMAT);
}

/* Malformed headers: info and ranges refuse what ae_data_load refuses, plain and gzip. */
static void test_range_bad_headers(void **state) {
    (void)state;
    unsigned char files[16][192];
    size_t lens[16], k = 0;
    unsigned char px[16] = {0};
    const uint32_t dims[3] = {2, 2, 3}, zero[3] = {2, 0, 3}, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    lens[k] = idx_make(files[k], 0x0A, 3, dims, px, 12), k++; /* unknown type */
    lens[k] = idx_make(files[k], 0x08, 0, dims, px, 12), k++; /* no dims */
    lens[k] = idx_make(files[k], 0x08, 9, nine, px, 1), k++; /* more than 8 */
    lens[k] = idx_make(files[k], 0x08, 3, zero, px, 0), k++; /* a zero dim */
    lens[k] = idx_make(files[k], 0x08, 3, huge, px, 12), k++; /* overflow */
    lens[k] = idx_make(files[k], 0x08, 3, dims, px, 12) - 14, k++; /* dims cut short */
    const char *dicts[] = {
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), ",
    };
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
        size_t len;
        unsigned char *b = npy_make(1, dicts[i], px, 16, &len);
        assert_true(len <= sizeof files[0]);
        memcpy(files[k], b, len);
        lens[k++] = len;
        free(b);
    }
    size_t len;
    unsigned char *b = npy_make(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", px, 16, &len);
    memcpy(files[k], b, len);
    files[k][6] = 4; /* version 4.0 */
    lens[k++] = len;
    memcpy(files[k], b, len);
    files[k][8] = 0xFF; /* header length past the end */
    files[k][9] = 0xFF;
    lens[k++] = len;
    memcpy(files[k], b, 9); /* the version's fields cut */
    lens[k++] = 9;
    memcpy(files[k], b, 5); /* the magic cut: not a .npy file (nor text) */
    lens[k++] = 5;
    free(b);
    assert_true(k <= 16);

    char p[256];
    for (size_t i = 0; i < k; i++)
        for (int g = 0; g < 2; g++) {
            if (g)
                write_gz("bad", files[i], lens[i], 0);
            else
                write_bytes("bad", files[i], lens[i]);
            path_of(p, "bad");
            ae_data d;
            assert_int_equal(ae_data_load(p, &d), AE_EFORMAT);
            expect_info(p, AE_EFORMAT);
            expect_range(p, 0, 1, AE_EFORMAT);
        }
}

static void test_range_arguments_and_io_errors(void **state) {
    (void)state;
    const float x[4] = {1, 2, 3, 4};
    char p[256], q[256];
    path_of(p, "args.npy");
    assert_int_equal(ae_npy_save(p, x, 2, 2), AE_OK);
    size_t rows = 7, cols = 7;
    assert_int_equal(ae_data_info(NULL, &rows, &cols), AE_EINVAL);
    assert_int_equal(rows + cols, 0);
    cols = 7;
    assert_int_equal(ae_data_info(p, NULL, &cols), AE_EINVAL);
    assert_int_equal(cols, 0);
    rows = 7;
    assert_int_equal(ae_data_info(p, &rows, NULL), AE_EINVAL);
    assert_int_equal(rows, 0);
    expect_range(NULL, 0, 1, AE_EINVAL);
    expect_range(p, 0, 0, AE_EINVAL);
    assert_int_equal(ae_data_load_range(p, 0, 1, NULL), AE_EINVAL);

    path_of(q, "missing.npy");
    expect_info(q, AE_EIO);
    expect_range(q, 0, 1, AE_EIO);
    expect_info(dir, AE_EIO); /* a directory */
    expect_range(dir, 0, 1, AE_EIO);
    write_bytes("empty", "", 0);
    path_of(q, "empty");
    expect_info(q, AE_EFORMAT);
    expect_range(q, 0, 1, AE_EFORMAT);
    write_gz("empty.gz", "", 0, 0); /* inflates to nothing */
    path_of(q, "empty.gz");
    expect_info(q, AE_EFORMAT);
    expect_range(q, 0, 1, AE_EFORMAT);
}

/* Every allocation the readers make fails in turn: AE_ENOMEM, out zeroed, nothing leaked
 * (the sanitizer build runs LeakSanitizer). */
static size_t fail_at, seen;
static int fail_kth(size_t bytes, void *user) {
    (void)bytes;
    (void)user;
    return ++seen == fail_at;
}

static void walk_range_faults(const char *path, size_t first, size_t count) {
    for (int info = 0; info < 2; info++)
        for (size_t k = 1;; k++) {
            fail_at = k;
            seen = 0;
            float junk;
            ae_data d = {&junk, 7, 7};
            size_t rows = 7, cols = 7;
            ae_set_alloc_hook(fail_kth, NULL);
            int rc = info ? ae_data_info(path, &rows, &cols) : ae_data_load_range(path, first, count, &d);
            size_t made = seen;
            ae_set_alloc_hook(NULL, NULL);
            if (made < k) { /* nothing failed */
                assert_int_equal(rc, AE_OK);
                if (!info) ae_data_free(&d);
                break;
            }
            if (rc != AE_ENOMEM) print_error("%s: allocation %zu failed, status %d\n", path, k, rc);
            assert_int_equal(rc, AE_ENOMEM);
            if (info) {
                assert_int_equal(rows + cols, 0);
            } else {
                assert_null(d.x);
                assert_int_equal(d.rows + d.cols, 0);
            }
        }
}

static void test_range_allocation_failures(void **state) {
    (void)state;
    unsigned char px[4 * 6], buf[64];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 11);
    const uint32_t dims[2] = {4, 6};
    size_t n = idx_make(buf, 0x08, 2, dims, px, sizeof px);
    write_bytes("f.idx", buf, n);
    write_gz("f.idx.gz", buf, n, 10);
    float x[5 * 3];
    test_fill(x, 15, 1, -1, 1);
    char p[256];
    path_of(p, "f.npy");
    assert_int_equal(ae_npy_save(p, x, 5, 3), AE_OK);
    size_t len;
    unsigned char *b = slurp("f.npy", &len);
    write_gz("f.npy.gz", b, len, 0);
    free(b);
    const char *csv = "a,b\n1,2\n3,4\n5,6\n";
    write_bytes("f.csv", csv, strlen(csv));
    write_gz("f.csv.gz", csv, strlen(csv), 0);
    const char *names[] = {"f.idx", "f.idx.gz", "f.npy", "f.npy.gz", "f.csv", "f.csv.gz"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_of(p, names[i]);
        walk_range_faults(p, 1, 2);
        walk_range_faults(p, 2, 1); /* the last rows: read to the end */
    }
}

/* The real Fashion-MNIST test set, where the system package put it: ranges of the gzip'd
 * images and labels equal the same rows of the whole file. */
static void test_range_fashion_mnist(void **state) {
    (void)state;
    const char *images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    const char *labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (!exists(images) || !exists(labels)) skip();
    ae_data all = load_with_info(images);
    assert_int_equal(all.rows, 10000);
    assert_int_equal(all.cols, 784);
    expect_rows(images, &all, 0, 1);
    expect_rows(images, &all, 2500, 5000);
    expect_rows(images, &all, 9999, 1);
    expect_rows(images, &all, 0, 10000);
    ae_data_free(&all);
    all = load_with_info(labels);
    assert_int_equal(all.cols, 1);
    expect_rows(labels, &all, 7500, 2500);
    ae_data_free(&all);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_ubyte_images_scaled),
        cmocka_unit_test(test_idx_labels_keep_values),
        cmocka_unit_test(test_idx_other_types),
        cmocka_unit_test(test_idx_gzip_equals_plain),
        cmocka_unit_test(test_gzip_damage_refused),
        cmocka_unit_test(test_idx_bad_sizes_refused),
        cmocka_unit_test(test_npy_f4_2d),
        cmocka_unit_test(test_npy_f8_1d),
        cmocka_unit_test(test_npy_u1_3d_not_scaled),
        cmocka_unit_test(test_npy_versions_and_key_order),
        cmocka_unit_test(test_npy_bad_headers_refused),
        cmocka_unit_test(test_csv_header_crlf),
        cmocka_unit_test(test_text_separators_and_blank_lines),
        cmocka_unit_test(test_text_nan_inf_pass_through),
        cmocka_unit_test(test_text_malformed_refused),
        cmocka_unit_test(test_csv_gzip),
        cmocka_unit_test(test_npy_save_round_trip),
        cmocka_unit_test(test_npy_save_failure_keeps_previous_file),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_empty_input_and_free),
        cmocka_unit_test(test_load_io_errors),
        cmocka_unit_test(test_range_idx_ubyte_images),
        cmocka_unit_test(test_range_idx_labels),
        cmocka_unit_test(test_range_idx_other_types),
        cmocka_unit_test(test_range_npy),
        cmocka_unit_test(test_range_text),
        cmocka_unit_test(test_range_large_files),
        cmocka_unit_test(test_range_truncated),
        cmocka_unit_test(test_range_hostile_headers),
        cmocka_unit_test(test_range_bad_headers),
        cmocka_unit_test(test_range_arguments_and_io_errors),
        cmocka_unit_test(test_range_allocation_failures),
        cmocka_unit_test(test_range_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
