/* io_data: data files into row-major floats: the public entry points and the dispatch by
 * content (never by the file name):
 *   gzip    1f 8b: inflated first (concatenated members allowed), then one of the others
 *           (io_gzip.c);
 *   .npy    "\x93NUMPY" v1.0/2.0/3.0, descr <f4 <f8 |u1, C order only (io_npy.c);
 *   IDX     00 00 type ndims, big-endian dims and data: MNIST / Fashion-MNIST (io_idx.c);
 *   text    delimited numbers (io_csv.c).
 * Every declared size is checked for overflow and against the bytes actually present before
 * the float buffer is allocated, so a hostile header cannot trigger a huge allocation.
 * ae_data_info and ae_data_load_range read IDX and .npy files as a stream (io_range.c) and
 * keep only the header and the rows asked for; ae_data_info reads a text file through once
 * without holding it (io_seq.c).
 * A gzip stream is inflated no further than an IDX or .npy header declares, and a text one no
 * further than ae_data_max_inflate(). Every refusal records what it found (ae_fail); the public
 * functions put the file's name in front. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "io_binary.h"
#include "io_csv.h"
#include "io_data.h"
#include "io_file.h"
#include "io_gzip.h"
#include "io_range.h"
#include "io_seq.h"

static _Atomic size_t max_inflate = AE_DATA_MAX_INFLATE;

AE_API int ae_data_set_max_inflate(size_t bytes) {
    ae_error_clear();
    atomic_store(&max_inflate, bytes ? bytes : AE_DATA_MAX_INFLATE);
    return AE_OK;
}

AE_API size_t ae_data_max_inflate(void) { return atomic_load(&max_inflate); }

/* The bytes of a plain (not gzip) file or buffer, by content. */
static int parse_plain(const unsigned char *p, size_t len, const ae_csv_opts *o, ae_data *out, ae_data *labels) {
    int npy = len >= 6 && memcmp(p,
                                 "\x93"
                                 "NUMPY",
                                 6) == 0,
        idx = len >= 2 && p[0] == 0 && p[1] == 0;
    if ((npy || idx) && (o->columns || o->drop || o->label))
        return ae_fail(AE_EINVAL, "columns, drop and label apply to text files; this is %s",
                       p[0] == 0 ? "an IDX file" : "a .npy file");
    if (labels) *labels = (ae_data){NULL, 0, 0};
    if (!npy && !idx) return ae_csv_parse(p, len, o, out, labels);
    ae_layout L;
    int rc = npy ? ae_npy_layout(p, len, &L) : ae_idx_layout(p, len, &L);
    return rc != AE_OK ? rc : ae_layout_values(&L, p, len, out);
}

/* A buffer as it comes, gzip or not: inflated first (one layer), then parsed. owned (p's
 * allocation, or NULL) is freed as soon as it is not needed: for gzip right after inflating,
 * so that the peak is inflated + floats, not compressed + inflated + floats. */
static int parse_any(const unsigned char *p, size_t len, unsigned char *owned, const ae_csv_opts *o, ae_data *out,
                     ae_data *labels) {
    unsigned char *raw = NULL;
    size_t n = 0;
    int rc;
    if (len == 0) {
        rc = ae_fail(AE_EFORMAT, "empty: no bytes at all");
    } else if (len < 2 || p[0] != 0x1f || p[1] != 0x8b) {
        rc = parse_plain(p, len, o, out, labels);
    } else if ((rc = ae_gunzip(p, len, o->max_inflate ? o->max_inflate : ae_data_max_inflate(), &raw, &n)) == AE_OK) {
        ae_dealloc(owned);
        owned = NULL;
        rc = n == 0 ? ae_fail(AE_EFORMAT, "the gzip stream inflates to nothing") : parse_plain(raw, n, o, out, labels);
        ae_dealloc(raw);
    }
    ae_dealloc(owned);
    return rc;
}

/* Puts "path: " in front of the detail a failure recorded (when it recorded one). */
AE_API ae_csv_opts ae_csv_opts_default(void) {
    ae_csv_opts o;
    memset(&o, 0, sizeof o);
    o.header = -1;
    o.index_column = -1;
    return o;
}

AE_API int ae_data_parse_csv(const void *buf, size_t len, const ae_csv_opts *opts, ae_data *out, ae_data *labels) {
    ae_error_clear();
    if (labels) *labels = (ae_data){NULL, 0, 0};
    if (!out) return ae_fail(AE_EINVAL, "out is NULL");
    *out = (ae_data){NULL, 0, 0};
    if (!buf) return ae_fail(AE_EINVAL, "buf is NULL");
    const ae_csv_opts def = ae_csv_opts_default(), *o = opts ? opts : &def;
    int rc = parse_any(buf, len, NULL, o, out, labels);
    if (rc != AE_OK) {
        ae_data_free(out);
        ae_data_free(labels);
    }
    return rc;
}

/* len 0 is AE_EFORMAT, like an empty file: there is nothing to parse. A gzip buffer is
 * inflated first, as ae_data_load does for a file. */
