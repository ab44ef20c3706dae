/* io_data: what the data readers share across their files (io_data.c: the public entry points
 * and the dispatch by content; io_gzip.c, io_idx.c, io_npy.c, io_range.c, io_csv*.c: the
 * formats and ways of reading). */
#ifndef AE_IO_DATA_H
#define AE_IO_DATA_H

#include "tensor.h"

/* Allocates d->x for rows x cols floats (both > 0) and sets the shape; AE_EFORMAT when the
 * size overflows, AE_ENOMEM. */
AE_HIDDEN int ae_data_alloc(ae_data *d, size_t rows, size_t cols);

/* Puts "path: " in front of the detail a failure recorded (when it recorded one); rc back. */
AE_HIDDEN int ae_with_path(int rc, const char *path);

#endif
