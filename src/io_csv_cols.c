/* io_csv_cols: the CSV reader's columns: what the options columns, drop and label name (a
 * header name, a number or a range), the features' order, text labels into classes, and the
 * messages that say where a field is wrong. See io_csv_cols.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io_csv_cols.h"

#define NAME_SHOWN 40 /* characters of a name or field quoted in a message */

/* ---------------------------------------------------------------- messages */

/* Writes a field for a message: at most NAME_SHOWN characters, then "...". */
static int shown(const csv_field *f) { return f->n > NAME_SHOWN ? NAME_SHOWN : (int)f->n; }
static const char *more(const csv_field *f) { return f->n > NAME_SHOWN ? "..." : ""; }

/* The header's name of column c (0-based), or NULL with n = 0. */
static const unsigned char *header_name(const csv_layout *L, size_t c, size_t *n) {
    *n = 0;
    if (!L->has_header) return NULL;
    csv_splitter sp;
    csv_field f;
    ae_csv_split_init(&sp, L->hs, L->he, L->delim);
    while (ae_csv_split_next(&sp, &f) == SPLIT_FIELD)
        if (f.col == c + 1) {
            *n = f.n;
            return f.s;
        }
    return NULL;
}

/* "line L column C" and, with a header, " (name)": where a message points. */
void ae_csv_where(const csv_layout *L, size_t line, size_t col, char *buf, size_t cap) {
    size_t n;
    const unsigned char *name = header_name(L, col - 1, &n);
    if (name && n > 0)
        snprintf(buf, cap, "line %zu column %zu (%.*s%s)", line, col, n > NAME_SHOWN ? NAME_SHOWN : (int)n,
                 (const char *)name, n > NAME_SHOWN ? "..." : "");
    else
        snprintf(buf, cap, "line %zu column %zu", line, col);
}

int ae_csv_split_error(int rc, size_t line, size_t col) {
    return ae_fail(AE_EFORMAT, "line %zu column %zu: %s", line, col,
                   rc == SPLIT_BAD_QUOTE ? "a quote that does not close on its line" : "text after a closing quote");
}

int ae_csv_number_error(const csv_layout *L, int num, const csv_field *f, size_t line) {
    char at[128];
    ae_csv_where(L, line, f->col, at, sizeof at);
    if (num == NUM_EMPTY) return ae_fail(AE_EFORMAT, "%s: empty field", at);
    if (num == NUM_RANGE)
        return ae_fail(AE_EFORMAT, "%s: %.*s%s is out of float range (beyond +-3.4e38)", at, shown(f),
                       (const char *)f->s, more(f));
    return ae_fail(AE_EFORMAT, "%s: '%.*s%s' is not a number (a text column? leave it out with drop)", at, shown(f),
                   (const char *)f->s, more(f));
}

/* ---------------------------------------------------------------- column lists */

/* A 1-based column number in s[0..n): digits only, no overflow. */
static int parse_index(const char *s, size_t n, size_t *v) {
    if (n == 0) return 0;
    size_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!csv_digit((unsigned char)s[i])) return 0;
        size_t d = (size_t)(s[i] - '0');
        if (x > (SIZE_MAX - d) / 10) return 0;
        x = x * 10 + d;
    }
    *v = x;
    return x > 0;
}

/* A token names columns [*a, *b] (0-based, inclusive): a header name, else a number or a range
 * "a-b". AE_EINVAL with a detail when it names none. */
