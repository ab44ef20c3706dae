/* Delimited text (io_csv): the misreads of issue 20 (bare CR, decimal commas, hex and other
 * strtof extras, float overflow), delimiter and header detection, pandas' index column, the
 * column options and the label column, each refusal's detail, and the cap on inflated text.
 * The details of refused IDX, .npy and unreadable files are checked here too: ae_last_error
 * belongs to every data reader. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_util.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ae.h"
#include "tensor.h" /* ae_set_alloc_hook */

static char dir[64];

static int make_dir(void **state) {
    (void)state;
    strcpy(dir, "/tmp/ae_io_csv_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(dir) == 0 ? 0 : -1;
}

static const char *path_of(const char *name) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *name, const void *b, size_t n) {
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* One gzip member, in memory: out must hold compressBound-ish room (n + n / 1000 + 64). */
static size_t gz(const void *p, size_t n, unsigned char *out, size_t cap) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (unsigned char *)p;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t len = cap - zs.avail_out;
    deflateEnd(&zs);
    return len;
}

/* Text parsed with options o (NULL: defaults) into the given shape and values. */
static void expect_values(const char *text, const ae_csv_opts *o, size_t rows, size_t cols, const float *want) {
    ae_data d;
    int rc = ae_data_parse_csv(text, strlen(text), o, &d, NULL);
    if (rc != AE_OK) print_error("'%s': %s: %s\n", text, ae_strerror(rc), ae_last_error());
    assert_int_equal(rc, AE_OK);
    assert_string_equal(ae_last_error(), "");
    assert_int_equal(d.rows, rows);
    assert_int_equal(d.cols, cols);
    for (size_t i = 0; i < rows * cols; i++) assert_close(d.x[i], want[i], 0, 0);
    ae_data_free(&d);
}

/* Text refused with status want and a detail that contains each of the NULL-terminated
 * strings; out (and labels) zeroed. */
static void expect_refused(const char *text, const ae_csv_opts *o, int want, ...) {
    float junk;
    ae_data d = {&junk, 3, 3}, y = {&junk, 3, 3};
    int rc = ae_data_parse_csv(text, strlen(text), o, &d, &y);
    if (rc != want) print_error("'%s': status %d (%s)\n", text, rc, ae_last_error());
    assert_int_equal(rc, want);
    assert_null(d.x);
    assert_null(y.x);
    assert_int_equal(d.rows + d.cols + y.rows + y.cols, 0);
    va_list ap;
    va_start(ap, want);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        if (!strstr(ae_last_error(), s)) print_error("'%s': detail '%s' lacks '%s'\n", text, ae_last_error(), s);
        assert_non_null(strstr(ae_last_error(), s));
    }
    va_end(ap);
}

/* ---------------------------------------------------------------- issue 20's misreads */

static void test_bare_cr_ends_lines(void **state) {
    (void)state;
    const float six[6] = {1, 2, 3, 4, 5, 6};
    expect_values("1,2,3\r4,5,6\r", NULL, 2, 3, six);
    expect_values("1,2,3\r4,5,6", NULL, 2, 3, six);
    expect_values("a,b\r1,2\r\n3,4\n\r5,6", NULL, 3, 2, six); /* mixed: CR, CRLF, LF, LF then CR */
    expect_refused("1,2,3\r4,5\r", NULL, AE_EFORMAT, "line 2 has 2 fields where line 1 has 3", NULL);
}

static void test_decimal_commas_with_semicolons(void **state) {
    (void)state;
    const float want[4] = {1.5f, 2.5f, -3.25f, 4};
    expect_values("1,5;2,5\n-3,25;4\n", NULL, 2, 2, want);
    expect_values("x;y\n1,5;2,5\n-3,25;4,0\n", NULL, 2, 2, want);
    ae_csv_opts o = ae_csv_opts_default();
    o.delimiter = ';';
    expect_values("1,5;2,5\n-3,25;4\n", &o, 2, 2, want);
    expect_values("1.5;2,5\n-3.25;4\n", &o, 2, 2, want); /* either mark */
    /* Two marks are no number; with ',' as the delimiter a ',' splits, never a decimal point. */
    expect_refused("1,5,0;2\n", NULL, AE_EFORMAT, "line 1 column 1", "'1,5,0' is not a number", NULL);
    expect_refused("1,5.0;2\n", NULL, AE_EFORMAT, "line 1 column 1", NULL);
    o.delimiter = ',';
    const float four[4] = {1, 5, 2, 5};
    expect_values("1,5,2,5\n", &o, 1, 4, four);
}

