/* io_csv_pass: the CSV reader's passes over lines (io_csv.c), shared by the reader of a text
 * in memory (ae_csv_parse) and the reader of a text streamed from a file (io_csv_stream.c),
 * so that both take the same header, columns and rows and refuse the same lines with the same
 * words. */
#ifndef AE_IO_CSV_PASS_H
#define AE_IO_CSV_PASS_H

#include "io_csv_cols.h"

/* Where a pass stands: the number of the line being read (1-based), the data rows so far,
 * whether the first non-blank line (the header, when there is one) has been seen. */
typedef struct csv_cursor {
    size_t line, row;
    int seen_first;
} csv_cursor;

/* One pass over every line of the text, with a fresh cursor: recheck 0 calls
 * ae_csv_scan_line (checks, no storing), 1 ae_csv_recheck_line. *rows: the data rows. */
typedef int (*csv_pass_fn)(csv_layout *L, int recheck, size_t *rows, int *label_numeric, int *index_ok, void *ctx);

/* The options that are wrong whatever the text. */
AE_HIDDEN int ae_csv_check_opts(const ae_csv_opts *o, const ae_data *labels);
/* The delimiter, given or detected on p[0..len) (its first lines: ae_csv_detect_delimiter),
 * and the first non-blank line of p: the header or the first row, which fixes the number of
 * fields (L->hs, L->he point into p). L is zeroed first. */
AE_HIDDEN int ae_csv_first_line(csv_layout *L, const ae_csv_opts *o, const unsigned char *p, size_t len);
/* After ae_csv_first_line (L->role, L->out_col and kept hold L->ncols entries): the header
 * decided, the columns resolved, every data line checked by pass, the rows counted, column 1
 * kept or dropped as an index, the features numbered. */
AE_HIDDEN int ae_csv_first_pass(csv_layout *L, const ae_csv_opts *o, int *kept, size_t *rows, int *label_numeric,
                                csv_pass_fn pass, void *ctx);
/* One line of a pass (cur->line is its number). Without xrow: checks it and finds whether the
 * label column is all numbers and column 1 is an index. With xrow: stores the row's features
 * there and its label into *yrow (or *refrow when the labels are text; either may be NULL).
 * *is_row: the line was a data row (cur->row counts it). */
AE_HIDDEN int ae_csv_scan_line(csv_layout *L, csv_cursor *cur, const unsigned char *s, const unsigned char *e,
                               int *label_numeric, int *index_ok, float *xrow, float *yrow, csv_text_ref *refrow,
                               int *is_row);
/* Column 1 was a candidate index and is not one: a field of it that is not a number is
 * refused (the line's number in the detail). */
AE_HIDDEN int ae_csv_recheck_line(csv_layout *L, csv_cursor *cur, const unsigned char *s, const unsigned char *e);

#endif
