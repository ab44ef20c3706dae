/* io_csv_stream: a CSV text file (plain or gzip) read front to back in a buffer of whole
 * lines (io_csv_stream.c), for ae_train_stream: the same header, columns, index column and
 * rows as ae_data_load, by the same per-line code (io_csv_pass.h), without the whole text in
 * memory. Opening passes over the whole file once (the row count, and every line checked as
 * ae_data_load checks it); reading rows then passes over it again, in order. */
#ifndef AE_IO_CSV_STREAM_H
#define AE_IO_CSV_STREAM_H

#include "io_csv_pass.h"
#include "io_gzip.h"

typedef struct ae_csv_stream {
    ae_stream *s; /* the caller's, opened and closed here */
    const char *path;
    ae_csv_opts o;
    csv_layout L;
    int *kept;
    unsigned char *header; /* a copy of the header line (L.hs, L.he point into it) */
    /* buf[pos, cut): whole lines checked as text, not yet parsed; buf[cut, have): read, not
     * yet a whole line. */
    unsigned char *buf;
    size_t cap, have, pos, cut;
    size_t text_line; /* the number of the line at cut, for the text check */
    int eof; /* the stream has given its last byte */
    int grow; /* the buffer may grow (while opening; reading rows allocates nothing) */
    int fresh; /* nothing read past: a pass may start at begin */
    size_t begin; /* where the text starts in buf after a (re)start: past a BOM */
    size_t longest; /* the longest line's bytes */
    csv_cursor cur;
    size_t rows; /* the file's data rows */
} ae_csv_stream;

/* Opens path into s and passes over it: c->rows and c->L.nfeat (the columns) as ae_data_load
 * finds them, or its refusal with the line's number. Then stands before the first row.
 * ae_csv_stream_free is owed whatever this returns (s stays open for the caller to close). */
AE_HIDDEN int ae_csv_stream_open(ae_csv_stream *c, ae_stream *s, const char *path);
/* Opens the file again and stands before its first row. */
AE_HIDDEN int ae_csv_stream_rewind(ae_csv_stream *c);
/* The next count rows into x [count x nfeat] (x NULL: read and check, not stored). A file
 * that ends first, or has a line ae_data_load would refuse, is AE_EFORMAT with the line's
 * number. */
AE_HIDDEN int ae_csv_stream_rows(ae_csv_stream *c, size_t count, float *x);
/* After the last row: only blank lines may follow. */
AE_HIDDEN int ae_csv_stream_end(ae_csv_stream *c);
AE_HIDDEN void ae_csv_stream_free(ae_csv_stream *c);

#endif
