/* io_csv_text: the text side of the CSV reader: the check that the bytes are text, lines,
 * fields (quotes, padding, the delimiter), numbers and the delimiter's detection. See
 * io_csv_text.h. */
#define _POSIX_C_SOURCE 200809L
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io_csv_text.h"

#define MAX_NUMBER 255 /* longest field taken as a number */

/* ---------------------------------------------------------------- lines and fields */

/* The next line of p[*pos..len) in [*s, *e): it ends at LF, CRLF or a bare CR. 0 at the end. */
int ae_csv_next_line(const unsigned char *p, size_t len, size_t *pos, const unsigned char **s,
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

/* Blank: only spaces and tabs. */
int ae_csv_blank_line(const unsigned char *s, const unsigned char *e) {
    while (s < e && csv_space_or_tab(*s)) s++;
    return s == e;
}

/* Padding around a field: spaces, and tabs unless tab is the delimiter. */
static int is_pad(unsigned char c, char delim) { return c == ' ' || (c == '\t' && delim != '\t'); }

void ae_csv_split_init(csv_splitter *sp, const unsigned char *s, const unsigned char *e, char delim) {
    sp->p = s;
    sp->e = e;
    sp->delim = delim;
    sp->pending = 1; /* a line has at least one field */
    sp->col = 0;
    if (delim == ' ')
        while (sp->p < e && is_pad(*sp->p, delim)) sp->p++;
}

/* The next field of the line: SPLIT_FIELD, SPLIT_END, or a quoting error (f->col says where). */
int ae_csv_split_next(csv_splitter *sp, csv_field *f) {
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

static int lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int same_word(const unsigned char *s, size_t n, const char *w) {
    if (strlen(w) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != (unsigned char)w[i]) return 0;
    return 1;
}

/* A decimal number (see ae.h): checked by hand, so that strtof's extras (hex, nan(...)) never
 * pass, then converted by strtof (correctly rounded) with the C library's decimal point put
 * in place of the file's. decimal_comma: ',' is the decimal point too. v NULL: a check only
 * (the first pass), which skips the conversion where it cannot overflow (no exponent, at most
 * 38 digits before the point). */
int ae_csv_number(const unsigned char *s, size_t n, int decimal_comma, float *v) {
    if (n == 0) return NUM_EMPTY;
    if (n > MAX_NUMBER) return NUM_TEXT;
    size_t i = s[0] == '+' || s[0] == '-' ? 1 : 0;
    if (same_word(s + i, n - i, "nan") || same_word(s + i, n - i, "inf") || same_word(s + i, n - i, "infinity")) {
        float x = lower(s[i]) == 'n' ? NAN : INFINITY;
        if (v) *v = s[0] == '-' ? -x : x;
        return NUM_OK;
    }
    size_t digits = 0, mark = SIZE_MAX;
    while (i < n && csv_digit(s[i])) i++, digits++;
    const size_t int_digits = digits;
    int exponent = 0;
    if (i < n && (s[i] == '.' || (decimal_comma && s[i] == ','))) {
        mark = i++;
        while (i < n && csv_digit(s[i])) i++, digits++;
    }
    if (digits == 0) return NUM_TEXT;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        exponent = 1;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t exp_digits = 0;
        while (i < n && csv_digit(s[i])) i++, exp_digits++;
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
    if (isinf(x)) return NUM_RANGE; /* the literal is finite: it overflowed float */
    if (v) *v = x;
    return NUM_OK;
}

/* ---------------------------------------------------------------- the whole text */

/* Counts of each candidate delimiter outside quotes on the first lines: the delimiter is the
 * first of ';', tab, ',' on every sampled line, else the first of them on the first line,
 * else blanks. */
char ae_csv_detect_delimiter(const unsigned char *p, size_t len) {
    static const char cand[3] = {';', '\t', ','};
    int on_all[3] = {1, 1, 1}, on_first[3] = {0, 0, 0}, lines = 0;
    size_t pos = 0;
    const unsigned char *s, *e;
    while (lines < SNIFF_LINES && ae_csv_next_line(p, len, &pos, &s, &e)) {
        if (ae_csv_blank_line(s, e)) continue;
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

/* Valid UTF-8 without control characters other than tab, CR and LF; a UTF-8 BOM is skipped. */
int ae_csv_check_text(const unsigned char **pp, size_t *plen) {
    const unsigned char *p = *pp;
    size_t len = *plen, line = 1;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        p += 3;
        len -= 3;
    }
    int rc = ae_csv_check_lines(p, len, &line);
    if (rc != AE_OK) return rc;
    *pp = p;
    *plen = len;
    return AE_OK;
}

/* The check of ae_csv_check_text over whole lines, *line the number of the first and then of
 * the line after them. */
int ae_csv_check_lines(const unsigned char *p, size_t len, size_t *pline) {
    size_t i = 0, line = *pline;
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
        if (c >= 0xC2 && c <= 0xDF)
            more_bytes = 1;
        else if (c == 0xE0)
            more_bytes = 2, lo = 0xA0;
        else if (c == 0xED)
            more_bytes = 2, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF)
            more_bytes = 2;
        else if (c == 0xF0)
            more_bytes = 3, lo = 0x90;
        else if (c == 0xF4)
            more_bytes = 3, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3)
            more_bytes = 3;
        else
            more_bytes = SIZE_MAX;
        int ok = more_bytes != SIZE_MAX && len - i - 1 >= more_bytes && p[i + 1] >= lo && p[i + 1] <= hi;
        for (size_t k = 2; ok && k <= more_bytes; k++) ok = p[i + k] >= 0x80 && p[i + k] <= 0xBF;
        if (!ok) return ae_fail(AE_EFORMAT, "not text: invalid UTF-8 (byte 0x%02x) on line %zu", c, line);
        i += more_bytes + 1;
    }
    *pline = line;
    return AE_OK;
}