static void test_strtof_extras_refused(void **state) {
    (void)state;
    expect_refused("1,2\n0x10,3\n", NULL, AE_EFORMAT, "line 2 column 1", "'0x10' is not a number", NULL);
    expect_refused("a,b\n1,0x1p3\n", NULL, AE_EFORMAT, "line 2 column 2 (b)", "'0x1p3'", NULL);
    expect_refused("1,nan(123)\n", NULL, AE_EFORMAT, "line 1 column 2", NULL);
    expect_refused("1,2\n1e,3\n", NULL, AE_EFORMAT, "line 2 column 1", NULL);
    expect_refused("1,2\n--1,3\n", NULL, AE_EFORMAT, "'--1'", NULL);
    expect_refused("1,2\n.,3\n", NULL, AE_EFORMAT, NULL);
    expect_refused("1,2\n1 2,3\n", NULL, AE_EFORMAT, "'1 2'", NULL); /* blanks inside a field */
    /* nan and inf (any case, signed, infinity) keep their values for ae_train to refuse. */
    ae_data d;
    const char *s = "NaN,-INF,Infinity,+inf\n";
    assert_int_equal(ae_data_parse(s, strlen(s), &d), AE_OK);
    assert_int_equal(d.cols, 4);
    assert_true(isnan(d.x[0]));
    assert_true(isinf(d.x[1]) && d.x[1] < 0);
    assert_true(isinf(d.x[2]) && d.x[2] > 0);
    assert_true(isinf(d.x[3]) && d.x[3] > 0);
    ae_data_free(&d);
}

static void test_float_overflow_refused(void **state) {
    (void)state;
    expect_refused("1,2\n3,1e39\n", NULL, AE_EFORMAT, "line 2 column 2", "1e39 is out of float range", NULL);
    expect_refused("-1e39\n", NULL, AE_EFORMAT, "out of float range", NULL);
    expect_refused("1e400\n", NULL, AE_EFORMAT, "out of float range", NULL);
    const float big[3] = {3.4e38f, 0.0f, -3.4e38f}; /* the edge stays; an underflow becomes 0 */
    expect_values("3.4e38,1e-50,-3.4e38\n", NULL, 1, 3, big);
}

/* ---------------------------------------------------------------- detection */

static void test_delimiters_detected(void **state) {
    (void)state;
    const float want[4] = {1, 2, 3, 4};
    expect_values("a\tb\n1\t2\n3\t4\n", NULL, 2, 2, want);
    expect_values("a;b\n1;2\n3;4\n", NULL, 2, 2, want);
    expect_values("a,b\n1,2\n3,4\n", NULL, 2, 2, want);
    expect_values("a b\n 1  2\n3 4 \n", NULL, 2, 2, want);
    /* A tab file whose text column holds commas: tab is on every line, so it wins. */
    ae_csv_opts o = ae_csv_opts_default();
    o.drop = "city";
    expect_values("city\tx\ty\nNew York, NY\t1\t2\nParis\t3\t4\n", &o, 2, 2, want);
    /* A quoted ';' does not count. */
    o = ae_csv_opts_default();
    o.drop = "1";
    expect_values("\"a;b\",x,y\n\"p;q\",1,2\n\"r;s\",3,4\n", &o, 2, 2, want);
    /* Told explicitly: tab, so ',' is no delimiter and '1,2' is no number. */
    o = ae_csv_opts_default();
    o.delimiter = '\t';
    expect_refused("1,2\t3\n", &o, AE_EFORMAT, "'1,2' is not a number", NULL);
    o.delimiter = '"';
    expect_refused("1,2\n", &o, AE_EINVAL, "cannot be a delimiter", NULL);
}

