/* io_csv: delimited text into row-major floats, with the options of ae_csv_opts.
 *
 * Two passes over the lines: the first detects the delimiter and the header, resolves the
 * columns (io_csv_cols.c), checks every field that is read and counts the rows; the second,
 * after the floats are allocated from those counts, stores the values. Lines, fields and
 * numbers are io_csv_text.c's. Every refusal says where (line and column, the column's name
 * when there is a header) through ae_fail; ae_data_load adds the file's name in front. */
#include <string.h>

#include "error.h"
#include "io_csv.h"
#include "io_csv_pass.h"
#include "io_file.h"

/* ---------------------------------------------------------------- the passes */

/* The header decision for -1: a field of a kept column that is not a number. */
static int looks_like_header(const csv_layout *L, const unsigned char *s, const unsigned char *e, const int *kept) {
    csv_splitter sp;
    csv_field f;
    int rc;
    ae_csv_split_init(&sp, s, e, L->delim);
    while ((rc = ae_csv_split_next(&sp, &f)) == SPLIT_FIELD) {
        if (kept && f.col <= L->ncols && !kept[f.col - 1]) continue;
        if (f.n > 0 && ae_csv_number(f.s, f.n, L->decimal_comma, NULL) == NUM_TEXT) return 1;
    }
    return rc != SPLIT_END; /* a quoting error: taken for a header, whose split reports it */
}

/* Does the line hold a field that reads as a number (or overflows as one)? */
static int has_a_number(const csv_layout *L, const unsigned char *s, const unsigned char *e) {
    csv_splitter sp;
    csv_field f;
    ae_csv_split_init(&sp, s, e, L->delim);
    while (ae_csv_split_next(&sp, &f) == SPLIT_FIELD)
        if (ae_csv_number(f.s, f.n, L->decimal_comma, NULL) != NUM_TEXT && f.n > 0) return 1;
    return 0;
}

/* Number of fields of a line, or a quoting error. */
static int count_fields(const csv_layout *L, const unsigned char *s, const unsigned char *e, size_t line, size_t *n) {
    csv_splitter sp;
    csv_field f;
    int rc;
    ae_csv_split_init(&sp, s, e, L->delim);
    while ((rc = ae_csv_split_next(&sp, &f)) == SPLIT_FIELD) continue;
    if (rc != SPLIT_END) return ae_csv_split_error(rc, line, sp.col);
    *n = sp.col;
    return AE_OK;
}

/* One line of a pass: see io_csv_pass.h. */
int ae_csv_scan_line(csv_layout *L, csv_cursor *cur, const unsigned char *s, const unsigned char *e, int *label_numeric,
                     int *index_ok, float *xrow, float *yrow, csv_text_ref *refrow, int *is_row) {
    *is_row = 0;
    if (ae_csv_blank_line(s, e)) return AE_OK;
    if (!cur->seen_first) {
        cur->seen_first = 1;
        if (L->has_header) return AE_OK;
    }
    const size_t line = cur->line, r = cur->row;
    csv_splitter sp;
    csv_field f;
    int rc;
    ae_csv_split_init(&sp, s, e, L->delim);
    while ((rc = ae_csv_split_next(&sp, &f)) == SPLIT_FIELD) {
        if (f.col > L->ncols) continue; /* counted: the line is refused below */
        size_t c = f.col - 1;
        float v = 0.0f;
        if (c == 0 && L->index_candidate && !xrow && *index_ok) {
            /* pandas counts rows from 0, R's write.csv from 1: the first row says which */
            *index_ok = ae_csv_number(f.s, f.n, 0, &v) == NUM_OK && r < ((size_t)1 << 24) &&
                        (r == 0 ? v == 0.0f || v == 1.0f : v == L->index_base + (float)r);
            if (r == 0) L->index_base = v;
        }
        if (L->role[c] == ROLE_SKIP) continue;
        if (L->role[c] == ROLE_LABEL) {
            if (f.n == 0) {
                char at[128];
                ae_csv_where(L, line, f.col, at, sizeof at);
                return ae_fail(AE_EFORMAT, "%s: empty label", at);
            }
            int num = ae_csv_number(f.s, f.n, L->decimal_comma, xrow ? &v : NULL);
            if (!xrow) {
                if (num == NUM_RANGE) return ae_csv_number_error(L, num, &f, line);
                if (num != NUM_OK) *label_numeric = 0;
            } else if (*label_numeric) {
                if (yrow) *yrow = v;
            } else if (refrow) {
                *refrow = (csv_text_ref){f.s, f.n};
            }
            continue;
        }
        int num = ae_csv_number(f.s, f.n, L->decimal_comma, xrow ? &v : NULL);
        if (num != NUM_OK) {
            if (L->index_candidate && c == 0) continue; /* decided after the pass */
            return ae_csv_number_error(L, num, &f, line);
        }
        if (xrow) xrow[L->out_col[c]] = v;
    }
    if (rc != SPLIT_END) return ae_csv_split_error(rc, line, sp.col);
    size_t k = sp.col;
    if (k != L->ncols)
        return ae_fail(AE_EFORMAT, "line %zu has %zu field%s where line %zu has %zu", line, k, k == 1 ? "" : "s",
                       L->header_line, L->ncols);
    cur->row++;
    *is_row = 1;
    return AE_OK;
}

