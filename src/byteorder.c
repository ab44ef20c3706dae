/* byteorder: little-endian file values on any host. See byteorder.h. */
#include "byteorder.h"

#include <string.h>

void ae_order_copy(void *dst, const void *src, size_t n, size_t width, int swap) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d != s) memmove(d, s, n * width);
    if (!swap || width < 2) return;
    for (size_t i = 0; i < n; i++, d += width)
        for (size_t a = 0, b = width - 1; a < b; a++, b--) {
            unsigned char t = d[a];
            d[a] = d[b];
            d[b] = t;
        }
}

void ae_f32_le_chunks(const float *x, size_t n, ae_bytes_fn use, void *ctx) {
    unsigned char buf[AE_LE_CHUNK * sizeof(float)];
    for (size_t i = 0; i < n; i += AE_LE_CHUNK) {
        size_t k = n - i < AE_LE_CHUNK ? n - i : AE_LE_CHUNK;
        ae_le_copy(buf, x + i, k, sizeof(float));
        use(ctx, buf, k * sizeof(float));
    }
}
