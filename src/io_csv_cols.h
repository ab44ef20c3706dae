/* io_csv_cols: the CSV reader's columns (io_csv_cols.c): the layout of a text, what the options
 * name, the features' order, text labels into classes, and where-messages. */
#ifndef AE_IO_CSV_COLS_H
#define AE_IO_CSV_COLS_H

#include "io_csv_text.h"

enum { ROLE_SKIP = 0, ROLE_FEATURE, ROLE_LABEL };

typedef struct {
    const unsigned char *p;
    size_t len;
    char delim;
    int decimal_comma;
    int has_header;
    size_t header_line; /* 1-based line of the header, or of the first data line */
    const unsigned char *hs, *he; /* the header line */
    size_t ncols; /* fields on every line */
    int *role; /* [ncols] */
    size_t *out_col; /* [ncols]: a feature's column in the output */
    size_t nfeat;
    size_t label_col; /* 0-based; valid when label is set */
    int index_candidate; /* detect: column 1 may be pandas' index */
    float index_base; /* its first value: 0 (pandas) or 1 (R) */
} csv_layout;

/* "line L column C" and, with a header, " (name)": where a message points. */
AE_HIDDEN void ae_csv_where(const csv_layout *L, size_t line, size_t col, char *buf, size_t cap);
/* A quoting error (SPLIT_BAD_QUOTE, SPLIT_AFTER_QUOTE) at line and col: AE_EFORMAT. */
AE_HIDDEN int ae_csv_split_error(int rc, size_t line, size_t col);
/* A field that is not a number (num from ae_csv_number): AE_EFORMAT, saying where. */
AE_HIDDEN int ae_csv_number_error(const csv_layout *L, int num, const csv_field *f, size_t line);

/* Does list hold an entry that is not a column number or range (so, a name)? */
AE_HIDDEN int ae_csv_names_a_column(const char *list);
/* Roles from the options (columns, drop, label, index_column); nfeat and out_col in the order
 * features are stored. AE_EINVAL with a detail for a list that names no column. */
AE_HIDDEN int ae_csv_resolve_columns(csv_layout *L, const ae_csv_opts *o);
/* Numbers the features: in the order listed (columns given), else in file order. */
AE_HIDDEN int ae_csv_number_features(csv_layout *L, const ae_csv_opts *o);

typedef struct {
    const unsigned char *s;
    size_t n;
} csv_text_ref;

/* Text labels into class indices: distinct texts in byte order get 0, 1, ...; their names go
 * to names (when given, cap bytes). */
AE_HIDDEN int ae_csv_classes(const csv_text_ref *refs, size_t rows, float *y, char *names, size_t cap);

#endif
