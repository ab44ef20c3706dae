/* io_data: what the data readers share across their files (io_data.c: gzip, IDX, .npy and the
 * public entry points; io_csv.c: delimited text). */
#ifndef AE_IO_DATA_H
#define AE_IO_DATA_H

#include "tensor.h"

/* Allocates d->x for rows x cols floats (both > 0) and sets the shape; AE_EFORMAT when the
 * size overflows, AE_ENOMEM. */
AE_HIDDEN int ae_data_alloc(ae_data *d, size_t rows, size_t cols);

/* Delimited text (CSV, ';', tab or blank-separated) in p[0..len), a UTF-8 BOM allowed, with
 * the options o (never NULL). labels may be NULL unless o->label is set. Failures record a
 * detail without the file's name (the caller adds it). out and labels are zeroed first. */
AE_HIDDEN int ae_csv_parse(const unsigned char *p, size_t len, const ae_csv_opts *o, ae_data *out, ae_data *labels);

#endif
