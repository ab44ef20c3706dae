/* The file targets (fuzz_range, fuzz_stream) share how an input becomes a file: stored as is,
 * gzip'd, or gzip'd as two members, and abort on anything that should not happen. */
#ifndef AE_FUZZ_FILE_H
#define AE_FUZZ_FILE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static inline void check(int ok) {
    if (!ok) abort();
}

/* n bytes at p as one gzip member appended to out (which has room: deflateBound). */
static inline size_t gz_member(const unsigned char *p, size_t n, unsigned char *out, size_t cap) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    check(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    zs.next_in = (unsigned char *)p;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    check(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    size_t len = cap - zs.avail_out;
    deflateEnd(&zs);
    return len;
}

/* p [n] into path: mode 0 as is, 1 gzip'd, 2 gzip'd as two members (split in the middle). */
static inline void write_file(const char *path, const unsigned char *p, size_t n, int mode) {
    unsigned char *z = NULL;
    if (mode == 1 || mode == 2) {
        size_t cap = 2 * (n + 64) + 1024, half = mode == 2 ? n / 2 : n;
        z = malloc(cap);
        check(z != NULL);
        size_t len = gz_member(p, half, z, cap);
        if (mode == 2) len += gz_member(p + half, n - half, z + len, cap - len);
        p = z;
        n = len;
    }
    FILE *f = fopen(path, "wb");
    check(f != NULL);
    check(fwrite(p, 1, n, f) == n);
    check(fclose(f) == 0);
    free(z);
}
#endif