static void test_header_detected_or_told(void **state) {
    (void)state;
    const float four[4] = {1, 2, 3, 4};
    expect_values("1,2\n3,4\n", NULL, 2, 2, four);
    expect_values("\"a\",\"b\"\n\"1\",2\n3,\"4\"\n", NULL, 2, 2, four); /* quoted names and numbers */
    ae_csv_opts o = ae_csv_opts_default();
    o.header = 1; /* numeric names */
    expect_values("0,1\n1,2\n3,4\n", &o, 2, 2, four);
    o.header = 0;
    expect_refused("a,b\n1,2\n", &o, AE_EFORMAT, "line 1 column 1: 'a' is not a number", NULL);
    /* A text label column by number does not make the first line a header. */
    o = ae_csv_opts_default();
    o.label = "3";
    ae_data d, y;
    const char *s = "1,2,benign\n3,4,malignant\n";
    assert_int_equal(ae_data_parse_csv(s, strlen(s), &o, &d, &y), AE_OK);
    assert_int_equal(d.rows, 2);
    assert_int_equal(y.rows, 2);
    assert_close(y.x[0], 0, 0, 0);
    assert_close(y.x[1], 1, 0, 0);
    ae_data_free(&d);
    ae_data_free(&y);
}

static void test_pandas_index_column(void **state) {
    (void)state;
    const float want[6] = {1.5f, 2, 3, 4, 5, 6};
    expect_values(",a,b\n0,1.5,2\n1,3,4\n2,5,6\n", NULL, 3, 2, want);
    expect_values("\"\",\"a\",\"b\"\n\"1\",1.5,2\n\"2\",3,4\n\"3\",5,6\n", NULL, 3, 2, want); /* R */
    const float from_two[6] = {2, 1.5f, 2, 3, 3, 4};
    expect_values(",a,b\n2,1.5,2\n3,3,4\n", NULL, 2, 3, from_two); /* counts from 2: no index */
    /* Not 0..n-1, or a named first column: kept (",x,y" with 1, 4 is data). */
    const float kept[6] = {1, 2, 3, 4, 5, 6};
    expect_values(",x,y\n1,2,3\n4,5,6\n", NULL, 2, 3, kept);
    const float named[6] = {0, 1.5f, 2, 1, 3, 4};
    expect_values("i,a,b\n0,1.5,2\n1,3,4\n", NULL, 2, 3, named);
    ae_csv_opts o = ae_csv_opts_default();
    o.index_column = 0;
    expect_values(",a,b\n0,1.5,2\n1,3,4\n", &o, 2, 3, named);
    o.index_column = 1;
    const float dropped[2] = {2, 4};
    expect_values("1,2\n3,4\n", &o, 2, 1, dropped);
    /* A text index (ids) with an empty name is no pandas index: said as a text column. */
    expect_refused(",a\nx1,2\nx2,3\n", NULL, AE_EFORMAT, "line 2 column 1: 'x1' is not a number", NULL);
}

/* ---------------------------------------------------------------- columns and labels */

static void test_columns_and_drop(void **state) {
    (void)state;
    const char *s = "a,b,c,d\n1,2,3,4\n5,6,7,8\n";
    ae_csv_opts o = ae_csv_opts_default();
    o.columns = "d, 2-3";
    const float listed[6] = {4, 2, 3, 8, 6, 7};
    expect_values(s, &o, 2, 3, listed);
    o.columns = NULL;
    o.drop = "b";
    const float dropped[6] = {1, 3, 4, 5, 7, 8};
    expect_values(s, &o, 2, 3, dropped);
    o.drop = "1,3-4";
    const float only_b[2] = {2, 6};
    expect_values(s, &o, 2, 1, only_b);
    o.columns = "d,a,b";
    o.drop = "a";
    const float both[4] = {4, 2, 8, 6};
    expect_values(s, &o, 2, 2, both);
    /* Dropped columns are not read: text there is fine. */
    o = ae_csv_opts_default();
    o.drop = "name";
    const float nums[2] = {1, 2};
    expect_values("name,x\nbob,1\n,2\n", &o, 2, 1, nums);
    /* Without a header, numbers; a name is refused. */
    o = ae_csv_opts_default();
    o.columns = "2";
    const float second[2] = {2, 4};
    expect_values("1,2\n3,4\n", &o, 2, 1, second);
}

