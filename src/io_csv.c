/* io_csv: delimited text into row-major floats, with the options of ae_csv_opts.
 *
 * Two passes over the lines: the first detects the delimiter and the header, resolves the
 * columns, checks every field that is read and counts the rows; the second, after the floats
 * are allocated from those counts, stores the values. Every refusal says where (line and
 * column, the column's name when there is a header) through ae_fail; ae_data_load adds the
 * file's name in front. */
#define _POSIX_C_SOURCE 200809L
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io_csv.h"
#include "io_data.h"

#define MAX_NUMBER 255   /* longest field taken as a number */
#define SNIFF_LINES 64   /* lines looked at to detect the delimiter */
#define NAME_SHOWN 40    /* characters of a name or field quoted in a message */

/* ---------------------------------------------------------------- lines and fields */

/* The next line of p[*pos..len) in [*s, *e): it ends at LF, CRLF or a bare CR. 0 at the end. */
static int next_line(const unsigned char *p, size_t len, size_t *pos, const unsigned char **s,
                     const unsigned char **e) {
    if (*pos >= len) return 0;
    size_t i = *pos;
    while (i < len && p[i] != '\n' && p[i] != '\r') i++;
    *s = p + *pos;
    *e = p + i;
    if (i < len) i += p[i] == '\r' && i + 1 < len && p[i + 1] == '\n' ? 2 : 1;
    *pos = i;
    return 1;
}

static int is_space_or_tab(unsigned char c) { return c == ' ' || c == '\t'; }

/* Blank: only spaces and tabs. */
static int is_blank_line(const unsigned char *s, const unsigned char *e) {
    while (s < e && is_space_or_tab(*s)) s++;
    return s == e;
}

typedef struct {
    const unsigned char *s; /* the content: inside the quotes for a quoted field */
    size_t n;
    size_t col; /* 1-based */
} field;

typedef struct {
    const unsigned char *p, *e;
    char delim;  /* ' ': runs of spaces and tabs */
    int pending; /* a delimiter was taken: one more field is owed (it may be empty) */
    size_t col;  /* fields given so far */
} splitter;

/* Padding around a field: spaces, and tabs unless tab is the delimiter. */
static int is_pad(unsigned char c, char delim) { return c == ' ' || (c == '\t' && delim != '\t'); }

static void split_init(splitter *sp, const unsigned char *s, const unsigned char *e, char delim) {
    sp->p = s;
    sp->e = e;
    sp->delim = delim;
    sp->pending = 1; /* a line has at least one field */
    sp->col = 0;
    if (delim == ' ')
        while (sp->p < e && is_pad(*sp->p, delim)) sp->p++;
}

enum { SPLIT_END = 0, SPLIT_FIELD = 1, SPLIT_BAD_QUOTE = -1, SPLIT_AFTER_QUOTE = -2 };

/* The next field of the line: SPLIT_FIELD, SPLIT_END, or a quoting error (f->col says where). */
static int split_next(splitter *sp, field *f) {
    const unsigned char *p = sp->p, *e = sp->e;
    const char d = sp->delim;
    if (d == ' ' ? p == e : !sp->pending) return SPLIT_END;
    f->col = ++sp->col;
    while (p < e && is_pad(*p, d)) p++;
    if (p < e && *p == '"') {
        const unsigned char *q = ++p;
        for (;;) {
            if (q == e) return SPLIT_BAD_QUOTE;
            if (*q == '"') {
                if (q + 1 < e && q[1] == '"') {
                    q += 2;
                    continue;
                }
                break;
            }
            q++;
        }
        f->s = p;
        f->n = (size_t)(q - p);
        p = q + 1;
        while (p < e && is_pad(*p, d)) p++;
        if (p < e && (d == ' ' ? 0 : *p != (unsigned char)d)) return SPLIT_AFTER_QUOTE;
    } else {
        f->s = p;
        while (p < e && *p != (unsigned char)d && !(d == ' ' && is_pad(*p, d))) p++;
        const unsigned char *end = p;
        while (end > f->s && is_pad(end[-1], d)) end--;
        f->n = (size_t)(end - f->s);
        while (d == ' ' && p < e && is_pad(*p, d)) p++;
    }
    sp->pending = 0;
    if (d != ' ' && p < e && *p == (unsigned char)d) {
        p++;
        sp->pending = 1;
    }
    sp->p = p;
    return SPLIT_FIELD;
}