static int resolve_token(const csv_layout *L, const char *what, const char *t, size_t n, size_t *a, size_t *b) {
    if (L->has_header) {
        csv_splitter sp;
        csv_field f;
        ae_csv_split_init(&sp, L->hs, L->he, L->delim);
        while (ae_csv_split_next(&sp, &f) == SPLIT_FIELD)
            if (f.n == n && memcmp(f.s, t, n) == 0) {
                *a = *b = f.col - 1;
                return AE_OK;
            }
    }
    const char *dash = memchr(t, '-', n);
    size_t lo, hi;
    int ok = dash ? parse_index(t, (size_t)(dash - t), &lo) && parse_index(dash + 1, n - (size_t)(dash - t) - 1, &hi)
                  : parse_index(t, n, &lo) && (hi = lo, 1);
    if (!ok) {
        if (!L->has_header)
            return ae_fail(AE_EINVAL, "%s: no column named '%.*s': the file has no header line (give column numbers)",
                           what, (int)n, t);
        return ae_fail(AE_EINVAL, "%s: no column named '%.*s' in the header", what, (int)n, t);
    }
    if (lo > hi) return ae_fail(AE_EINVAL, "%s: range '%.*s' runs backwards", what, (int)n, t);
    if (hi > L->ncols) return ae_fail(AE_EINVAL, "%s: column %zu does not exist: the file has %zu", what, hi, L->ncols);
    *a = lo - 1;
    *b = hi - 1;
    return AE_OK;
}

/* Calls back for each comma-separated token of list; AE_EINVAL for an empty one. */
typedef int (*token_fn)(csv_layout *L, const char *what, const char *t, size_t n, void *ctx);
static int each_token(csv_layout *L, const char *what, const char *list, token_fn fn, void *ctx) {
    const char *t = list;
    for (;;) {
        const char *c = strchr(t, ',');
        size_t n = c ? (size_t)(c - t) : strlen(t);
        while (n > 0 && csv_space_or_tab((unsigned char)*t)) t++, n--;
        while (n > 0 && csv_space_or_tab((unsigned char)t[n - 1])) n--;
        if (n == 0) return ae_fail(AE_EINVAL, "%s: an empty entry in '%s'", what, list);
        int rc = fn(L, what, t, n, ctx);
        if (rc != AE_OK) return rc;
        if (!c) return AE_OK;
        t = c + 1;
    }
}

/* columns: each listed column becomes the next feature, in the order given. */
static int keep_token(csv_layout *L, const char *what, const char *t, size_t n, void *ctx) {
    (void)ctx;
    size_t a, b;
    int rc = resolve_token(L, what, t, n, &a, &b);
    for (size_t c = a; rc == AE_OK && c <= b; c++) {
        if (L->role[c] != ROLE_SKIP) return ae_fail(AE_EINVAL, "%s: column %zu is listed twice", what, c + 1);
        L->role[c] = ROLE_FEATURE;
        L->out_col[c] = L->nfeat++;
    }
    return rc;
}

static int drop_token(csv_layout *L, const char *what, const char *t, size_t n, void *ctx) {
    (void)ctx;
    size_t a, b;
    int rc = resolve_token(L, what, t, n, &a, &b);
    for (size_t c = a; rc == AE_OK && c <= b; c++) L->role[c] = ROLE_SKIP;
    return rc;
}

/* Does list hold an entry that is not a column number or range (so, a name)? */
int ae_csv_names_a_column(const char *list) {
    if (!list) return 0;
    for (const char *t = list; *t; t++)
        if (!csv_digit((unsigned char)*t) && *t != ',' && *t != '-' && !csv_space_or_tab((unsigned char)*t)) return 1;
    return 0;
}

/* Roles from the options; nfeat and out_col in the order features are stored. */
int ae_csv_resolve_columns(csv_layout *L, const ae_csv_opts *o) {
    int rc = AE_OK;
    L->nfeat = 0;
    for (size_t c = 0; c < L->ncols; c++) L->role[c] = o->columns ? ROLE_SKIP : ROLE_FEATURE;
    if (o->columns) rc = each_token(L, "columns", o->columns, keep_token, NULL);
    if (rc == AE_OK && o->drop) rc = each_token(L, "drop", o->drop, drop_token, NULL);
    if (rc == AE_OK && o->label) {
        if (strchr(o->label, ',')) return ae_fail(AE_EINVAL, "label: one column, not a list ('%s')", o->label);
        size_t a, b;
        if ((rc = resolve_token(L, "label", o->label, strlen(o->label), &a, &b)) != AE_OK) return rc;
        if (a != b) return ae_fail(AE_EINVAL, "label: one column, not a range ('%s')", o->label);
        L->role[a] = ROLE_LABEL;
        L->label_col = a;
    }
    if (rc != AE_OK) return rc;
    if (o->index_column == 1) L->role[0] = ROLE_SKIP;
    L->index_candidate =
        o->index_column == -1 && !o->columns && L->has_header && L->role[0] == ROLE_FEATURE && L->ncols > 1;
    if (L->index_candidate) {
        size_t n;
        header_name(L, 0, &n);
        L->index_candidate = n == 0;
    }
    return AE_OK;
}