/* One pass over the text in memory (a pass's kind as csv_pass_fn says). */
static int scan(csv_layout *L, int recheck, size_t *rows, int *label_numeric, int *index_ok, float *x, float *y,
                csv_text_ref *refs) {
    size_t pos = 0;
    const unsigned char *s, *e;
    csv_cursor cur = {0, 0, 0};
    while (ae_csv_next_line(L->p, L->len, &pos, &s, &e)) {
        cur.line++;
        const size_t r = cur.row;
        int rc, is_row;
        if (recheck)
            rc = ae_csv_recheck_line(L, &cur, s, e);
        else
            rc = ae_csv_scan_line(L, &cur, s, e, label_numeric, index_ok, x ? x + r * L->nfeat : NULL, y ? y + r : NULL,
                                  refs ? refs + r : NULL, &is_row);
        if (rc != AE_OK) return rc;
    }
    *rows = cur.row;
    return AE_OK;
}

static int memory_pass(csv_layout *L, int recheck, size_t *rows, int *label_numeric, int *index_ok, void *ctx) {
    (void)ctx;
    return scan(L, recheck, rows, label_numeric, index_ok, NULL, NULL, NULL);
}

/* Column 1 was a candidate index and is not one: its fields are features after all. */
int ae_csv_recheck_line(csv_layout *L, csv_cursor *cur, const unsigned char *s, const unsigned char *e) {
    if (ae_csv_blank_line(s, e)) return AE_OK;
    if (!cur->seen_first && (cur->seen_first = 1) && L->has_header) return AE_OK;
    csv_splitter sp;
    csv_field f;
    ae_csv_split_init(&sp, s, e, L->delim);
    if (ae_csv_split_next(&sp, &f) == SPLIT_FIELD) {
        int num = ae_csv_number(f.s, f.n, L->decimal_comma, NULL);
        if (num != NUM_OK) return ae_csv_number_error(L, num, &f, cur->line);
    }
    cur->row++;
    return AE_OK;
}

/* ---------------------------------------------------------------- entry */

/* The options that are wrong whatever the text. */
int ae_csv_check_opts(const ae_csv_opts *o, const ae_data *labels) {
    if (o->label && !labels)
        return ae_fail(AE_EINVAL, "label '%s' is set but there is nowhere to put the labels", o->label);
    if (o->header < -1 || o->header > 1 || o->index_column < -1 || o->index_column > 1)
        return ae_fail(AE_EINVAL, "csv options: header and index_column take -1, 0 or 1");
    return AE_OK;
}

/* The delimiter, given or detected, and the first non-blank line: the header or the first
 * row, which fixes the number of fields. */
int ae_csv_first_line(csv_layout *L, const ae_csv_opts *o, const unsigned char *p, size_t len) {
    memset(L, 0, sizeof *L);
    L->p = p;
    L->len = len;
    L->delim = o->delimiter ? o->delimiter : ae_csv_detect_delimiter(p, len);
    if (L->delim == '"' || L->delim == '\n' || L->delim == '\r' || L->delim == '.' || L->delim == '-' ||
        L->delim == '+' || csv_digit((unsigned char)L->delim))
        return ae_fail(AE_EINVAL, "csv options: '%c' cannot be a delimiter", L->delim);
    L->decimal_comma = L->delim == ';';
    size_t pos = 0, line = 0;
    const unsigned char *s = NULL, *e = NULL;
    int found = 0;
    while (ae_csv_next_line(p, len, &pos, &s, &e)) {
        line++;
        if (!ae_csv_blank_line(s, e)) {
            found = 1;
            break;
        }
    }
    if (!found) return ae_fail(AE_EFORMAT, "no rows: the text is empty or blank");
    L->header_line = line;
    L->hs = s;
    L->he = e;
    return count_fields(L, s, e, line, &L->ncols);
}