/* ---------------------------------------------------------------- numbers */

enum { NUM_OK = 0, NUM_EMPTY, NUM_TEXT, NUM_RANGE };

static int lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int same_word(const unsigned char *s, size_t n, const char *w) {
    if (strlen(w) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != (unsigned char)w[i]) return 0;
    return 1;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* A decimal number (see ae.h): checked by hand, so that strtof's extras (hex, nan(...)) never
 * pass, then converted by strtof (correctly rounded) with the C library's decimal point put
 * in place of the file's. decimal_comma: ',' is the decimal point too. v NULL: a check only
 * (the first pass), which skips the conversion where it cannot overflow (no exponent, at most
 * 38 digits before the point). */
static int parse_number(const unsigned char *s, size_t n, int decimal_comma, float *v) {
    if (n == 0) return NUM_EMPTY;
    if (n > MAX_NUMBER) return NUM_TEXT;
    size_t i = s[0] == '+' || s[0] == '-' ? 1 : 0;
    if (same_word(s + i, n - i, "nan") || same_word(s + i, n - i, "inf") || same_word(s + i, n - i, "infinity")) {
        float x = lower(s[i]) == 'n' ? NAN : INFINITY;
        if (v) *v = s[0] == '-' ? -x : x;
        return NUM_OK;
    }
    size_t digits = 0, mark = SIZE_MAX;
    while (i < n && is_digit(s[i])) i++, digits++;
    const size_t int_digits = digits;
    int exponent = 0;
    if (i < n && (s[i] == '.' || (decimal_comma && s[i] == ','))) {
        mark = i++;
        while (i < n && is_digit(s[i])) i++, digits++;
    }
    if (digits == 0) return NUM_TEXT;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        exponent = 1;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t exp_digits = 0;
        while (i < n && is_digit(s[i])) i++, exp_digits++;
        if (exp_digits == 0) return NUM_TEXT;
    }
    if (i != n) return NUM_TEXT;
    if (!v && !exponent && int_digits <= 38) return NUM_OK; /* below 1e38: no overflow */
    char buf[MAX_NUMBER + 1];
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (mark != SIZE_MAX) buf[mark] = '.';
    char *end;
    float x = strtof(buf, &end);
    if (end != buf + n && mark != SIZE_MAX) {
        /* The program set a locale whose decimal point is not '.': use its own. */
        const char *dp = localeconv()->decimal_point;
        if (!dp || !dp[0] || dp[1]) return NUM_TEXT;
        buf[mark] = dp[0];
        x = strtof(buf, &end);
    }
    if (end != buf + n) return NUM_TEXT;
    if (isinf(x)) return NUM_RANGE;     /* the literal is finite: it overflowed float */
    if (v) *v = x;
    return NUM_OK;
}

/* ---------------------------------------------------------------- the file's layout */

enum { ROLE_SKIP = 0, ROLE_FEATURE, ROLE_LABEL };

typedef struct {
    const unsigned char *p;
    size_t len;
    char delim;
    int decimal_comma;
    int has_header;
    size_t header_line;           /* 1-based line of the header, or of the first data line */
    const unsigned char *hs, *he; /* the header line */
    size_t ncols;                 /* fields on every line */
    int *role;                    /* [ncols] */
    size_t *out_col;              /* [ncols]: a feature's column in the output */
    size_t nfeat;
    size_t label_col;             /* 0-based; valid when label is set */
    int index_candidate;          /* detect: column 1 may be pandas' index */
    float index_base;             /* its first value: 0 (pandas) or 1 (R) */
} layout;