/* Numbers the features: in the order listed (columns given: out_col holds each listed
 * column's place in the list, and drop, the label or the index may have removed some since),
 * else in file order. */
int ae_csv_number_features(csv_layout *L, const ae_csv_opts *o) {
    if (!o->columns) {
        L->nfeat = 0;
        for (size_t c = 0; c < L->ncols; c++)
            if (L->role[c] == ROLE_FEATURE) L->out_col[c] = L->nfeat++;
        return AE_OK;
    }
    size_t listed = L->nfeat, *col_at = ae_calloc(listed ? listed : 1, sizeof *col_at);
    if (!col_at) return AE_ENOMEM;
    for (size_t k = 0; k < listed; k++) col_at[k] = SIZE_MAX;
    for (size_t c = 0; c < L->ncols; c++)
        if (L->role[c] == ROLE_FEATURE) col_at[L->out_col[c]] = c;
    L->nfeat = 0;
    for (size_t k = 0; k < listed; k++)
        if (col_at[k] != SIZE_MAX) L->out_col[col_at[k]] = L->nfeat++;
    ae_dealloc(col_at);
    return AE_OK;
}

/* ---------------------------------------------------------------- text labels */

typedef struct {
    const unsigned char *s;
    size_t n;
    size_t row;
} label_entry;

static int cmp_text(const unsigned char *a, size_t an, const unsigned char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c != 0 ? c : (an > bn) - (an < bn);
}

static int cmp_entry(const void *pa, const void *pb) {
    const label_entry *a = pa, *b = pb;
    int c = cmp_text(a->s, a->n, b->s, b->n);
    return c != 0 ? c : (a->row > b->row) - (a->row < b->row);
}

/* Appends a class's name (its quotes' "" as one ") and a NUL to names[*used..cap), keeping
 * room for the final empty name; a name that does not fit ends the list (*used = cap). */
static void add_name(const label_entry *e, char *names, size_t cap, size_t *used) {
    if (!names || *used + 2 > cap) { /* no room for a character, its NUL and the end */
        *used = cap;
        return;
    }
    size_t k = *used;
    for (size_t i = 0; i < e->n; i++) {
        if (e->s[i] == '"' && i + 1 < e->n && e->s[i + 1] == '"') i++;
        if (k + 2 >= cap) {
            names[*used] = '\0';
            *used = cap;
            return;
        }
        names[k++] = (char)e->s[i];
    }
    names[k++] = '\0';
    names[k] = '\0'; /* the list's end, overwritten by the next name */
    *used = k;
}

/* Text labels into class indices: distinct texts in byte order get 0, 1, ...; their names go
 * to names (when given). */
int ae_csv_classes(const csv_text_ref *refs, size_t rows, float *y, char *names, size_t cap) {
    label_entry *ent = ae_calloc(rows, sizeof *ent);
    if (!ent) return AE_ENOMEM;
    for (size_t i = 0; i < rows; i++) ent[i] = (label_entry){refs[i].s, refs[i].n, i};
    qsort(ent, rows, sizeof *ent, cmp_entry);
    size_t cls = 0, used = 0;
    for (size_t i = 0; i < rows; i++) {
        if (i > 0 && cmp_text(ent[i - 1].s, ent[i - 1].n, ent[i].s, ent[i].n) != 0) cls++;
        if (i == 0 || y[ent[i - 1].row] != (float)cls) add_name(&ent[i], names, cap, &used);
        y[ent[i].row] = (float)cls;
    }
    ae_dealloc(ent);
    if (cls >= ((size_t)1 << 24))
        return ae_fail(AE_EFORMAT, "label: %zu classes, more than a float counts exactly", cls + 1);
    return AE_OK;
}