/* Is the first line a header? As the options say, else guessed; kept[ncols] is scratch. */
static int decide_header(csv_layout *L, const ae_csv_opts *o, int *kept) {
    if (o->header >= 0) {
        L->has_header = o->header;
    } else if (ae_csv_names_a_column(o->columns) || ae_csv_names_a_column(o->drop) || ae_csv_names_a_column(o->label)) {
        L->has_header = 1;
    } else {
        /* Decide on the columns kept by number: a text column left out does not make a header. */
        int rc = ae_csv_resolve_columns(L, o);
        if (rc != AE_OK) return rc;
        for (size_t c = 0; c < L->ncols; c++) kept[c] = L->role[c] == ROLE_FEATURE;
        L->has_header = looks_like_header(L, L->hs, L->he, kept);
    }
    return AE_OK;
}

/* The first pass: the columns resolved, every data line checked, the rows counted, column 1
 * kept or dropped as an index, the features numbered. */
int ae_csv_first_pass(csv_layout *L, const ae_csv_opts *o, int *kept, size_t *rows, int *label_numeric,
                      csv_pass_fn pass, void *ctx) {
    int index_ok = 1, rc = decide_header(L, o, kept);
    if (rc == AE_OK) rc = ae_csv_resolve_columns(L, o);
    if (rc == AE_OK) rc = pass(L, 0, rows, label_numeric, &index_ok, ctx);
    if (rc != AE_OK) return rc;
    if (L->index_candidate) {
        if (index_ok && *rows > 0) {
            L->role[0] = ROLE_SKIP;
        } else if ((rc = pass(L, 1, rows, label_numeric, &index_ok, ctx)) != AE_OK) {
            return rc;
        }
        L->index_candidate = 0;
    }
    if ((rc = ae_csv_number_features(L, o)) != AE_OK) return rc;
    if (*rows == 0) {
        /* A lone line taken for a header that holds a number too is more likely a row with a
         * bad field: read it as one, so that the detail says which field. */
        if (o->header == -1 && has_a_number(L, L->hs, L->he)) {
            L->has_header = 0;
            L->index_candidate = 0;
            if ((rc = pass(L, 0, rows, label_numeric, &index_ok, ctx)) != AE_OK) return rc;
        }
        return ae_fail(AE_EFORMAT, "no data rows: only the header (line %zu)", L->header_line);
    }
    if (L->nfeat == 0)
        return ae_fail(AE_EINVAL, "no feature columns left (the file has %zu; columns, drop and label leave none)",
                       L->ncols);
    return AE_OK;
}

/* The second pass: the floats (and labels) allocated from the first pass's counts, then
 * stored; text labels made classes. */
static int second_pass(csv_layout *L, const ae_csv_opts *o, size_t rows, int label_numeric, ae_data *out,
                       ae_data *labels) {
    csv_text_ref *refs = NULL;
    int index_ok = 1, rc = ae_data_alloc(out, rows, L->nfeat);
    if (rc == AE_OK && o->label) {
        rc = ae_data_alloc(labels, rows, 1);
        if (rc == AE_OK && !label_numeric && !(refs = ae_calloc(rows, sizeof *refs))) rc = AE_ENOMEM;
    }
    size_t rows2 = 0;
    if (rc == AE_OK) rc = scan(L, 0, &rows2, &label_numeric, &index_ok, out->x, o->label ? labels->x : NULL, refs);
    if (rc == AE_OK && o->label && !label_numeric)
        rc = ae_csv_classes(refs, rows, labels->x, o->label_names, o->label_names_cap);
    ae_dealloc(refs);
    return rc;
}

int ae_csv_parse(const unsigned char *p, size_t len, const ae_csv_opts *o, ae_data *out, ae_data *labels) {
    *out = (ae_data){NULL, 0, 0};
    if (labels) *labels = (ae_data){NULL, 0, 0};
    if (o->label_names && o->label_names_cap > 0) o->label_names[0] = '\0';
    int rc = ae_csv_check_opts(o, labels);
    if (rc == AE_OK) rc = ae_csv_check_text(&p, &len);
    csv_layout L;
    if (rc == AE_OK) rc = ae_csv_first_line(&L, o, p, len);
    if (rc != AE_OK) return rc;
    L.role = ae_calloc(L.ncols, sizeof *L.role);
    L.out_col = ae_calloc(L.ncols, sizeof *L.out_col);
    int *kept = ae_calloc(L.ncols, sizeof *kept);
    size_t rows = 0;
    int label_numeric = 1;
    if (!L.role || !L.out_col || !kept) rc = AE_ENOMEM;
    if (rc == AE_OK) rc = ae_csv_first_pass(&L, o, kept, &rows, &label_numeric, memory_pass, NULL);
    if (rc == AE_OK) rc = second_pass(&L, o, rows, label_numeric, out, labels);
    ae_dealloc(kept);
    ae_dealloc(L.out_col);
    ae_dealloc(L.role);
    if (rc != AE_OK) {
        ae_data_free(out);
        if (labels) ae_data_free(labels);
    }
    return rc;
}
