/* io_csv_text: the text side of the CSV reader (io_csv_text.c): lines, fields and numbers. */
#ifndef AE_IO_CSV_TEXT_H
#define AE_IO_CSV_TEXT_H

#include <stddef.h>

#include "tensor.h"

static inline int csv_space_or_tab(unsigned char c) { return c == ' ' || c == '\t'; }
static inline int csv_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Skips a UTF-8 BOM and checks that the bytes are valid UTF-8 without control characters
 * other than tab, CR and LF; the detail names the first bad byte's line. */
AE_HIDDEN int ae_csv_check_text(const unsigned char **p, size_t *len);
/* The same check over p[0..len), which holds whole lines (no BOM): *line is the number of its
 * first line, and after it the number of the line that follows. */
AE_HIDDEN int ae_csv_check_lines(const unsigned char *p, size_t len, size_t *line);

/* The next line of p[*pos..len) in [*s, *e): it ends at LF, CRLF or a bare CR. 0 at the end. */
AE_HIDDEN int ae_csv_next_line(const unsigned char *p, size_t len, size_t *pos, const unsigned char **s,
                               const unsigned char **e);
/* Blank: only spaces and tabs. */
AE_HIDDEN int ae_csv_blank_line(const unsigned char *s, const unsigned char *e);

#define SNIFF_LINES 64 /* non-blank lines looked at to detect the delimiter */

/* The delimiter of a text whose options leave it to be found: the first of ';', tab, ',' on
 * every one of the first lines (outside quotes), else the first of them on the first line,
 * else ' ' (blanks). */
AE_HIDDEN char ae_csv_detect_delimiter(const unsigned char *p, size_t len);

typedef struct {
    const unsigned char *s; /* the content: inside the quotes for a quoted field */
    size_t n;
    size_t col; /* 1-based */
} csv_field;

/* The fields of one line, one at a time. */
typedef struct {
    const unsigned char *p, *e;
    char delim; /* ' ': runs of spaces and tabs */
    int pending; /* a delimiter was taken: one more field is owed (it may be empty) */
    size_t col; /* fields given so far */
} csv_splitter;

enum { SPLIT_END = 0, SPLIT_FIELD = 1, SPLIT_BAD_QUOTE = -1, SPLIT_AFTER_QUOTE = -2 };

AE_HIDDEN void ae_csv_split_init(csv_splitter *sp, const unsigned char *s, const unsigned char *e, char delim);
/* The next field of the line: SPLIT_FIELD, SPLIT_END, or a quoting error (f->col says where). */
AE_HIDDEN int ae_csv_split_next(csv_splitter *sp, csv_field *f);

enum { NUM_OK = 0, NUM_EMPTY, NUM_TEXT, NUM_RANGE };

/* A decimal number in s[0..n) (see ae.h) into *v: NUM_OK, or why not. decimal_comma: ',' is
 * the decimal point too. v NULL: a check only. */
AE_HIDDEN int ae_csv_number(const unsigned char *s, size_t n, int decimal_comma, float *v);

#endif