static void test_column_options_refused(void **state) {
    (void)state;
    const char *s = "a,b,c\n1,2,3\n";
    ae_csv_opts o = ae_csv_opts_default();
    o.columns = "a,nope";
    expect_refused(s, &o, AE_EINVAL, "columns: no column named 'nope'", NULL);
    o.columns = "9";
    expect_refused(s, &o, AE_EINVAL, "columns: column 9 does not exist: the file has 3", NULL);
    o.columns = "a,1";
    expect_refused(s, &o, AE_EINVAL, "column 1 is listed twice", NULL);
    o.columns = "a,,b";
    expect_refused(s, &o, AE_EINVAL, "an empty entry", NULL);
    o.columns = "3-1";
    expect_refused(s, &o, AE_EINVAL, "runs backwards", NULL);
    o.columns = NULL;
    o.drop = "a,b,c";
    expect_refused(s, &o, AE_EINVAL, "no feature columns left", NULL);
    o = ae_csv_opts_default();
    o.label = "nope";
    expect_refused(s, &o, AE_EINVAL, "label: no column named 'nope'", NULL);
    o.label = "b,c";
    expect_refused(s, &o, AE_EINVAL, "one column", NULL);
    o.label = "x";
    expect_refused("1,2\n3,4\n", &o, AE_EINVAL, "no column named 'x'", NULL);
    /* A label with nowhere to go. */
    o.label = "a";
    ae_data d;
    assert_int_equal(ae_data_parse_csv(s, strlen(s), &o, &d, NULL), AE_EINVAL);
    assert_null(d.x);
    o.header = 2;
    expect_refused(s, &o, AE_EINVAL, "header and index_column", NULL);
}

static void test_label_column(void **state) {
    (void)state;
    ae_csv_opts o = ae_csv_opts_default();
    o.label = "diagnosis";
    const char *s = "r,diagnosis,t\n1,\"zeta\",2\n3,alpha,4\n5,zeta,6\n7,beta,8\n";
    ae_data d, y;
    assert_int_equal(ae_data_parse_csv(s, strlen(s), &o, &d, &y), AE_OK);
    assert_int_equal(d.rows, 4);
    assert_int_equal(d.cols, 2);
    assert_int_equal(y.rows, 4);
    assert_int_equal(y.cols, 1);
    const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, classes[4] = {2, 0, 2, 1}; /* alpha beta zeta */
    for (int i = 0; i < 8; i++) assert_close(d.x[i], x[i], 0, 0);
    for (int i = 0; i < 4; i++) assert_close(y.x[i], classes[i], 0, 0);
    ae_data_free(&d);
    ae_data_free(&y);
    /* The class names, in class order; a buffer too small keeps those that fit. */
    char names[32];
    memset(names, 'x', sizeof names);
    o.label_names = names;
    o.label_names_cap = sizeof names;
    assert_int_equal(ae_data_parse_csv(s, strlen(s), &o, &d, &y), AE_OK);
    assert_memory_equal(names, "alpha\0beta\0zeta\0\0", 17);
    ae_data_free(&d);
    ae_data_free(&y);
    memset(names, 'x', sizeof names);
    o.label_names_cap = 12; /* "alpha\0beta\0" and the end need 12: "zeta" is left out */
    assert_int_equal(ae_data_parse_csv(s, strlen(s), &o, &d, &y), AE_OK);
    assert_memory_equal(names, "alpha\0beta\0\0", 12);
    assert_int_equal(names[12], 'x');
    ae_data_free(&d);
    ae_data_free(&y);
    o.label_names_cap = 1;
    assert_int_equal(ae_data_parse_csv(s, strlen(s), &o, &d, &y), AE_OK);
    assert_int_equal(names[0], '\0');
    ae_data_free(&d);
    ae_data_free(&y);
    o.label_names = NULL;
    /* Numeric labels keep their values; by number; listed in columns too: still no feature. */
    o.label = "3";
    o.columns = "1-3";
    const char *n = "a,b,y\n1,2,7.5\n3,4,-1\n";
    assert_int_equal(ae_data_parse_csv(n, strlen(n), &o, &d, &y), AE_OK);
    assert_int_equal(d.cols, 2);
    assert_close(y.x[0], 7.5f, 0, 0);
    assert_close(y.x[1], -1.0f, 0, 0);
    ae_data_free(&d);
    ae_data_free(&y);
    /* Without a label, labels comes back empty. */
    float junk;
    y = (ae_data){&junk, 1, 1};
    assert_int_equal(ae_data_parse_csv(n, strlen(n), NULL, &d, &y), AE_OK);
    assert_int_equal(d.cols, 3);
    assert_null(y.x);
    assert_int_equal(y.rows + y.cols, 0);
    ae_data_free(&d);
    o = ae_csv_opts_default();
    o.label = "y";
    expect_refused("a,y\n1,2\n3,\n", &o, AE_EFORMAT, "line 3 column 2 (y): empty label", NULL);
}

