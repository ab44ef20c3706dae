/* io_range: the IDX and .npy files of ae_data_info and ae_data_load_range read as a stream
 * (io_gzip: a plain file with fread, and fseeko over the rows before the range; a gzip file
 * inflated as it is read, AE_CHUNK compressed bytes at a time, and never past the range's last
 * row). Only the header, the range's rows and AE_CHUNK-sized buffers are ever held. The
 * headers are read by the same parsers as ae_data_load's (io_binary.h). */
#include <string.h>

#include "error.h"
#include "io_binary.h"
#include "io_file.h"
#include "io_gzip.h"
#include "io_range.h"

/* Reads the header of an IDX or .npy file into L; the values come next in s. *text = 1 for
 * anything else (the caller parses the whole file, which tells text from junk). The declared
 * size is held to the same limits as ae_data_load's, and a plain regular file must be exactly
 * as long as its header says (ae_data_load's rule, for the price of an fstat); a gzip stream is
 * inflated only up to the end of its header here. */
int ae_range_header(ae_stream *s, const char *path, ae_layout *L, int *text) {
    unsigned char h[4 + 4 * 8]; /* an IDX header: at most 8 dims */
    size_t have, got;
    *text = 0;
    int rc = ae_stream_open(s, path, h, &have);
    if (rc == AE_OK && have < 2) {
        rc = ae_stream_read(s, h + have, 2 - have, &got);
        have += got;
    }
    if (rc != AE_OK) return rc;
    if (have == 2 && h[0] == 0 && h[1] == 0) { /* IDX */
        if ((rc = ae_stream_need(s, h + 2, 2)) != AE_OK) return rc;
        size_t hdr = h[3] >= 1 && h[3] <= 8 ? 4 + 4 * (size_t)h[3] : 4; /* ae_idx_layout refuses others */
        if ((rc = ae_stream_need(s, h + 4, hdr - 4)) != AE_OK) return rc;
        rc = ae_idx_layout(h, hdr, L);
    } else if (have == 2 && h[0] == 0x93) { /* .npy, or junk */
        unsigned char pre[12];
        memcpy(pre, h, 2);
        if ((rc = ae_stream_read(s, pre + 2, 8, &got)) != AE_OK) return rc;
        if (got < 4 || memcmp(pre,
                              "\x93"
                              "NUMPY",
                              6) != 0) {
            *text = 1; /* what parse_plain makes of it */
            return AE_OK;
        }
        if (got < 8) return ae_fail(AE_EFORMAT, ".npy: the header is cut short (%zu bytes)", got + 2);
        size_t start = ae_npy_start(pre);
        if (start == 0) return ae_npy_version_error(pre);
        if ((rc = ae_stream_need(s, pre + 10, start - 10)) != AE_OK) return rc;
        size_t hlen = ae_npy_dict_len(pre, start);
        if (hlen > AE_NPY_MAX_HEADER)
            return ae_fail(AE_EFORMAT, ".npy: a header of %zu bytes (at most 1 MiB is read)", hlen);
        unsigned char *hb = ae_malloc(start + hlen);
        if (!hb) return AE_ENOMEM;
        memcpy(hb, pre, start);
        rc = ae_stream_need(s, hb + start, hlen);
        if (rc == AE_OK) rc = ae_npy_layout(hb, start + hlen, L);
        ae_dealloc(hb);
    } else {
        *text = 1;
        return AE_OK;
    }
    if (rc != AE_OK) return rc;
    if (L->bytes > ae_read_limit() - L->hdr)
        return ae_fail(AE_EFORMAT, "its header declares %zu bytes, more than a data file may be", L->bytes);
    if (!s->gz && s->regular && s->size != (uint64_t)L->hdr + L->bytes)
        return ae_fail(AE_EFORMAT,
                       "%s: %s bytes of data after the header, which declares %zu x %zu values of %zu bytes (%zu)",
                       L->npy ? ".npy" : "IDX", s->size > (uint64_t)L->hdr + L->bytes ? "more" : "fewer", L->rows,
                       L->cols, L->esize, L->bytes);
    return AE_OK;
}

