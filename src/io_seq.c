/* io_seq: see io_seq.h. IDX and .npy rows come through io_range (the same header parser and
 * conversion as ae_data_load_range), text rows through io_csv_stream (the same line rules as
 * ae_data_load's CSV reader). */
#include "io_seq.h"

#include <string.h>

#include "error.h"
#include "io_file.h"
#include "io_range.h"

/* Opens the file (again) and reads up to its first row: the header of IDX and .npy, whose
 * shape must be the one found at the first opening; for text, the stream from its first byte
 * (csv skips the header line itself). */
static int seq_start(ae_seq *q, int again) {
    ae_layout L;
    int text = 0, rc = ae_range_header(&q->s, q->path, &L, &text);
    if (rc != AE_OK) return rc;
    if (again && text != q->text) return ae_fail(AE_EFORMAT, "the file changed while it was read");
    if (!text) {
        if (again && (L.rows != q->L.rows || L.cols != q->L.cols || L.esize != q->L.esize))
            return ae_fail(AE_EFORMAT, "the file changed while it was read: its header now says %zu x %zu", L.rows,
                           L.cols);
        q->L = L;
        q->text = 0;
        q->at = 0;
        return AE_OK;
    }
    /* Text: csv opens the file again from its first byte (the header parser took some). */
    q->text = 1;
    q->at = 0;
    if ((rc = ae_stream_close(&q->s)) != AE_OK) return rc;
    return again ? ae_csv_stream_rewind(&q->csv) : ae_csv_stream_open(&q->csv, &q->s, q->path);
}

int ae_seq_open(ae_seq *q, const char *path) {
    memset(q, 0, sizeof *q);
    q->path = path;
    if (!(q->buf = ae_malloc(AE_CHUNK))) return AE_ENOMEM;
    int rc = seq_start(q, 0);
    if (rc == AE_OK) {
        q->rows = q->text ? q->csv.rows : q->L.rows;
        q->cols = q->text ? q->csv.L.nfeat : q->L.cols;
    }
    return ae_with_path(rc, path);
}

int ae_seq_in_order(const ae_seq *q) { return q->text || q->s.gz || !q->s.regular; }

/* The next count rows (x NULL: read past them). */
static int seq_next(ae_seq *q, size_t count, float *x) {
    if (q->text) return ae_csv_stream_rows(&q->csv, count, x);
    if (x) return ae_range_next(&q->s, &q->L, count, x, q->buf);
    size_t bytes;
    if (!ae_mul_ok(count, q->L.cols * q->L.esize, &bytes)) return ae_fail(AE_EINVAL, "a skip past the data");
    return ae_stream_skip(&q->s, bytes, q->buf);
}

/* After the last row: the file must end there (for gzip this reads the last member's CRC). */
static int seq_end(ae_seq *q) {
    if (q->text) return ae_csv_stream_end(&q->csv);
    unsigned char extra;
    size_t got;
    int rc = ae_stream_read(&q->s, &extra, 1, &got);
    if (rc == AE_OK && got > 0) rc = ae_fail(AE_EFORMAT, "more bytes after the data its header declares");
    return rc;
}

int ae_seq_read(ae_seq *q, size_t first, size_t count, float *x) {
    if (first >= q->rows || count > q->rows - first)
        return ae_with_path(ae_range_error(first, count, q->rows), q->path);
    int rc = AE_OK;
    if (first < q->at) {
        rc = ae_stream_close(&q->s);
        if (rc == AE_OK) rc = seq_start(q, 1);
    }
    if (rc == AE_OK && first > q->at) rc = seq_next(q, first - q->at, NULL);
    if (rc == AE_OK) q->at = first;
    if (rc == AE_OK && (rc = seq_next(q, count, x)) == AE_OK) q->at += count;
    if (rc == AE_OK && q->at == q->rows) rc = seq_end(q);
    if (rc != AE_OK) q->at = q->rows; /* unknown: the next read starts over */
    return ae_with_path(rc, q->path);
}

void ae_seq_close(ae_seq *q) {
    (void)ae_stream_close(&q->s); /* read only: nothing lost */
    ae_csv_stream_free(&q->csv);
    ae_dealloc(q->buf);
    memset(q, 0, sizeof *q);
}