AE_API int ae_data_parse(const void *buf, size_t len, ae_data *out) {
    return ae_data_parse_csv(buf, len, NULL, out, NULL);
}

AE_API int ae_data_load_csv(const char *path, const ae_csv_opts *opts, ae_data *out, ae_data *labels) {
    ae_error_clear();
    if (labels) *labels = (ae_data){NULL, 0, 0};
    if (!out) return ae_fail(AE_EINVAL, "out is NULL");
    *out = (ae_data){NULL, 0, 0};
    if (!path) return ae_fail(AE_EINVAL, "path is NULL");
    const ae_csv_opts def = ae_csv_opts_default(), *o = opts ? opts : &def;
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = ae_read_file(path, &buf, &len);
    if (rc != AE_OK) return ae_with_path(rc, path);
    rc = parse_any(buf, len, buf, o, out, labels);
    if (rc != AE_OK) {
        ae_data_free(out);
        ae_data_free(labels);
    }
    return ae_with_path(rc, path);
}

AE_API int ae_data_load(const char *path, ae_data *out) { return ae_data_load_csv(path, NULL, out, NULL); }

/* NULL and an already freed (zeroed) struct are no-ops. */
AE_API void ae_data_free(ae_data *d) {
    if (!d) return;
    ae_dealloc(d->x);
    *d = (ae_data){NULL, 0, 0};
}

/* IDX and .npy: the header, and for a plain file its size; a gzip file is inflated only up to
 * the end of its header, so its data is not checked. Text: read through once, a buffer of
 * lines at a time (io_csv_stream.c), every line checked as ae_data_load checks it. rows and
 * cols are zeroed on failure. */
AE_API int ae_data_info(const char *path, size_t *rows, size_t *cols) {
    ae_error_clear();
    if (rows) *rows = 0;
    if (cols) *cols = 0;
    if (!path || !rows || !cols) return ae_fail(AE_EINVAL, "path, rows or cols is NULL");
    ae_stream s;
    ae_layout L;
    int text = 0, rc = ae_range_header(&s, path, &L, &text), rc_close = ae_stream_close(&s);
    if (rc == AE_OK) rc = rc_close;
    if (rc != AE_OK) return ae_with_path(rc, path);
    if (text) { /* one pass over the lines, as ae_data_load would count them: not held whole */
        ae_seq q;
        rc = ae_seq_open(&q, path); /* its detail names the file */
        L.rows = q.rows;
        L.cols = q.cols;
        ae_seq_close(&q);
        if (rc != AE_OK) return rc;
    }
    *rows = L.rows;
    *cols = L.cols;
    return AE_OK;
}

/* IDX and .npy: only the range's rows are read and converted. A plain file seeks to them and
 * holds only their floats (and 64 KiB); a gzip file is inflated up to the range's last row and
 * no further, the bytes before the range dropped as they come, and holds the range's bytes
 * and then its floats. Text: parsed whole, then cut.
 * What is checked: the header, as ae_data_load checks it (limits included); for a plain
 * regular file, that its size is exactly the declared one (an fstat: free). A gzip stream is
 * required to hold the declared data only up to the range's last row: a stream that is cut,
 * damaged or followed by junk after that row is not seen (nor a member's CRC that is not
 * reached), except by a range that ends at the last row, which reads the stream to its end
 * and so refuses what ae_data_load refuses. A range outside [0, rows) is AE_EINVAL, found
 * from the header before any data is read. *out is zeroed on failure. */
/* ae_data_load_range, into out->x when it is given (count x its cols floats, which the file's
 * columns must match), else into floats allocated here. */
static int load_range(const char *path, size_t first, size_t count, ae_data *out) {
    if (!path || count == 0) return ae_fail(AE_EINVAL, path ? "count is 0" : "path is NULL");
    const int given = out->x != NULL;
    ae_stream s;
    ae_layout L;
    int text = 0, rc = ae_range_header(&s, path, &L, &text);
    if (rc == AE_OK && given && (text || L.cols != out->cols))
        rc =
            ae_fail(AE_EFORMAT, text ? "a text file has no rows to read in place" : "%zu columns, not the %zu expected",
                    text ? 0 : L.cols, out->cols);
    if (rc == AE_OK && !text) rc = ae_range_rows(&s, &L, first, count, out);
    int rc_close = ae_stream_close(&s);
    if (rc == AE_OK) rc = rc_close;
    rc = ae_with_path(rc, path);
    if (rc == AE_OK && text) rc = ae_range_text(path, first, count, out); /* its details name the file */
    return rc;
}

AE_API int ae_data_load_range(const char *path, size_t first, size_t count, ae_data *out) {
    ae_error_clear();
    if (!out) return ae_fail(AE_EINVAL, "out is NULL");
    *out = (ae_data){NULL, 0, 0};
    const int rc = load_range(path, first, count, out);
    if (rc != AE_OK) ae_data_free(out);
    return rc;
}

int ae_data_read_range(const char *path, size_t first, size_t count, float *x, size_t cols) {
    ae_data into = {x, count, cols};
    return x ? load_range(path, first, count, &into) : ae_fail(AE_EINVAL, "no buffer");
}
