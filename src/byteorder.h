/* byteorder: the files' byte order on any host. Every binary format libae writes or reads
 * (the model file and checkpoints, .npy) stores little-endian values, and every checksum is
 * taken over those little-endian bytes, so a file is the same bytes whichever host wrote it.
 * On a little-endian host the conversions are copies; on a big-endian one (s390x) they
 * reverse each value's bytes. ae_order_copy takes the order as an argument, so that the
 * swapping path is tested on every host (test_io_model.c). */
#ifndef AE_BYTEORDER_H
#define AE_BYTEORDER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tensor.h"

/* 1 on a big-endian host, 0 on a little-endian one (a constant to the compiler). */
static inline int ae_host_big_endian(void) {
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 0;
}

/* n values of width bytes (1, 2, 4 or 8) from src to dst, each value's bytes reversed when
 * swap is set, copied as they are otherwise. dst and src may be the same (not otherwise
 * overlapping). */
AE_HIDDEN void ae_order_copy(void *dst, const void *src, size_t n, size_t width, int swap);

/* n values of width bytes between the host's order and little-endian (the same operation
 * both ways): ae_order_copy with swap = ae_host_big_endian(), inline for the copy. */
static inline void ae_le_copy(void *dst, const void *src, size_t n, size_t width) {
    if (ae_host_big_endian())
        ae_order_copy(dst, src, n, width, 1);
    else if (dst != src)
        memmove(dst, src, n * width);
}

/* The n floats at x as little-endian bytes, handed to use(ctx, bytes, len) a chunk of at
 * most AE_LE_CHUNK floats at a time: the writers' and the checksums' one way to see them. */
#define AE_LE_CHUNK 4096
typedef void (*ae_bytes_fn)(void *ctx, const void *bytes, size_t len);
AE_HIDDEN void ae_f32_le_chunks(const float *x, size_t n, ae_bytes_fn use, void *ctx);

#endif