/* ---------------------------------------------------------------- what went wrong */

static void test_text_refusals_say_where(void **state) {
    (void)state;
    expect_refused("1,2,3\n4,5\n", NULL, AE_EFORMAT, "line 2 has 2 fields where line 1 has 3", NULL);
    expect_refused("a,b\n\n1,2\n3,4,5\n", NULL, AE_EFORMAT, "line 4 has 3 fields where line 1 has 2", NULL);
    expect_refused("1,,2\n", NULL, AE_EFORMAT, "line 1 column 2: empty field", NULL);
    expect_refused("x,name\n1,bob\n", NULL, AE_EFORMAT, "line 2 column 2 (name): 'bob' is not a number", NULL);
    expect_refused("a,b\n", NULL, AE_EFORMAT, "no data rows", NULL);
    expect_refused(" \n\n", NULL, AE_EFORMAT, "empty or blank", NULL);
    expect_refused("1,\"2\n", NULL, AE_EFORMAT, "line 1 column 2: a quote that does not close", NULL);
    expect_refused("1,\"2\"x\n", NULL, AE_EFORMAT, "text after a closing quote", NULL);
    expect_refused("1,2\n3,4\x01\n", NULL, AE_EFORMAT, "control character", "line 2", NULL);
    expect_refused("h\xC3\x28,x\n1,2\n", NULL, AE_EFORMAT, "invalid UTF-8", NULL);
}

/* A struct of bytes as a file; the detail must start with the file's name and say what. */
static void expect_file_refused(const char *name, const void *b, size_t n, int want, const char *what) {
    write_bytes(name, b, n);
    ae_data d;
    int rc = ae_data_load(path_of(name), &d);
    if (rc != want || !strstr(ae_last_error(), what))
        print_error("%s: status %d, detail '%s', wanted '%s'\n", name, rc, ae_last_error(), what);
    assert_int_equal(rc, want);
    assert_null(d.x);
    assert_int_equal(strncmp(ae_last_error(), path_of(name), strlen(path_of(name))), 0);
    assert_non_null(strstr(ae_last_error(), what));
}

static size_t npy_bytes(unsigned char *out, const char *dict, size_t data) {
    size_t dl = strlen(dict), total = (10 + dl + 1 + 63) / 64 * 64;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)((total - 10) & 0xFF);
    out[9] = (unsigned char)((total - 10) >> 8);
    memcpy(out + 10, dict, dl);
    memset(out + 10 + dl, ' ', total - 10 - dl);
    out[total - 1] = '\n';
    memset(out + total, 0, data);
    return total + data;
}