/* Counts of each candidate delimiter outside quotes on the first lines: the delimiter is the
 * first of ';', tab, ',' on every sampled line, else the first of them on the first line,
 * else blanks. */
static char detect_delimiter(const unsigned char *p, size_t len) {
    static const char cand[3] = {';', '\t', ','};
    int on_all[3] = {1, 1, 1}, on_first[3] = {0, 0, 0}, lines = 0;
    size_t pos = 0;
    const unsigned char *s, *e;
    while (lines < SNIFF_LINES && next_line(p, len, &pos, &s, &e)) {
        if (is_blank_line(s, e)) continue;
        size_t count[3] = {0, 0, 0};
        int quoted = 0;
        for (const unsigned char *q = s; q < e; q++) {
            if (*q == '"') quoted = !quoted;
            for (int k = 0; k < 3 && !quoted; k++) count[k] += *q == (unsigned char)cand[k];
        }
        for (int k = 0; k < 3; k++) {
            if (lines == 0) on_first[k] = count[k] > 0;
            if (count[k] == 0) on_all[k] = 0;
        }
        lines++;
    }
    for (int k = 0; k < 3; k++)
        if (lines > 0 && on_all[k]) return cand[k];
    for (int k = 0; k < 3; k++)
        if (on_first[k]) return cand[k];
    return ' ';
}

/* Writes a field for a message: at most NAME_SHOWN characters, then "...". */
static int shown(const field *f) { return f->n > NAME_SHOWN ? NAME_SHOWN : (int)f->n; }
static const char *more(const field *f) { return f->n > NAME_SHOWN ? "..." : ""; }

/* The header's name of column c (0-based), or NULL with n = 0. */
static const unsigned char *header_name(const layout *L, size_t c, size_t *n) {
    *n = 0;
    if (!L->has_header) return NULL;
    splitter sp;
    field f;
    split_init(&sp, L->hs, L->he, L->delim);
    while (split_next(&sp, &f) == SPLIT_FIELD)
        if (f.col == c + 1) {
            *n = f.n;
            return f.s;
        }
    return NULL;
}

/* "line L column C" and, with a header, " (name)": where a message points. */
static void where(const layout *L, size_t line, size_t col, char *buf, size_t cap) {
    size_t n;
    const unsigned char *name = header_name(L, col - 1, &n);
    if (name && n > 0)
        snprintf(buf, cap, "line %zu column %zu (%.*s%s)", line, col, n > NAME_SHOWN ? NAME_SHOWN : (int)n,
                 (const char *)name, n > NAME_SHOWN ? "..." : "");
    else
        snprintf(buf, cap, "line %zu column %zu", line, col);
}

static int split_error(int rc, size_t line, size_t col) {
    return ae_fail(AE_EFORMAT, "line %zu column %zu: %s", line, col,
                   rc == SPLIT_BAD_QUOTE ? "a quote that does not close on its line"
                                         : "text after a closing quote");
}

static int number_error(const layout *L, int num, const field *f, size_t line) {
    char at[128];
    where(L, line, f->col, at, sizeof at);
    if (num == NUM_EMPTY) return ae_fail(AE_EFORMAT, "%s: empty field", at);
    if (num == NUM_RANGE)
        return ae_fail(AE_EFORMAT, "%s: %.*s%s is out of float range (beyond +-3.4e38)", at, shown(f),
                       (const char *)f->s, more(f));
    return ae_fail(AE_EFORMAT, "%s: '%.*s%s' is not a number (a text column? leave it out with drop)", at,
                   shown(f), (const char *)f->s, more(f));
}

/* ---------------------------------------------------------------- column lists */

/* A 1-based column number in s[0..n): digits only, no overflow. */
static int parse_index(const char *s, size_t n, size_t *v) {
    if (n == 0) return 0;
    size_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i])) return 0;
        size_t d = (size_t)(s[i] - '0');
        if (x > (SIZE_MAX - d) / 10) return 0;
        x = x * 10 + d;
    }
    *v = x;
    return x > 0;
}