int ae_range_error(size_t first, size_t count, size_t rows) {
    return ae_fail(AE_EINVAL, "rows %zu..%zu+%zu lie outside the file's %zu rows", first, first, count, rows);
}

/* Rows [first, first + count) of the values that follow L's header in s, into out. A plain
 * regular file's size was checked against the header: the floats are allocated up front and
 * filled AE_CHUNK bytes at a time. Any other stream (gzip) may hold less than its header says,
 * so the range's bytes are read first, into a buffer that grows only as they arrive, and the
 * floats allocated after: a hostile header cannot trigger a big allocation. A range that
 * ends at the last row also reads on to the end of the file, which must come right there
 * (for gzip: the members' trailers and CRCs checked, as ae_data_load checks them). */
int ae_range_rows(ae_stream *s, const ae_layout *L, size_t first, size_t count, ae_data *out) {
    if (first >= L->rows || count > L->rows - first) return ae_range_error(first, count, L->rows);
    size_t row_bytes = L->cols * L->esize; /* rows * row_bytes = L->bytes: no overflow */
    size_t n = count * L->cols, need = count * row_bytes, done = 0;
    unsigned char *buf = ae_malloc(AE_CHUNK);
    if (!buf) return AE_ENOMEM;
    int rc = AE_OK;
    if (!s->gz && s->regular) {
        if (!out->x) rc = ae_data_alloc(out, count, L->cols);
        if (rc == AE_OK) rc = ae_stream_skip(s, first * row_bytes, buf);
        if (rc == AE_OK) rc = ae_range_next(s, L, count, out->x, buf);
        ae_dealloc(buf);
    } else {
        rc = ae_stream_skip(s, first * row_bytes, buf);
        ae_dealloc(buf);
        size_t cap = need < AE_CHUNK ? need : AE_CHUNK;
        unsigned char *raw = rc == AE_OK ? ae_malloc(cap) : NULL;
        if (rc == AE_OK && !raw) rc = AE_ENOMEM;
        while (rc == AE_OK && done < need) {
            size_t got;
            if (done == cap && (rc = ae_grow(&raw, &cap, need)) != AE_OK) break;
            if ((rc = ae_stream_read(s, raw + done, cap - done, &got)) == AE_OK && got < cap - done) rc = AE_EFORMAT;
            done += got;
        }
        if (rc == AE_OK && !out->x) rc = ae_data_alloc(out, count, L->cols);
        if (rc == AE_OK) ae_layout_convert(L, raw, n, out->x);
        ae_dealloc(raw);
    }
    if (rc == AE_OK && count == L->rows - first) {
        unsigned char extra;
        size_t got;
        rc = ae_stream_read(s, &extra, 1, &got);
        if (rc == AE_OK && got > 0) rc = ae_fail(AE_EFORMAT, "more bytes after the data its header declares");
    }
    return rc;
}

/* The next count rows of s into x, AE_CHUNK bytes at a time through buf (AE_CHUNK bytes):
 * nothing allocated. Data that ends first is AE_EFORMAT. */
int ae_range_next(ae_stream *s, const ae_layout *L, size_t count, float *x, unsigned char *buf) {
    const size_t n = count * L->cols, per = AE_CHUNK / L->esize;
    for (size_t done = 0; done < n;) {
        const size_t k = n - done < per ? n - done : per;
        const int rc = ae_stream_need(s, buf, k * L->esize);
        if (rc != AE_OK) return rc;
        ae_layout_convert(L, buf, k, x + done);
        done += k;
    }
    return AE_OK;
}

/* A text file: parsed whole, then cut (the whole file and its floats are held meanwhile). */
int ae_range_text(const char *path, size_t first, size_t count, ae_data *out) {
    ae_data all;
    int rc = ae_data_load(path, &all);
    if (rc != AE_OK) return rc;
    if (first >= all.rows || count > all.rows - first) {
        rc = ae_with_path(ae_range_error(first, count, all.rows), path);
    } else if (count == all.rows) {
        *out = all;
        return AE_OK;
    } else if ((rc = ae_data_alloc(out, count, all.cols)) == AE_OK) {
        memcpy(out->x, all.x + first * all.cols, count * all.cols * sizeof(float));
    }
    ae_data_free(&all);
    return rc;
}