static void test_binary_refusals_say_what(void **state) {
    (void)state;
    static const struct {
        const char *descr, *what;
    } dtypes[] = {{"<f2", "float16"}, {">f4", "big-endian float32"}, {"<i8", "int64"},
                  {"|b1", "bool"},    {"|O", "Python objects"},      {"<U5", "unicode strings"}};
    unsigned char b[256];
    char dict[128];
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 2), }", dtypes[i].descr);
        expect_file_refused("t.npy", b, npy_bytes(b, dict, 32), AE_EFORMAT, dtypes[i].what);
        assert_non_null(strstr(ae_last_error(), dtypes[i].descr));
    }
    expect_file_refused("f.npy", b, npy_bytes(b, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16),
                        AE_EFORMAT, "Fortran order");
    expect_file_refused("z.npy", b, npy_bytes(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", 0),
                        AE_EFORMAT, "the shape has a size 0");
    expect_file_refused("s.npy", b, npy_bytes(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 12),
                        AE_EFORMAT, "fewer bytes of data after the header");
    const unsigned char idx[] = {0, 0, 0x0A, 1, 0, 0, 0, 2, 1, 2};
    expect_file_refused("t.idx", idx, sizeof idx, AE_EFORMAT, "type code 0x0A");
    const unsigned char idx0[] = {0, 0, 0x08, 1, 0, 0, 0, 0};
    expect_file_refused("z.idx", idx0, sizeof idx0, AE_EFORMAT, "zero rows");
    expect_file_refused("r.csv", "1,2\n3\n", 6, AE_EFORMAT, "line 2 has 1 field where line 1 has 2");

    /* The system's reason for what cannot be read. */
    ae_data d;
    assert_int_equal(ae_data_load(path_of("missing.csv"), &d), AE_EIO);
    assert_non_null(strstr(ae_last_error(), "missing.csv: No such file or directory"));
    assert_int_equal(ae_data_load(dir, &d), AE_EIO);
    assert_non_null(strstr(ae_last_error(), "Is a directory"));
    size_t rows, cols;
    assert_int_equal(ae_data_info(path_of("missing.npy"), &rows, &cols), AE_EIO);
    assert_non_null(strstr(ae_last_error(), "missing.npy: No such file or directory"));
    assert_int_equal(ae_data_load_range(path_of("t.idx"), 0, 1, &d), AE_EFORMAT);
    assert_non_null(strstr(ae_last_error(), "type code 0x0A"));
    /* The next call that succeeds leaves no detail behind. */
    write_bytes("ok.csv", "1,2\n", 4);
    assert_int_equal(ae_data_load(path_of("ok.csv"), &d), AE_OK);
    assert_string_equal(ae_last_error(), "");
    ae_data_free(&d);
    assert_int_equal(ae_data_load_range(path_of("ok.csv"), 3, 1, &d), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "outside the file's 1 rows"));
}

/* Column options on an IDX or .npy file are refused; without them it loads as ae_data_load. */
static void test_options_on_binary_files(void **state) {
    (void)state;
    unsigned char b[256];
    size_t n = npy_bytes(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16);
    write_bytes("ok.npy", b, n);
    ae_data d, y;
    assert_int_equal(ae_data_load_csv(path_of("ok.npy"), NULL, &d, &y), AE_OK);
    assert_int_equal(d.rows * d.cols, 4);
    assert_null(y.x);
    ae_data_free(&d);
    ae_csv_opts o = ae_csv_opts_default();
    o.label = "1";
    assert_int_equal(ae_data_load_csv(path_of("ok.npy"), &o, &d, &y), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "apply to text files; this is a .npy file"));
    assert_null(d.x);
}

/* ---------------------------------------------------------------- bounds */

static size_t biggest;
static int note_size(size_t bytes, void *user) {
    (void)user;
    if (bytes > biggest) biggest = bytes;
    return 0;
}

