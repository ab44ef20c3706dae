/* io_data: the data readers' entry points (io_data.c) that other modules call beyond ae.h. */
#ifndef AE_IO_DATA_H
#define AE_IO_DATA_H

#include "tensor.h"

/* Rows [first, first + count) of an IDX or .npy file (plain or gzip), converted as
 * ae_data_load_range does, into x [count x cols] (the file's columns must be cols): no
 * allocation of the rows (io_data.c). A text file is refused. */
AE_HIDDEN int ae_data_read_range(const char *path, size_t first, size_t count, float *x, size_t cols);

#endif
