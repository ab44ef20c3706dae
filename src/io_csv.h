/* io_csv: delimited text into floats (io_csv.c, with io_csv_text.c and io_csv_cols.c). */
#ifndef AE_IO_CSV_H
#define AE_IO_CSV_H

#include "tensor.h"

/* Delimited text (CSV, ';', tab or blank-separated) in p[0..len), a UTF-8 BOM allowed, with
 * the options o (never NULL). labels may be NULL unless o->label is set. Failures record a
 * detail without the file's name (the caller adds it). out and labels are zeroed first. */
AE_HIDDEN int ae_csv_parse(const unsigned char *p, size_t len, const ae_csv_opts *o, ae_data *out, ae_data *labels);

#endif