static void test_inflated_text_capped(void **state) {
    (void)state;
    size_t n = 1 << 20; /* 1 MiB of "0,0\n" */
    char *text = malloc(n + 1);
    assert_non_null(text);
    for (size_t i = 0; i < n; i += 4) memcpy(text + i, "0,0\n", 4);
    size_t cap = n / 2 + 1024;
    unsigned char *z = malloc(cap);
    assert_non_null(z);
    size_t zn = gz(text, n, z, cap);
    write_bytes("big.csv.gz", z, zn);
    ae_data d;
    assert_int_equal(ae_data_max_inflate(), AE_DATA_MAX_INFLATE);
    assert_int_equal(ae_data_load(path_of("big.csv.gz"), &d), AE_OK);
    assert_int_equal(d.rows, n / 4);
    ae_data_free(&d);
    /* A smaller limit, process-wide, then per call. */
    assert_int_equal(ae_data_set_max_inflate(100000), AE_OK);
    assert_int_equal(ae_data_load(path_of("big.csv.gz"), &d), AE_EFORMAT);
    assert_null(d.x);
    assert_non_null(strstr(ae_last_error(), "big.csv.gz: inflates past 100000 bytes"));
    biggest = 0;
    ae_set_alloc_hook(note_size, NULL);
    assert_int_equal(ae_data_parse(z, zn, &d), AE_EFORMAT);
    ae_set_alloc_hook(NULL, NULL);
    assert_true(biggest <= 200000); /* it stopped at the limit, never near the 1 MiB */
    assert_int_equal(ae_data_set_max_inflate(0), AE_OK); /* back to the default */
    assert_int_equal(ae_data_max_inflate(), AE_DATA_MAX_INFLATE);
    ae_csv_opts o = ae_csv_opts_default();
    o.max_inflate = 4096;
    assert_int_equal(ae_data_load_csv(path_of("big.csv.gz"), &o, &d, NULL), AE_EFORMAT);
    assert_non_null(strstr(ae_last_error(), "inflates past 4096 bytes"));
    o.max_inflate = n;
    assert_int_equal(ae_data_load_csv(path_of("big.csv.gz"), &o, &d, NULL), AE_OK); /* exactly the limit */
    ae_data_free(&d);
    o.max_inflate = n - 1;
    assert_int_equal(ae_data_load_csv(path_of("big.csv.gz"), &o, &d, NULL), AE_EFORMAT);

    /* An IDX header declaring 2 bytes, followed by 1 MiB of zeros: inflated no further than the
     * header says (plus one byte), whatever the text limit. */
    memset(text, 0, n);
    const unsigned char hdr[8] = {0, 0, 0x08, 1, 0, 0, 0, 2};
    memcpy(text, hdr, sizeof hdr);
    zn = gz(text, n, z, cap);
    biggest = 0;
    ae_set_alloc_hook(note_size, NULL);
    assert_int_equal(ae_data_parse(z, zn, &d), AE_EFORMAT);
    ae_set_alloc_hook(NULL, NULL);
    assert_non_null(strstr(ae_last_error(), "IDX: more bytes of data after the header"));
    assert_true(biggest < 65536);
    free(z);
    free(text);
}

/* Every allocation of an options read (text labels, listed columns) fails in turn: AE_ENOMEM,
 * out and labels zeroed, nothing leaked. */
static size_t fail_at, seen;
static int fail_kth(size_t bytes, void *user) {
    (void)bytes;
    (void)user;
    return ++seen == fail_at;
}

static void test_allocation_failures(void **state) {
    (void)state;
    const char *s = ",a,b,kind\n0,1,2,x\n1,3,4,y\n";
    write_bytes("l.csv", s, strlen(s));
    ae_csv_opts o = ae_csv_opts_default();
    o.label = "kind";
    o.columns = "b,a";
    for (size_t k = 1;; k++) {
        fail_at = k;
        seen = 0;
        float junk;
        ae_data d = {&junk, 7, 7}, y = {&junk, 7, 7};
        ae_set_alloc_hook(fail_kth, NULL);
        int rc = ae_data_load_csv(path_of("l.csv"), &o, &d, &y);
        size_t made = seen;
        ae_set_alloc_hook(NULL, NULL);
        if (made < k) {
            assert_int_equal(rc, AE_OK);
            assert_int_equal(d.cols, 2);
            assert_close(d.x[0], 2, 0, 0);
            ae_data_free(&d);
            ae_data_free(&y);
            assert_true(k > 4);
            break;
        }
        assert_int_equal(rc, AE_ENOMEM);
        assert_null(d.x);
        assert_null(y.x);
        assert_int_equal(d.rows + d.cols + y.rows + y.cols, 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_cr_ends_lines),      cmocka_unit_test(test_decimal_commas_with_semicolons),
        cmocka_unit_test(test_strtof_extras_refused),   cmocka_unit_test(test_float_overflow_refused),
        cmocka_unit_test(test_delimiters_detected),     cmocka_unit_test(test_header_detected_or_told),
        cmocka_unit_test(test_pandas_index_column),     cmocka_unit_test(test_columns_and_drop),
        cmocka_unit_test(test_column_options_refused),  cmocka_unit_test(test_label_column),
        cmocka_unit_test(test_text_refusals_say_where), cmocka_unit_test(test_binary_refusals_say_what),
        cmocka_unit_test(test_options_on_binary_files), cmocka_unit_test(test_inflated_text_capped),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
