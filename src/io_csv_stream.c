/* io_csv_stream: see io_csv_stream.h. The buffer holds whole lines: a line is parsed only
 * once its end has been read (or the file's), so every line is what ae_data_load's reader
 * sees. The text check (UTF-8, no control characters) runs on each new stretch of whole lines
 * before they are parsed; ae_data_load checks the whole text first, so a file with two faults
 * in different stretches names the earlier line here. */
#include "io_csv_stream.h"

#include <string.h>

#include "error.h"
#include "io_file.h"

#define CSV_BUFFER ((size_t)4 * AE_CHUNK) /* the buffer at first: 256 KiB */

/* Finds the new whole lines in buf[cut, have) and checks them as text. A CR read last may
 * be half of a CRLF: it waits for the next byte, unless the file has ended. */
static int take_lines(ae_csv_stream *c) {
    size_t end = c->have;
    if (!c->eof) {
        size_t i = c->have;
        if (i > c->cut && c->buf[i - 1] == '\r') i--;
        while (i > c->cut && c->buf[i - 1] != '\n' && c->buf[i - 1] != '\r') i--;
        end = i;
    }
    if (end <= c->cut) return AE_OK;
    int rc = ae_csv_check_lines(c->buf + c->cut, end - c->cut, &c->text_line);
    c->cut = end;
    return rc;
}

/* Moves the unparsed bytes to the front and reads more behind them; a full buffer grows while
 * opening, and is a line too long afterwards (the file changed). */
static int fill(ae_csv_stream *c) {
    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->have - c->pos);
        c->have -= c->pos;
        c->cut -= c->pos;
        c->pos = 0;
        c->fresh = 0;
    }
    if (c->have == c->cap) {
        if (!c->grow)
            return ae_fail(AE_EFORMAT, "line %zu is longer than any line when the file was opened (%zu bytes)",
                           c->text_line, c->longest);
        int rc = ae_grow(&c->buf, &c->cap, ae_read_limit());
        if (rc != AE_OK) return rc == AE_ENOMEM ? rc : ae_fail(rc, "line %zu is too long", c->text_line);
    }
    size_t got;
    int rc = ae_stream_read(c->s, c->buf + c->have, c->cap - c->have, &got);
    if (rc != AE_OK) return rc;
    c->eof = got < c->cap - c->have;
    c->have += got;
    return take_lines(c);
}

/* The next whole line in [*ls, *le) (valid until the next call): 1, 0 at the end, or a
 * status < 0. */
static int next_line(ae_csv_stream *c, const unsigned char **ls, const unsigned char **le) {
    for (;;) {
        if (ae_csv_next_line(c->buf, c->cut, &c->pos, ls, le)) {
            const size_t n = (size_t)(*le - *ls) + 2;
            if (n > c->longest) c->longest = n;
            return 1;
        }
        if (c->eof && c->cut == c->have) return 0;
        const int rc = fill(c);
        if (rc != AE_OK) return rc;
    }
}

/* (Re)opens the file and reads its first stretch, past a BOM. */
static int start(ae_csv_stream *c) {
    unsigned char peek[2];
    size_t npeek = 0;
    int rc = ae_stream_open(c->s, c->path, peek, &npeek);
    if (rc != AE_OK) return rc;
    memcpy(c->buf, peek, npeek);
    c->have = npeek;
    c->pos = c->cut = 0;
    c->eof = 0;
    c->text_line = 1;
    c->cur = (csv_cursor){0, 0, 0};
    if ((rc = fill(c)) != AE_OK) return rc;
    if (c->have == 0)
        return ae_fail(AE_EFORMAT, c->s->gz ? "the gzip stream inflates to nothing" : "empty: no bytes at all");
    if (c->have >= 3 && c->buf[0] == 0xEF && c->buf[1] == 0xBB && c->buf[2] == 0xBF) c->pos = 3;
    c->begin = c->pos;
    c->fresh = 1;
    return AE_OK;
}

int ae_csv_stream_rewind(ae_csv_stream *c) {
    int rc = ae_stream_close(c->s);
    return rc == AE_OK ? start(c) : rc;
}

/* A pass for ae_csv_first_pass: from the text's start (the file opened again unless nothing
 * has been read past it yet), every line through ae_csv_scan_line or ae_csv_recheck_line. */
static int stream_pass(csv_layout *L, int recheck, size_t *rows, int *label_numeric, int *index_ok, void *ctx) {
    ae_csv_stream *c = ctx;
    int rc = c->fresh ? AE_OK : ae_csv_stream_rewind(c);
    if (rc != AE_OK) return rc;
    c->pos = c->begin;
    c->fresh = 0;
    const unsigned char *s, *e;
    int is_row;
    while ((rc = next_line(c, &s, &e)) == 1) {
        c->cur.line++;
        rc = recheck ? ae_csv_recheck_line(L, &c->cur, s, e)
                     : ae_csv_scan_line(L, &c->cur, s, e, label_numeric, index_ok, NULL, NULL, NULL, &is_row);
        if (rc != AE_OK) return rc;
    }
    *rows = c->cur.row;
    return rc;
}