/* A token names columns [*a, *b] (0-based, inclusive): a header name, else a number or a range
 * "a-b". AE_EINVAL with a detail when it names none. */
static int resolve_token(const layout *L, const char *what, const char *t, size_t n, size_t *a, size_t *b) {
    if (L->has_header) {
        splitter sp;
        field f;
        split_init(&sp, L->hs, L->he, L->delim);
        while (split_next(&sp, &f) == SPLIT_FIELD)
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
    if (hi > L->ncols)
        return ae_fail(AE_EINVAL, "%s: column %zu does not exist: the file has %zu", what, hi, L->ncols);
    *a = lo - 1;
    *b = hi - 1;
    return AE_OK;
}

/* Calls back for each comma-separated token of list; AE_EINVAL for an empty one. */
typedef int (*token_fn)(layout *L, const char *what, const char *t, size_t n, void *ctx);
static int each_token(layout *L, const char *what, const char *list, token_fn fn, void *ctx) {
    const char *t = list;
    for (;;) {
        const char *c = strchr(t, ',');
        size_t n = c ? (size_t)(c - t) : strlen(t);
        while (n > 0 && is_space_or_tab((unsigned char)*t)) t++, n--;
        while (n > 0 && is_space_or_tab((unsigned char)t[n - 1])) n--;
        if (n == 0) return ae_fail(AE_EINVAL, "%s: an empty entry in '%s'", what, list);
        int rc = fn(L, what, t, n, ctx);
        if (rc != AE_OK) return rc;
        if (!c) return AE_OK;
        t = c + 1;
    }
}

/* columns: each listed column becomes the next feature, in the order given. */
static int keep_token(layout *L, const char *what, const char *t, size_t n, void *ctx) {
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

static int drop_token(layout *L, const char *what, const char *t, size_t n, void *ctx) {
    (void)ctx;
    size_t a, b;
    int rc = resolve_token(L, what, t, n, &a, &b);
    for (size_t c = a; rc == AE_OK && c <= b; c++) L->role[c] = ROLE_SKIP;
    return rc;
}

/* Does list hold an entry that is not a column number or range (so, a name)? */
static int names_a_column(const char *list) {
    if (!list) return 0;
    for (const char *t = list; *t; t++)
        if (!is_digit((unsigned char)*t) && *t != ',' && *t != '-' && !is_space_or_tab((unsigned char)*t)) return 1;
    return 0;
}

/* Roles from the options; nfeat and out_col in the order features are stored. */
static int resolve_columns(layout *L, const ae_csv_opts *o) {
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
    L->index_candidate = o->index_column == -1 && !o->columns && L->has_header && L->role[0] == ROLE_FEATURE &&
                         L->ncols > 1;
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
static int number_features(layout *L, const ae_csv_opts *o) {
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

/* ---------------------------------------------------------------- the passes */

/* The header decision for -1: a field of a kept column that is not a number. */
static int looks_like_header(const layout *L, const unsigned char *s, const unsigned char *e, const int *kept) {
    splitter sp;
    field f;
    int rc;
    split_init(&sp, s, e, L->delim);
    while ((rc = split_next(&sp, &f)) == SPLIT_FIELD) {
        if (kept && f.col <= L->ncols && !kept[f.col - 1]) continue;
        if (f.n > 0 && parse_number(f.s, f.n, L->decimal_comma, NULL) == NUM_TEXT) return 1;
    }
    return rc != SPLIT_END; /* a quoting error: taken for a header, whose split reports it */
}

/* Does the line hold a field that reads as a number (or overflows as one)? */
static int has_a_number(const layout *L, const unsigned char *s, const unsigned char *e) {
    splitter sp;
    field f;
    split_init(&sp, s, e, L->delim);
    while (split_next(&sp, &f) == SPLIT_FIELD)
        if (parse_number(f.s, f.n, L->decimal_comma, NULL) != NUM_TEXT && f.n > 0) return 1;
    return 0;
}

/* Number of fields of a line, or a quoting error. */
static int count_fields(const layout *L, const unsigned char *s, const unsigned char *e, size_t line, size_t *n) {
    splitter sp;
    field f;
    int rc;
    split_init(&sp, s, e, L->delim);
    while ((rc = split_next(&sp, &f)) == SPLIT_FIELD) continue;
    if (rc != SPLIT_END) return split_error(rc, line, sp.col);
    *n = sp.col;
    return AE_OK;
}

typedef struct {
    const unsigned char *s;
    size_t n;
} text_ref;

/* One pass over the data lines. Without x: checks them, counts rows and finds whether the
 * label column is all numbers and column 1 is an index. With x: stores the features, and
 * the label fields into refs (or their values into y when numeric). */
static int scan(layout *L, size_t *rows, int *label_numeric, int *index_ok, float *x, float *y, text_ref *refs) {
    size_t pos = 0, line = 0, r = 0;
    const unsigned char *s, *e;
    int seen_first = 0;
    while (next_line(L->p, L->len, &pos, &s, &e)) {
        line++;
        if (is_blank_line(s, e)) continue;
        if (!seen_first) {
            seen_first = 1;
            if (L->has_header) continue;
        }
        splitter sp;
        field f;
        int rc;
        split_init(&sp, s, e, L->delim);
        while ((rc = split_next(&sp, &f)) == SPLIT_FIELD) {
            if (f.col > L->ncols) continue; /* counted: the line is refused below */
            size_t c = f.col - 1;
            float v = 0.0f;
            if (c == 0 && L->index_candidate && !x && *index_ok) {
                /* pandas counts rows from 0, R's write.csv from 1: the first row says which */
                *index_ok = parse_number(f.s, f.n, 0, &v) == NUM_OK && r < ((size_t)1 << 24) &&
                            (r == 0 ? v == 0.0f || v == 1.0f : v == L->index_base + (float)r);
                if (r == 0) L->index_base = v;
            }
            if (L->role[c] == ROLE_SKIP) continue;
            if (L->role[c] == ROLE_LABEL) {
                if (f.n == 0) {
                    char at[128];
                    where(L, line, f.col, at, sizeof at);
                    return ae_fail(AE_EFORMAT, "%s: empty label", at);
                }
                int num = parse_number(f.s, f.n, L->decimal_comma, x ? &v : NULL);
                if (!x) {
                    if (num == NUM_RANGE) return number_error(L, num, &f, line);
                    if (num != NUM_OK) *label_numeric = 0;
                } else if (*label_numeric) {
                    y[r] = v;
                } else {
                    refs[r] = (text_ref){f.s, f.n};
                }
                continue;
            }
            int num = parse_number(f.s, f.n, L->decimal_comma, x ? &v : NULL);
            if (num != NUM_OK) {
                if (L->index_candidate && c == 0) continue; /* decided after the pass */
                return number_error(L, num, &f, line);
            }
            if (x) x[r * L->nfeat + L->out_col[c]] = v;
        }
        if (rc != SPLIT_END) return split_error(rc, line, sp.col);
        size_t k = sp.col;
        if (k != L->ncols)
            return ae_fail(AE_EFORMAT, "line %zu has %zu field%s where line %zu has %zu", line, k, k == 1 ? "" : "s",
                           L->header_line, L->ncols);
        r++;
    }
    *rows = r;
    return AE_OK;
}

/* Column 1 was a candidate index and is not one: its fields are features after all, so a
 * field that is not a number is refused now. */
static int recheck_first_column(layout *L) {
    size_t pos = 0, line = 0;
    const unsigned char *s, *e;
    int seen_first = 0;
    while (next_line(L->p, L->len, &pos, &s, &e)) {
        line++;
        if (is_blank_line(s, e)) continue;
        if (!seen_first && (seen_first = 1) && L->has_header) continue;
        splitter sp;
        field f;
        split_init(&sp, s, e, L->delim);
        if (split_next(&sp, &f) == SPLIT_FIELD) {
            int num = parse_number(f.s, f.n, L->decimal_comma, NULL);
            if (num != NUM_OK) return number_error(L, num, &f, line);
        }
    }
    return AE_OK;
}

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
static int classes_from_text(const text_ref *refs, size_t rows, float *y, char *names, size_t cap) {
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
    if (cls >= ((size_t)1 << 24)) return ae_fail(AE_EFORMAT, "label: %zu classes, more than a float counts exactly", cls + 1);
    return AE_OK;
}

/* ---------------------------------------------------------------- entry */

/* Skips a BOM, checks that the bytes are text; the detail names the first bad byte's line. */
static int check_text(const unsigned char **p, size_t *len);

int ae_csv_parse(const unsigned char *p, size_t len, const ae_csv_opts *o, ae_data *out, ae_data *labels) {
    *out = (ae_data){NULL, 0, 0};
    if (labels) *labels = (ae_data){NULL, 0, 0};
    if (o->label_names && o->label_names_cap > 0) o->label_names[0] = '\0';
    if (o->label && !labels) return ae_fail(AE_EINVAL, "label '%s' is set but there is nowhere to put the labels", o->label);
    if (o->header < -1 || o->header > 1 || o->index_column < -1 || o->index_column > 1)
        return ae_fail(AE_EINVAL, "csv options: header and index_column take -1, 0 or 1");
    int rc = check_text(&p, &len);
    if (rc != AE_OK) return rc;

    layout L;
    memset(&L, 0, sizeof L);
    L.p = p;
    L.len = len;
    L.delim = o->delimiter ? o->delimiter : detect_delimiter(p, len);
    if (L.delim == '"' || L.delim == '\n' || L.delim == '\r' || L.delim == '.' || L.delim == '-' || L.delim == '+' ||
        is_digit((unsigned char)L.delim))
        return ae_fail(AE_EINVAL, "csv options: '%c' cannot be a delimiter", L.delim);
    L.decimal_comma = L.delim == ';';

    /* The first non-blank line: header or first row; it fixes the number of fields. */
    size_t pos = 0, line = 0;
    const unsigned char *s = NULL, *e = NULL;
    int found = 0;
    while (next_line(p, len, &pos, &s, &e)) {
        line++;
        if (!is_blank_line(s, e)) {
            found = 1;
            break;
        }
    }
    if (!found) return ae_fail(AE_EFORMAT, "no rows: the text is empty or blank");
    L.header_line = line;
    L.hs = s;
    L.he = e;
    if ((rc = count_fields(&L, s, e, line, &L.ncols)) != AE_OK) return rc;

    L.role = ae_calloc(L.ncols, sizeof *L.role);
    L.out_col = ae_calloc(L.ncols, sizeof *L.out_col);
    int *kept = ae_calloc(L.ncols, sizeof *kept);
    text_ref *refs = NULL;
    if (!L.role || !L.out_col || !kept) {
        rc = AE_ENOMEM;
        goto done;
    }
    if (o->header >= 0) {
        L.has_header = o->header;
    } else if (names_a_column(o->columns) || names_a_column(o->drop) || names_a_column(o->label)) {
        L.has_header = 1;
    } else {
        /* Decide on the columns kept by number: a text column left out does not make a header. */
        if ((rc = resolve_columns(&L, o)) != AE_OK) goto done;
        for (size_t c = 0; c < L.ncols; c++) kept[c] = L.role[c] == ROLE_FEATURE;
        L.has_header = looks_like_header(&L, s, e, kept);
    }
    if ((rc = resolve_columns(&L, o)) != AE_OK) goto done;

    size_t rows = 0;
    int label_numeric = 1, index_ok = 1;
    if ((rc = scan(&L, &rows, &label_numeric, &index_ok, NULL, NULL, NULL)) != AE_OK) goto done;
    if (L.index_candidate) {
        if (index_ok && rows > 0) {
            L.role[0] = ROLE_SKIP;
        } else if ((rc = recheck_first_column(&L)) != AE_OK) {
            goto done;
        }
        L.index_candidate = 0;
    }
    if ((rc = number_features(&L, o)) != AE_OK) goto done;
    if (rows == 0) {
        /* A lone line taken for a header that holds a number too is more likely a row with a
         * bad field: read it as one, so that the detail says which field. */
        if (o->header == -1 && has_a_number(&L, L.hs, L.he)) {
            L.has_header = 0;
            L.index_candidate = 0;
            if ((rc = scan(&L, &rows, &label_numeric, &index_ok, NULL, NULL, NULL)) != AE_OK) goto done;
        }
        rc = ae_fail(AE_EFORMAT, "no data rows: only the header (line %zu)", L.header_line);
        goto done;
    }
    if (L.nfeat == 0) {
        rc = ae_fail(AE_EINVAL, "no feature columns left (the file has %zu; columns, drop and label leave none)",
                     L.ncols);
        goto done;
    }
    if ((rc = ae_data_alloc(out, rows, L.nfeat)) != AE_OK) goto done;
    if (o->label) {
        if ((rc = ae_data_alloc(labels, rows, 1)) != AE_OK) goto done;
        if (!label_numeric && !(refs = ae_calloc(rows, sizeof *refs))) {
            rc = AE_ENOMEM;
            goto done;
        }
    }
    size_t rows2 = 0;
    rc = scan(&L, &rows2, &label_numeric, &index_ok, out->x, o->label ? labels->x : NULL, refs);
    if (rc == AE_OK && o->label && !label_numeric)
        rc = classes_from_text(refs, rows, labels->x, o->label_names, o->label_names_cap);

done:
    ae_dealloc(refs);
    ae_dealloc(kept);
    ae_dealloc(L.out_col);
    ae_dealloc(L.role);
    if (rc != AE_OK) {
        ae_data_free(out);
        if (labels) ae_data_free(labels);
    }
    return rc;
}

/* Valid UTF-8 without control characters other than tab, CR and LF; a UTF-8 BOM is skipped. */
static int check_text(const unsigned char **pp, size_t *plen) {
    const unsigned char *p = *pp;
    size_t len = *plen;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        p += 3;
        len -= 3;
    }
    size_t i = 0, line = 1;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
                return ae_fail(AE_EFORMAT, "not text: byte 0x%02x on line %zu is a control character", c, line);
            line += c == '\n' || (c == '\r' && (i + 1 == len || p[i + 1] != '\n'));
            i++;
            continue;
        }
        /* Lead byte: number of continuation bytes and the range allowed for the first one
         * (excludes overlong forms, surrogates and code points past U+10FFFF). */
        size_t more_bytes;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more_bytes = 1;
        else if (c == 0xE0) more_bytes = 2, lo = 0xA0;
        else if (c == 0xED) more_bytes = 2, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF) more_bytes = 2;
        else if (c == 0xF0) more_bytes = 3, lo = 0x90;
        else if (c == 0xF4) more_bytes = 3, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3) more_bytes = 3;
        else more_bytes = SIZE_MAX;
        int ok = more_bytes != SIZE_MAX && len - i - 1 >= more_bytes && p[i + 1] >= lo && p[i + 1] <= hi;
        for (size_t k = 2; ok && k <= more_bytes; k++) ok = p[i + k] >= 0x80 && p[i + k] <= 0xBF;
        if (!ok) return ae_fail(AE_EFORMAT, "not text: invalid UTF-8 (byte 0x%02x) on line %zu", c, line);
        i += more_bytes + 1;
    }
    *pp = p;
    *plen = len;
    return AE_OK;
}
