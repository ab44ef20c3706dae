/* io_binary: the binary data formats, IDX (io_idx.c) and .npy (io_npy.c): their headers, where
 * their values lie, and the values into floats. A header is read into an ae_layout from the
 * header alone, so that the whole-file readers (ae_data_load), the streaming ones
 * (ae_data_info, ae_data_load_range: io_range.c) and the gzip inflate cap (io_gzip.c) share
 * it. Every declared size is checked for overflow; failures record what was wrong (ae_fail). */
#ifndef AE_IO_BINARY_H
#define AE_IO_BINARY_H

#include <stddef.h>

#include "tensor.h"

#define AE_NPY_MAX_HEADER ((size_t)1 << 20) /* the most .npy dict bytes read */

enum { AE_NPY_F4, AE_NPY_F8, AE_NPY_U1 };

/* Where the values of an IDX or .npy file lie and how they are encoded. */
typedef struct {
    int npy; /* 1: .npy, type is an AE_NPY_*; 0: IDX, type is IDX's type byte */
    unsigned type;
    unsigned nd; /* IDX: number of dims (a 1-D unsigned-byte file holds labels) */
    size_t esize; /* bytes per value */
    size_t hdr; /* header bytes: the values start here */
    size_t rows, cols; /* first dim, product of the others */
    size_t bytes; /* rows * cols * esize, checked for overflow */
} ae_layout;

/* n values encoded as L says, at d, into floats at x (io_idx.c has the rules). Each value is
 * converted on its own, so a caller may convert a file's values piece by piece. */
AE_HIDDEN void ae_layout_convert(const ae_layout *L, const unsigned char *d, size_t n, float *x);

/* A whole file in memory, whose header L describes: exactly L's values after the header
 * (AE_EFORMAT for more or fewer bytes), into out. */
AE_HIDDEN int ae_layout_values(const ae_layout *L, const unsigned char *p, size_t len, ae_data *out);

/* IDX: the header from p[0..len) (at least the whole header), into L. */
AE_HIDDEN int ae_idx_layout(const unsigned char *p, size_t len, ae_layout *L);

/* .npy: where the dict starts, from the magic and version (p[0..8)): 10 for version 1.0, 12
 * for 2.0 and 3.0; 0 for any other version (then ae_npy_version_error says so). */
AE_HIDDEN size_t ae_npy_start(const unsigned char *p);
/* The dict's length: little-endian, in the bytes [8, start). */
AE_HIDDEN size_t ae_npy_dict_len(const unsigned char *p, size_t start);
AE_HIDDEN int ae_npy_version_error(const unsigned char *p);
/* .npy: the header from p[0..len) (at least the whole header), into L. */
AE_HIDDEN int ae_npy_layout(const unsigned char *p, size_t len, ae_layout *L);

/* How far the inflated bytes p[0..n) of a gzip stream may go: *allow is an IDX or .npy
 * file's declared size plus one byte (*by_header = 1: more is the parser's to refuse), else
 * text_limit. Returns 0 while n bytes are too few to tell (nothing set), else 1. */
AE_HIDDEN int ae_layout_inflate_cap(const unsigned char *p, size_t n, size_t text_limit, size_t *allow, int *by_header);

#endif
