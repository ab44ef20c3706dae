/* io_range: what ae_data_info and ae_data_load_range (io_data.c) read a file with: the header
 * of an IDX or .npy file from a stream, then only the rows asked for. */
#ifndef AE_IO_RANGE_H
#define AE_IO_RANGE_H

#include "io_binary.h"
#include "io_gzip.h"

/* Opens path into s (ae_stream_close is owed whatever this returns) and reads the header of
 * an IDX or .npy file into L; the values come next in s. *text = 1 for anything else (the
 * caller parses the whole file, which tells text from junk). The declared size is held to
 * ae_data_load's limits, and a plain regular file must be exactly as long as its header says;
 * a gzip stream is inflated only up to the end of its header. */
AE_HIDDEN int ae_range_header(ae_stream *s, const char *path, ae_layout *L, int *text);

/* Rows [first, first + count) of the values that follow L's header in s, into out (out->x
 * allocated here, unless the caller gave it: count x L->cols floats). A range outside [0, L->rows) is AE_EINVAL (ae_range_error). A range that ends at the
 * last row also reads on to the end of the file, which must come right there. */
AE_HIDDEN int ae_range_rows(ae_stream *s, const ae_layout *L, size_t first, size_t count, ae_data *out);

/* The next count rows of s (L's values, from where s stands) into x [count x L->cols],
 * AE_CHUNK bytes at a time through buf (AE_CHUNK bytes): nothing is allocated. Data that ends
 * first is AE_EFORMAT. */
AE_HIDDEN int ae_range_next(ae_stream *s, const ae_layout *L, size_t count, float *x, unsigned char *buf);

/* "rows first..first+count lie outside the file's rows rows": AE_EINVAL. */
AE_HIDDEN int ae_range_error(size_t first, size_t count, size_t rows);

/* A text file: loaded whole by ae_data_load, then cut to the range (its details name the
 * file). */
AE_HIDDEN int ae_range_text(const char *path, size_t first, size_t count, ae_data *out);

#endif