/* The first stretch holds the lines the delimiter is detected on, as in memory: SNIFF_LINES
 * non-blank lines, or the whole text. */
static int read_prefix(ae_csv_stream *c) {
    for (;;) {
        size_t pos = c->pos, lines = 0;
        const unsigned char *s, *e;
        while (lines < SNIFF_LINES && ae_csv_next_line(c->buf, c->cut, &pos, &s, &e)) lines += !ae_csv_blank_line(s, e);
        if (lines >= SNIFF_LINES || (c->eof && c->cut == c->have)) return AE_OK;
        const size_t keep = c->pos; /* fill moves the text to the front: keep its start */
        int rc = fill(c);
        if (rc != AE_OK) return rc;
        c->begin -= keep;
        c->fresh = 1;
    }
}

/* The layout from the first stretch: the header copied out of the buffer. */
static int layout(ae_csv_stream *c) {
    int rc = read_prefix(c);
    if (rc == AE_OK) rc = ae_csv_first_line(&c->L, &c->o, c->buf + c->pos, c->cut - c->pos);
    if (rc != AE_OK) return rc;
    const size_t n = (size_t)(c->L.he - c->L.hs);
    if (!(c->header = ae_malloc(n + 1))) return AE_ENOMEM;
    memcpy(c->header, c->L.hs, n);
    c->L.hs = c->header;
    c->L.he = c->header + n;
    c->L.p = NULL; /* the text is never in memory whole */
    c->L.len = 0;
    c->L.role = ae_calloc(c->L.ncols, sizeof *c->L.role);
    c->L.out_col = ae_calloc(c->L.ncols, sizeof *c->L.out_col);
    c->kept = ae_calloc(c->L.ncols, sizeof *c->kept);
    return c->L.role && c->L.out_col && c->kept ? AE_OK : AE_ENOMEM;
}

int ae_csv_stream_open(ae_csv_stream *c, ae_stream *s, const char *path) {
    memset(c, 0, sizeof *c);
    c->s = s;
    c->path = path;
    c->o = ae_csv_opts_default();
    c->grow = 1;
    c->cap = CSV_BUFFER;
    if (!(c->buf = ae_malloc(c->cap))) return AE_ENOMEM;
    int rc = start(c);
    if (rc == AE_OK) rc = layout(c);
    int label_numeric = 1;
    if (rc == AE_OK) rc = ae_csv_first_pass(&c->L, &c->o, c->kept, &c->rows, &label_numeric, stream_pass, c);
    if (rc != AE_OK) return rc;
    /* Room for two of the longest lines, so that reading rows never needs more. */
    while (c->cap < 2 * c->longest + AE_CHUNK)
        if ((rc = ae_grow(&c->buf, &c->cap, ae_read_limit())) != AE_OK) return rc == AE_ENOMEM ? rc : AE_EFORMAT;
    c->grow = 0;
    return ae_csv_stream_rewind(c);
}

int ae_csv_stream_rows(ae_csv_stream *c, size_t count, float *x) {
    const size_t nfeat = c->L.nfeat;
    const unsigned char *s, *e;
    int rc, is_row, label_numeric = 1, index_ok = 0;
    for (size_t got = 0; got < count;) {
        if ((rc = next_line(c, &s, &e)) != 1)
            return rc < 0
                       ? rc
                       : ae_fail(AE_EFORMAT, "the file ends after %zu rows (line %zu); it had %zu when it was opened",
                                 c->cur.row, c->cur.line, c->rows);
        c->cur.line++;
        rc = ae_csv_scan_line(&c->L, &c->cur, s, e, &label_numeric, &index_ok, x ? x + got * nfeat : NULL, NULL, NULL,
                              &is_row);
        if (rc != AE_OK) return rc;
        got += (size_t)is_row;
    }
    return AE_OK;
}

int ae_csv_stream_end(ae_csv_stream *c) {
    const unsigned char *s, *e;
    int rc, is_row, label_numeric = 1, index_ok = 0;
    while ((rc = next_line(c, &s, &e)) == 1) {
        c->cur.line++;
        if ((rc = ae_csv_scan_line(&c->L, &c->cur, s, e, &label_numeric, &index_ok, NULL, NULL, NULL, &is_row)) !=
            AE_OK)
            return rc;
        if (is_row)
            return ae_fail(AE_EFORMAT, "line %zu: more rows than the %zu the file had when it was opened", c->cur.line,
                           c->rows);
    }
    return rc;
}

void ae_csv_stream_free(ae_csv_stream *c) {
    ae_dealloc(c->kept);
    ae_dealloc(c->L.out_col);
    ae_dealloc(c->L.role);
    ae_dealloc(c->header);
    ae_dealloc(c->buf);
    memset(c, 0, sizeof *c);
}
