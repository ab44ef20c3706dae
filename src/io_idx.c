/* io_idx: IDX files (MNIST / Fashion-MNIST: 00 00 type ndims, big-endian dims and data), and
 * what IDX and .npy share: the one value converter, the whole-file value reader and the inflate
 * cap that a gzip'd header allows. See io_binary.h. */
#include <stdint.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "io_binary.h"
#include "io_file.h"

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* ---------------------------------------------------------------- values */

/* n values encoded as L says, at d, into floats at x: the one place the conversion rules
 * live. IDX unsigned bytes with two or more dims are image pixels: scaled to [0,1]. A 1-D
 * unsigned-byte IDX file is a label file (MNIST labels): it keeps the class numbers 0..255.
 * Every other type keeps its values; .npy |u1 too (0..255, not scaled: the user's values).
 * Each value is converted on its own, so a caller may convert a file's values piece by piece. */
void ae_layout_convert(const ae_layout *L, const unsigned char *d, size_t n, float *x) {
    if (L->npy) {
        if (L->type == AE_NPY_F4) { /* little-endian in the file (byteorder.h) */
            ae_le_copy(x, d, n, 4);
        } else if (L->type == AE_NPY_F8) {
            for (size_t i = 0; i < n; i++) {
                double v;
                ae_le_copy(&v, d + 8 * i, 1, 8);
                x[i] = (float)v;
            }
        } else {
            for (size_t i = 0; i < n; i++) x[i] = (float)d[i];
        }
        return;
    }
    switch (L->type) {
    case 0x08:
        if (L->nd >= 2)
            for (size_t i = 0; i < n; i++) x[i] = (float)d[i] / 255.0f;
        else
            for (size_t i = 0; i < n; i++) x[i] = (float)d[i];
        break;
    case 0x09: /* two's complement, spelled out: converting to a signed type is not portable */
        for (size_t i = 0; i < n; i++) x[i] = (float)(d[i] < 0x80 ? (int)d[i] : (int)d[i] - 0x100);
        break;
    case 0x0B:
        for (size_t i = 0; i < n; i++) {
            long v = (long)d[2 * i] << 8 | d[2 * i + 1];
            x[i] = (float)(v < 0x8000 ? v : v - 0x10000);
        }
        break;
    case 0x0C:
        for (size_t i = 0; i < n; i++) {
            int64_t v = be32(d + 4 * i);
            x[i] = (float)(v < INT64_C(0x80000000) ? v : v - INT64_C(0x100000000));
        }
        break;
    case 0x0D:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = be32(d + 4 * i);
            memcpy(&x[i], &u, 4);
        }
        break;
    default: /* 0x0E */
        for (size_t i = 0; i < n; i++) {
            uint64_t u = be64(d + 8 * i);
            double v;
            memcpy(&v, &u, 8);
            x[i] = (float)v;
        }
        break;
    }
}

/* A whole file in memory, whose header L describes: exactly L's values after the header. */
int ae_layout_values(const ae_layout *L, const unsigned char *p, size_t len, ae_data *out) {
    if (len - L->hdr != L->bytes)
        return ae_fail(
            AE_EFORMAT, "%s: %s bytes of data after the header, which declares %zu x %zu values of %zu bytes (%zu)",
            L->npy ? ".npy" : "IDX", len - L->hdr > L->bytes ? "more" : "fewer", L->rows, L->cols, L->esize, L->bytes);
    int rc = ae_data_alloc(out, L->rows, L->cols);
    if (rc != AE_OK) return rc;
    ae_layout_convert(L, p + L->hdr, L->rows * L->cols, out->x);
    return AE_OK;
}

/* ---------------------------------------------------------------- IDX */

/* 00 00 type ndims, ndims big-endian uint32 dims, then the big-endian data, nothing after.
 * The header, from the first len bytes (at least the whole header). */
int ae_idx_layout(const unsigned char *p, size_t len, ae_layout *L) {
    if (len < 4) return ae_fail(AE_EFORMAT, "IDX: the header is cut short (%zu bytes)", len);
    unsigned type = p[2], nd = p[3];
    size_t esize;
    switch (type) {
    case 0x08: /* unsigned byte */
    case 0x09: /* signed byte */ esize = 1; break;
    case 0x0B: /* int16 */ esize = 2; break;
    case 0x0C: /* int32 */
    case 0x0D: /* float32 */ esize = 4; break;
    case 0x0E: /* float64 */ esize = 8; break;
    default:
        return ae_fail(AE_EFORMAT,
                       "IDX: type code 0x%02X unknown (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, "
                       "0x0C int32, 0x0D float32, 0x0E float64)",
                       type);
    }
    if (nd < 1 || nd > 8) return ae_fail(AE_EFORMAT, "IDX: %u dimensions (1 to 8 are read)", nd);
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len < hdr) return ae_fail(AE_EFORMAT, "IDX: the header of %u dimensions is cut short", nd);
    size_t rows = 0, cols = 1;
    for (unsigned i = 0; i < nd; i++) {
        uint32_t dim = be32(p + 4 + 4 * i);
        if (dim == 0)
            return ae_fail(AE_EFORMAT, "IDX: dimension %u is 0: %s", i + 1, i == 0 ? "zero rows" : "empty rows");
        if (i == 0)
            rows = dim;
        else if (!ae_mul_ok(cols, dim, &cols))
            return ae_fail(AE_EFORMAT, "IDX: the dimensions' product overflows");
    }
    size_t n, bytes;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, esize, &bytes))
        return ae_fail(AE_EFORMAT, "IDX: the dimensions' product overflows");
    *L = (ae_layout){0, type, nd, esize, hdr, rows, cols, bytes};
    return AE_OK;
}

/* ---------------------------------------------------------------- gzip's cap */

int ae_layout_inflate_cap(const unsigned char *p, size_t n, size_t text_limit, size_t *allow, int *by_header) {
    ae_layout L = {0}; /* read only when a layout was found */
    int known = 0, rc = AE_OK;
    *by_header = 0;
    if (n >= 2 && p[0] == 0 && p[1] == 0) { /* IDX: 4 bytes, then 4 per dimension */
        if (n < 4 || (p[3] >= 1 && p[3] <= 8 && n < 4 + 4 * (size_t)p[3])) return 0;
        known = 1;
        rc = ae_idx_layout(p, n, &L);
    } else if (n >= 1 && p[0] == 0x93) { /* .npy: magic, version, length, dict */
        if (n < 12) return 0;
        if (memcmp(p,
                   "\x93"
                   "NUMPY",
                   6) == 0) {
            size_t start = ae_npy_start(p), hlen = start ? ae_npy_dict_len(p, start) : 0;
            if (start && hlen <= AE_NPY_MAX_HEADER && n < start + hlen) return 0;
            known = 1;
            rc = ae_npy_layout(p, n, &L);
        }
    } else if (n < 2) {
        return 0;
    }
    ae_error_clear(); /* a header refused here is refused again, and said, by the parser */
    if (known && rc == AE_OK && L.bytes <= ae_read_limit() - L.hdr - 1) {
        *allow = L.hdr + L.bytes + 1;
        *by_header = 1;
    } else {
        *allow = text_limit;
    }
    return 1;
}
