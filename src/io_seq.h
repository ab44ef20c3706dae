/* io_seq: a data file's rows read front to back with one open stream (io_seq.c): what
 * ae_train_stream reads a file with when it cannot seek to a row (a gzip file, a text file).
 * A gzip stream keeps one inflate state from the first row to the last, so an epoch costs one
 * inflation of the file, not one per block. Rows before the current place are reached by
 * opening the file again (the next epoch), rows after it by reading on. */
#ifndef AE_IO_SEQ_H
#define AE_IO_SEQ_H

#include "io_binary.h"
#include "io_csv_stream.h"
#include "io_gzip.h"

typedef struct ae_seq {
    const char *path;
    ae_stream s;
    ae_layout L; /* IDX or .npy: the header */
    int text; /* a text file: csv reads it */
    ae_csv_stream csv;
    unsigned char *buf; /* AE_CHUNK bytes */
    size_t rows, cols; /* the file's */
    size_t at; /* the next row the stream gives */
} ae_seq;

/* Opens path and reads its header (IDX, .npy) or, for text, passes over the whole file once
 * to find its layout and count its rows as ae_data_load would (io_csv_stream.c). rows and
 * cols are the file's. ae_seq_close is owed whatever this returns. */
AE_HIDDEN int ae_seq_open(ae_seq *q, const char *path);
/* 1 when the file can only be read in order (gzip or text): a plain IDX or .npy file seeks. */
AE_HIDDEN int ae_seq_in_order(const ae_seq *q);
/* Rows [first, first + count) into x [count x cols]: read on from where the stream stands,
 * after reading past the rows before first, or after opening the file again when first lies
 * behind. Reading the last row also reads to the end of the file, which must end there (a
 * gzip member's CRC checked). A file whose header changed is AE_EFORMAT. Details name the
 * file. */
AE_HIDDEN int ae_seq_read(ae_seq *q, size_t first, size_t count, float *x);
AE_HIDDEN void ae_seq_close(ae_seq *q);

#endif
