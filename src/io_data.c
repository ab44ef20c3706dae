/* io_data: data files into row-major floats, and an atomic .npy writer.
 *
 * Formats, found from the content (never from the file name):
 *   gzip    1f 8b: inflated first (concatenated members allowed), then one of the others;
 *   .npy    "\x93NUMPY" v1.0/2.0/3.0, descr <f4 <f8 |u1, C order only;
 *   IDX     00 00 type ndims, big-endian dims and data (MNIST / Fashion-MNIST);
 *   text    CSV or whitespace-separated numbers, one row per line, optional header line.
 * Every declared size is checked for overflow and against the bytes actually present before
 * the float buffer is allocated, so a hostile header cannot trigger a huge allocation.
 * ae_data_info and ae_data_load_range read IDX and .npy files as a stream (a gzip file
 * inflated as it is read) and keep only the header and the rows asked for; they share the
 * header parsers and the one value converter with the whole-file readers.
 * The .npy reader and writer copy little-endian floats with memcpy: little-endian hosts only. */
#define _POSIX_C_SOURCE 200809L
#define ZLIB_CONST /* const next_in */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io_file.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "io_data copies little-endian .npy floats directly; this host is big-endian"
#endif

/* No more than this many bytes are read from disk, nor inflated from a gzip stream. */
#define MAX_BYTES ((uint64_t)8 << 30)
#define MAX_NPY_HEADER ((size_t)1 << 20)
#define MAX_FIELD 255 /* longest text field taken as a number */

/* ---------------------------------------------------------------- helpers */

/* MAX_BYTES, or less where size_t is narrower; one below SIZE_MAX so limit + 1 fits. */
static size_t byte_limit(void) { return MAX_BYTES < (uint64_t)SIZE_MAX ? (size_t)MAX_BYTES : SIZE_MAX - 1; }

/* Allocate d->x for rows x cols floats (both > 0). */
static int data_alloc(ae_data *d, size_t rows, size_t cols) {
    size_t n, bytes;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, sizeof(float), &bytes)) return AE_EFORMAT;
    d->x = ae_alloc(bytes); /* 64-byte aligned, and seen by the allocation hook */
    if (!d->x) return AE_ENOMEM;
    d->rows = rows;
    d->cols = cols;
    return AE_OK;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* ---------------------------------------------------------------- gzip */

/* What an inflate() status other than Z_STREAM_END means: AE_OK to go on (Z_OK, or Z_BUF_ERROR:
 * no progress possible this call), AE_ENOMEM, or AE_EFORMAT (Z_DATA_ERROR, Z_NEED_DICT, ...). */
static int inflate_status(int z) {
    if (z == Z_OK || z == Z_BUF_ERROR) return AE_OK;
    return z == Z_MEM_ERROR ? AE_ENOMEM : AE_EFORMAT;
}

/* zlib's allocations go through the library's allocator too (and so through the test hook). */
static voidpf zalloc_hook(voidpf opaque, uInt items, uInt size) {
    (void)opaque;
    size_t bytes;
    return ae_mul_ok(items, size, &bytes) ? ae_malloc(bytes) : Z_NULL;
}

static void zfree_hook(voidpf opaque, voidpf p) {
    (void)opaque;
    ae_dealloc(p);
}

/* Doubles a byte buffer, up to max bytes: AE_EFORMAT once it holds max already (the input is
 * over the size limit), AE_ENOMEM when realloc fails (the buffer is then unchanged). */
static int grow(unsigned char **buf, size_t *cap, size_t max) {
    if (*cap >= max) return AE_EFORMAT;
    size_t ncap = *cap <= max / 2 ? *cap * 2 : max;
    unsigned char *nb = ae_realloc(*buf, ncap);
    if (!nb) return AE_ENOMEM;
    *buf = nb;
    *cap = ncap;
    return AE_OK;
}

/* Inflate a whole gzip file (one or more members) into a new buffer. Truncated streams, bad
 * data and junk after a member are AE_EFORMAT, as is output beyond MAX_BYTES. */
static int gunzip(const unsigned char *in, size_t len, unsigned char **out, size_t *out_len) {
    size_t cap_max = byte_limit();
    size_t cap = len <= cap_max / 4 ? len * 4 : cap_max;
    if (cap < 4096) cap = 4096;
    unsigned char *buf = ae_malloc(cap);
    if (!buf) return AE_ENOMEM;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = zalloc_hook;
    zs.zfree = zfree_hook;
    int z = inflateInit2(&zs, 16 + MAX_WBITS); /* 16: gzip wrapper only */
    if (z != Z_OK) {
        ae_dealloc(buf);
        return z == Z_MEM_ERROR ? AE_ENOMEM : AE_EFORMAT;
    }
    size_t in_pos = 0, used = 0;
    int rc = AE_OK;
    for (;;) {
        if (used == cap && (rc = grow(&buf, &cap, cap_max)) != AE_OK) break;
        /* avail_in and avail_out are 32-bit: feed at most UINT_MAX at a time. */
        uInt ain = (uInt)(len - in_pos < UINT_MAX ? len - in_pos : UINT_MAX);
        uInt aout = (uInt)(cap - used < UINT_MAX ? cap - used : UINT_MAX);
        zs.next_in = in + in_pos;
        zs.avail_in = ain;
        zs.next_out = buf + used;
        zs.avail_out = aout;
        z = inflate(&zs, Z_NO_FLUSH);
        int progress = zs.avail_in != ain || zs.avail_out != aout;
        in_pos += ain - zs.avail_in;
        used += aout - zs.avail_out;
        if (z == Z_STREAM_END) {
            if (in_pos == len) break;
            /* Another member follows (as `cat a.gz b.gz` makes); anything else is junk. */
            if (len - in_pos >= 2 && in[in_pos] == 0x1f && in[in_pos + 1] == 0x8b && inflateReset(&zs) == Z_OK)
                continue;
            rc = AE_EFORMAT;
            break;
        }
        if ((rc = inflate_status(z)) != AE_OK) break;
        /* Room for output but no input left (or no progress): the stream was cut short. */
        if (zs.avail_out > 0 && (in_pos == len || !progress)) {
            rc = AE_EFORMAT;
            break;
        }
    }
    inflateEnd(&zs);
    if (rc != AE_OK) {
        ae_dealloc(buf);
        return rc;
    }
    *out = buf;
    *out_len = used;
    return AE_OK;
}

/* ---------------------------------------------------------------- values */

enum { NPY_F4, NPY_F8, NPY_U1 };

/* Where the values of an IDX or .npy file lie and how they are encoded: all of it from the
 * header alone, so that ae_data_info and ae_data_load_range share it with the whole-file
 * parsers. */
typedef struct {
    int npy;           /* 1: .npy, type is an NPY_*; 0: IDX, type is IDX's type byte */
    unsigned type;
    unsigned nd;       /* IDX: number of dims (a 1-D unsigned-byte file holds labels) */
    size_t esize;      /* bytes per value */
    size_t hdr;        /* header bytes: the values start here */
    size_t rows, cols; /* first dim, product of the others */
    size_t bytes;      /* rows * cols * esize, checked for overflow */
} layout;

/* n values encoded as L says, at d, into floats at x: the one place the conversion rules
 * live. IDX unsigned bytes with two or more dims are image pixels: scaled to [0,1]. A 1-D
 * unsigned-byte IDX file is a label file (MNIST labels): it keeps the class numbers 0..255.
 * Every other type keeps its values; .npy |u1 too (0..255, not scaled: the user's values).
 * Each value is converted on its own, so a caller may convert a file's values piece by piece. */
static void convert(const layout *L, const unsigned char *d, size_t n, float *x) {
    if (L->npy) {
        if (L->type == NPY_F4) {
            memcpy(x, d, 4 * n);
        } else if (L->type == NPY_F8) {
            for (size_t i = 0; i < n; i++) {
                double v;
                memcpy(&v, d + 8 * i, 8);
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
static int parse_values(const layout *L, const unsigned char *p, size_t len, ae_data *out) {
    if (len - L->hdr != L->bytes) return AE_EFORMAT;
    int rc = data_alloc(out, L->rows, L->cols);
    if (rc != AE_OK) return rc;
    convert(L, p + L->hdr, L->rows * L->cols, out->x);
    return AE_OK;
}

/* ---------------------------------------------------------------- IDX */

/* 00 00 type ndims, ndims big-endian uint32 dims, then the big-endian data, nothing after.
 * The header, from the first len bytes (at least the whole header). */
static int idx_layout(const unsigned char *p, size_t len, layout *L) {
    if (len < 4) return AE_EFORMAT;
    unsigned type = p[2], nd = p[3];
    size_t esize;
    switch (type) {
    case 0x08: /* unsigned byte */
    case 0x09: /* signed byte */ esize = 1; break;
    case 0x0B: /* int16 */ esize = 2; break;
    case 0x0C: /* int32 */
    case 0x0D: /* float32 */ esize = 4; break;
    case 0x0E: /* float64 */ esize = 8; break;
    default: return AE_EFORMAT;
    }
    if (nd < 1 || nd > 8) return AE_EFORMAT;
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len < hdr) return AE_EFORMAT;
    size_t rows = 0, cols = 1;
    for (unsigned i = 0; i < nd; i++) {
        uint32_t dim = be32(p + 4 + 4 * i);
        if (dim == 0) return AE_EFORMAT;
        if (i == 0)
            rows = dim;
        else if (!ae_mul_ok(cols, dim, &cols))
            return AE_EFORMAT;
    }
    size_t n, bytes;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, esize, &bytes)) return AE_EFORMAT;
    *L = (layout){0, type, nd, esize, hdr, rows, cols, bytes};
    return AE_OK;
}

static int parse_idx(const unsigned char *p, size_t len, ae_data *out) {
    layout L;
    int rc = idx_layout(p, len, &L);
    return rc != AE_OK ? rc : parse_values(&L, p, len, out);
}

/* ---------------------------------------------------------------- .npy */

/* The header is a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }
 * read with a small scanner: exactly these three keys, in any order, once each. */
typedef struct {
    const unsigned char *p, *e;
} cursor;

static void cur_ws(cursor *c) {
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* Skip whitespace, then take ch if it is next. */
static int cur_char(cursor *c, char ch) {
    cur_ws(c);
    if (c->p < c->e && *c->p == (unsigned char)ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes (keys and descr never need them); points into the header. */
static int cur_string(cursor *c, const unsigned char **s, size_t *n) {
    cur_ws(c);
    if (c->p >= c->e || (*c->p != '\'' && *c->p != '"')) return 0;
    unsigned char q = *c->p++;
    const unsigned char *start = c->p;
    while (c->p < c->e && *c->p != q) {
        if (*c->p == '\\') return 0;
        c->p++;
    }
    if (c->p >= c->e) return 0;
    *s = start;
    *n = (size_t)(c->p - start);
    c->p++;
    return 1;
}

/* The identifier w (True, False), not followed by another identifier character. */
static int cur_word(cursor *c, const char *w) {
    size_t n = strlen(w);
    cur_ws(c);
    if ((size_t)(c->e - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    if ((size_t)(c->e - c->p) > n) {
        unsigned char next = c->p[n];
        if (next == '_' || (next >= '0' && next <= '9') || ((next | 0x20) >= 'a' && (next | 0x20) <= 'z')) return 0;
    }
    c->p += n;
    return 1;
}

/* A non-negative decimal integer; Python 2 numpy wrote longs as 3L. */
static int cur_uint(cursor *c, size_t *v) {
    cur_ws(c);
    if (c->p >= c->e || *c->p < '0' || *c->p > '9') return 0;
    size_t x = 0;
    while (c->p < c->e && *c->p >= '0' && *c->p <= '9') {
        size_t digit = (size_t)(*c->p - '0');
        if (x > (SIZE_MAX - digit) / 10) return 0;
        x = x * 10 + digit;
        c->p++;
    }
    if (c->p < c->e && *c->p == 'L') c->p++;
    *v = x;
    return 1;
}

static int str_is(const unsigned char *s, size_t n, const char *lit) {
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Little-endian ('<'), native ('=' or none: little-endian here) or, for one byte, any order. */
static int npy_descr(const unsigned char *s, size_t n, int *type, size_t *itemsize) {
    static const struct {
        const char *name;
        int type;
        size_t size;
    } known[] = {{"<f4", NPY_F4, 4}, {"=f4", NPY_F4, 4}, {"f4", NPY_F4, 4}, {"<f8", NPY_F8, 8},
                 {"=f8", NPY_F8, 8}, {"f8", NPY_F8, 8},  {"|u1", NPY_U1, 1}, {"<u1", NPY_U1, 1},
                 {">u1", NPY_U1, 1}, {"=u1", NPY_U1, 1}, {"u1", NPY_U1, 1}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (str_is(s, n, known[i].name)) {
            *type = known[i].type;
            *itemsize = known[i].size;
            return 1;
        }
    return 0; /* '|O' objects, big-endian, integers wider than a byte, structured dtypes */
}

/* (), (n,), (n, c), (n, a, b, ...) -> rows = n (1 for ()), cols = product of the rest. */
static int npy_shape(cursor *c, size_t *rows, size_t *cols) {
    if (!cur_char(c, '(')) return 0;
    size_t r = 1, k = 1, nd = 0;
    for (;;) {
        if (cur_char(c, ')')) break;
        size_t v;
        if (!cur_uint(c, &v) || v == 0) return 0; /* a zero dim: no data to train on */
        if (nd == 0)
            r = v;
        else if (!ae_mul_ok(k, v, &k))
            return 0;
        nd++;
        if (cur_char(c, ',')) continue;
        if (cur_char(c, ')')) break;
        return 0;
    }
    *rows = r;
    *cols = k;
    return 1;
}

static int npy_header(const unsigned char *h, size_t n, int *type, size_t *itemsize, size_t *rows, size_t *cols) {
    cursor c = {h, h + n};
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    if (!cur_char(&c, '{')) return 0;
    for (;;) {
        if (cur_char(&c, '}')) break;
        const unsigned char *k, *v;
        size_t kn, vn;
        if (!cur_string(&c, &k, &kn) || !cur_char(&c, ':')) return 0;
        if (str_is(k, kn, "descr")) {
            if (seen_descr++ || !cur_string(&c, &v, &vn) || !npy_descr(v, vn, type, itemsize)) return 0;
        } else if (str_is(k, kn, "fortran_order")) {
            /* Only C order: a Fortran-order file would need a transpose. */
            if (seen_order++ || !cur_word(&c, "False")) return 0;
        } else if (str_is(k, kn, "shape")) {
            if (seen_shape++ || !npy_shape(&c, rows, cols)) return 0;
        } else {
            return 0;
        }
        if (cur_char(&c, ',')) continue;
        if (cur_char(&c, '}')) break;
        return 0;
    }
    cur_ws(&c); /* the padding: spaces and a final newline */
    return c.p == c.e && seen_descr && seen_order && seen_shape;
}

/* Where the dict starts, from the magic and version (p[0..8)): 10 for version 1.0 (a 2-byte
 * length), 12 for 2.0 and 3.0 (4 bytes; 3.0 has a UTF-8 dict); 0 for any other version. */
static size_t npy_start(const unsigned char *p) {
    if (p[7] != 0) return 0;
    return p[6] == 1 ? 10 : p[6] == 2 || p[6] == 3 ? 12 : 0;
}

/* The dict's length: little-endian, in the bytes [8, start). */
static size_t npy_dict_len(const unsigned char *p, size_t start) {
    size_t n = 0;
    for (size_t i = start; i-- > 8;) n = n << 8 | p[i];
    return n;
}

/* The header, from the first len bytes (at least the whole header). */
static int npy_layout(const unsigned char *p, size_t len, layout *L) {
    if (len < 10) return AE_EFORMAT;
    size_t start = npy_start(p);
    if (start == 0 || len < start) return AE_EFORMAT;
    size_t hlen = npy_dict_len(p, start);
    if (hlen > MAX_NPY_HEADER || hlen > len - start) return AE_EFORMAT;
    int type = NPY_F4;
    size_t itemsize = 0, rows = 0, cols = 0, n, bytes;
    if (!npy_header(p + start, hlen, &type, &itemsize, &rows, &cols)) return AE_EFORMAT;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, itemsize, &bytes)) return AE_EFORMAT;
    *L = (layout){1, (unsigned)type, 0, itemsize, start + hlen, rows, cols, bytes};
    return AE_OK;
}

static int parse_npy(const unsigned char *p, size_t len, ae_data *out) {
    layout L;
    int rc = npy_layout(p, len, &L);
    return rc != AE_OK ? rc : parse_values(&L, p, len, out);
}

/* ---------------------------------------------------------------- text */

/* Valid UTF-8 without control characters other than tab, CR and LF. */
static int is_text(const unsigned char *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return 0;
            i++;
            continue;
        }
        /* Lead byte: number of continuation bytes and the range allowed for the first one
         * (excludes overlong forms, surrogates and code points past U+10FFFF). */
        size_t more;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more = 1;
        else if (c == 0xE0) more = 2, lo = 0xA0;
        else if (c == 0xED) more = 2, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF) more = 2;
        else if (c == 0xF0) more = 3, lo = 0x90;
        else if (c == 0xF4) more = 3, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3) more = 3;
        else return 0;
        if (len - i - 1 < more || p[i + 1] < lo || p[i + 1] > hi) return 0;
        for (size_t k = 2; k <= more; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return 0;
        i += more + 1;
    }
    return 1;
}

static int is_blank(unsigned char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }
static int is_sep(unsigned char ch) { return ch == ',' || ch == ';'; }

/* Fields of one line. Blanks (space, tab, CR) pad fields and also separate them (runs count
 * once); ',' and ';' are hard separators, so ",," or a leading or trailing one gives an
 * empty field. */
typedef struct {
    const unsigned char *p, *e;
    int pending; /* a hard separator was taken: one more field is owed */
} fields;

static void fields_init(fields *f, const unsigned char *s, const unsigned char *e) {
    while (s < e && is_blank(*s)) s++;
    f->p = s;
    f->e = e;
    f->pending = 0;
}

/* The next field in [*s, *s + *n), possibly empty; 0 at the end of the line. */
static int fields_next(fields *f, const unsigned char **s, size_t *n) {
    if (f->p == f->e && !f->pending) return 0;
    *s = f->p;
    while (f->p < f->e && !is_blank(*f->p) && !is_sep(*f->p)) f->p++;
    *n = (size_t)(f->p - *s);
    while (f->p < f->e && is_blank(*f->p)) f->p++;
    f->pending = 0;
    if (f->p < f->e && is_sep(*f->p)) {
        f->p++;
        while (f->p < f->e && is_blank(*f->p)) f->p++;
        f->pending = 1;
    }
    return 1;
}

/* strtod on a NUL-terminated copy (the buffer itself is not terminated). strtod follows the
 * C locale's decimal point, and accepts nan and inf: those pass through here. */
static int parse_number(const unsigned char *s, size_t n, float *v) {
    char buf[MAX_FIELD + 1];
    if (n == 0 || n > MAX_FIELD) return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (end != buf + n) return 0;
    *v = (float)d;
    return 1;
}

/* A header line has a non-empty field that is not a number; empty fields are allowed in it
 * (pandas writes ",a,b" over an index column). */
static int is_header(const unsigned char *s, const unsigned char *e) {
    fields f;
    fields_init(&f, s, e);
    const unsigned char *fs;
    size_t fn;
    float v;
    while (fields_next(&f, &fs, &fn))
        if (fn > 0 && !parse_number(fs, fn, &v)) return 1;
    return 0;
}

/* One pass over the lines. With x NULL it validates and counts rows and columns; with x set
 * (allocated from the first pass's counts, *cols the stride) it stores the values. */
static int text_scan(const unsigned char *p, size_t len, float *x, size_t *rows, size_t *cols) {
    size_t r = 0, c0 = x ? *cols : 0, pos = 0;
    int first = 1;
    while (pos < len) {
        const unsigned char *ls = p + pos, *nl = memchr(ls, '\n', len - pos);
        const unsigned char *le = nl ? nl : p + len;
        pos = (size_t)(le - p) + (nl ? 1 : 0);
        fields f;
        fields_init(&f, ls, le);
        if (f.p == f.e) continue; /* blank line */
        if (first) {
            first = 0;
            if (is_header(ls, le)) continue;
        }
        const unsigned char *fs;
        size_t fn, k = 0;
        float v;
        while (fields_next(&f, &fs, &fn)) {
            if (!parse_number(fs, fn, &v)) return AE_EFORMAT; /* empty or not a number */
            if (r > 0 && k >= c0) return AE_EFORMAT;         /* longer than the first row */
            if (x) x[r * c0 + k] = v;
            k++;
        }
        if (r == 0)
            c0 = k;
        else if (k != c0)
            return AE_EFORMAT;
        r++;
    }
    if (r == 0) return AE_EFORMAT;
    *rows = r;
    *cols = c0;
    return AE_OK;
}

static int parse_text(const unsigned char *p, size_t len, ae_data *out) {
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) { /* UTF-8 byte order mark */
        p += 3;
        len -= 3;
    }
    if (!is_text(p, len)) return AE_EFORMAT;
    size_t rows = 0, cols = 0;
    int rc = text_scan(p, len, NULL, &rows, &cols);
    if (rc == AE_OK) rc = data_alloc(out, rows, cols);
    if (rc == AE_OK) rc = text_scan(p, len, out->x, &rows, &cols);
    return rc;
}

/* ---------------------------------------------------------------- public */

static int parse_plain(const unsigned char *p, size_t len, ae_data *out) {
    if (len >= 6 && memcmp(p, "\x93" "NUMPY", 6) == 0) return parse_npy(p, len, out);
    if (len >= 2 && p[0] == 0 && p[1] == 0) return parse_idx(p, len, out);
    return parse_text(p, len, out);
}

/* len 0 is AE_EFORMAT, like an empty file: there is nothing to parse. A gzip buffer is
 * inflated first, as ae_data_load does for a file. */
AE_API int ae_data_parse(const void *buf, size_t len, ae_data *out) {
    if (!out) return AE_EINVAL;
    *out = (ae_data){NULL, 0, 0};
    if (!buf) return AE_EINVAL;
    if (len == 0) return AE_EFORMAT;
    const unsigned char *p = buf;
    int rc;
    if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        unsigned char *raw = NULL;
        size_t n = 0;
        rc = gunzip(p, len, &raw, &n);
        if (rc == AE_OK) {
            rc = parse_plain(raw, n, out);
            ae_dealloc(raw);
        }
    } else {
        rc = parse_plain(p, len, out);
    }
    if (rc != AE_OK) ae_data_free(out);
    return rc;
}

/* The whole file into a new buffer; over MAX_BYTES is AE_EFORMAT. */
static int read_file(const char *path, unsigned char **out, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return AE_EIO;
    size_t limit = byte_limit(), cap = 65536, len = 0;
    struct stat st;
    int rc = AE_OK;
    if (fstat(fileno(f), &st) != 0) {
        rc = AE_EIO;
    } else if (S_ISREG(st.st_mode)) {
        if (st.st_size < 0 || (uint64_t)st.st_size > limit)
            rc = AE_EFORMAT;
        else
            cap = (size_t)st.st_size + 1; /* +1: EOF shows up without growing the buffer */
    }
    unsigned char *buf = rc == AE_OK ? ae_malloc(cap) : NULL;
    if (rc == AE_OK && !buf) rc = AE_ENOMEM;
    while (rc == AE_OK) { /* grows only when the file is not regular or changed meanwhile */
        if (len == cap && (rc = grow(&buf, &cap, limit + 1)) != AE_OK) break;
        size_t want = cap - len, got = fread(buf + len, 1, want, f);
        len += got;
        if (got < want) {
            if (ferror(f)) rc = AE_EIO; /* a directory lands here too (EISDIR) */
            break;
        }
    }
    if (rc == AE_OK && len > limit) rc = AE_EFORMAT;
    if (fclose(f) != 0 && rc == AE_OK) rc = AE_EIO;
    if (rc != AE_OK) {
        ae_dealloc(buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return AE_OK;
}

AE_API int ae_data_load(const char *path, ae_data *out) {
    if (!out) return AE_EINVAL;
    *out = (ae_data){NULL, 0, 0};
    if (!path) return AE_EINVAL;
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len);
    if (rc != AE_OK) return rc;
    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        /* Inflate, then let the compressed bytes go before the floats are made: the peak is
         * inflated + floats, not compressed + inflated + floats. */
        unsigned char *raw = NULL;
        size_t n = 0;
        rc = gunzip(buf, len, &raw, &n);
        ae_dealloc(buf);
        if (rc != AE_OK) return rc;
        rc = n == 0 ? AE_EFORMAT : parse_plain(raw, n, out); /* one layer of gzip, as parse */
        ae_dealloc(raw);
        if (rc != AE_OK) ae_data_free(out);
        return rc;
    }
    rc = ae_data_parse(buf, len, out);
    ae_dealloc(buf);
    return rc;
}

/* NULL and an already freed (zeroed) struct are no-ops. */
AE_API void ae_data_free(ae_data *d) {
    if (!d) return;
    ae_dealloc(d->x);
    *d = (ae_data){NULL, 0, 0};
}

/* ---------------------------------------------------------------- rows of a file */

/* ae_data_info and ae_data_load_range read a file front to back through a source: a plain
 * file with fread (and fseeko over the rows before the range), a gzip file inflated as it is
 * read, CHUNK compressed bytes at a time, and never past the range's last row. Only the
 * header, the range's rows and CHUNK-sized buffers are ever held (read_rows). */
#define CHUNK ((size_t)1 << 16) /* a multiple of every value size */

typedef struct {
    FILE *f;
    int gz;            /* the bytes come from inflate */
    int z_ready;       /* inflateInit2 succeeded: inflateEnd is owed */
    int in_eof;        /* fread has reached the end of the file */
    int ended;         /* gzip: the last member ended at the end of the file */
    int regular;       /* a regular file: size known, fseeko works */
    uint64_t size;     /* the file's size, when regular */
    uint64_t in_total; /* compressed bytes read so far */
    unsigned char *in; /* gzip: CHUNK bytes of compressed input */
    z_stream zs;
} source;

/* Opens path. Up to two bytes are read to tell gzip from the rest; for a plain file they are
 * its first bytes (peek[0..*npeek)), for a gzip file they went to inflate (*npeek = 0).
 * src_close is owed whatever this returns. */
static int src_open(source *s, const char *path, unsigned char peek[2], size_t *npeek) {
    memset(s, 0, sizeof *s);
    *npeek = 0;
    s->f = fopen(path, "rb");
    if (!s->f) return AE_EIO;
    struct stat st;
    if (fstat(fileno(s->f), &st) != 0) return AE_EIO;
    if (S_ISREG(st.st_mode)) {
        if (st.st_size < 0 || (uint64_t)st.st_size > byte_limit()) return AE_EFORMAT; /* as read_file */
        s->regular = 1;
        s->size = (uint64_t)st.st_size;
    }
    size_t got = fread(peek, 1, 2, s->f);
    if (got < 2 && ferror(s->f)) return AE_EIO; /* a directory lands here too (EISDIR) */
    s->in_total = got;
    if (got < 2 || peek[0] != 0x1f || peek[1] != 0x8b) {
        *npeek = got;
        return AE_OK;
    }
    s->gz = 1;
    s->in = ae_malloc(CHUNK);
    if (!s->in) return AE_ENOMEM;
    s->zs.zalloc = zalloc_hook;
    s->zs.zfree = zfree_hook;
    int z = inflateInit2(&s->zs, 16 + MAX_WBITS); /* 16: gzip wrapper only */
    if (z != Z_OK) return z == Z_MEM_ERROR ? AE_ENOMEM : AE_EFORMAT;
    s->z_ready = 1;
    memcpy(s->in, peek, 2);
    s->zs.next_in = s->in;
    s->zs.avail_in = 2;
    return AE_OK;
}

static int src_close(source *s) {
    int rc = AE_OK;
    if (s->z_ready) inflateEnd(&s->zs);
    ae_dealloc(s->in);
    if (s->f && fclose(s->f) != 0) rc = AE_EIO;
    memset(s, 0, sizeof *s);
    return rc;
}

/* More compressed input behind what inflate has not taken yet (at the end of the file: none). */
static int src_fill(source *s) {
    if (s->in_eof) return AE_OK;
    size_t left = s->zs.avail_in;
    if (left > 0 && s->zs.next_in != s->in) memmove(s->in, s->zs.next_in, left);
    size_t want = CHUNK - left, got = fread(s->in + left, 1, want, s->f);
    if (got < want) {
        if (ferror(s->f)) return AE_EIO;
        s->in_eof = 1;
    }
    s->in_total += got;
    if (s->in_total > byte_limit()) return AE_EFORMAT; /* a file not regular, over the limit */
    s->zs.next_in = s->in;
    s->zs.avail_in = (uInt)(left + got);
    return AE_OK;
}

/* A gzip member ended: the file ends here, another member follows (as `cat a.gz b.gz` makes),
 * or anything else does (AE_EFORMAT), as in gunzip. */
static int gz_member_end(source *s) {
    if (s->zs.avail_in < 2) {
        int rc = src_fill(s);
        if (rc != AE_OK) return rc;
    }
    if (s->zs.avail_in == 0) {
        s->ended = 1;
        return AE_OK;
    }
    if (s->zs.avail_in >= 2 && s->zs.next_in[0] == 0x1f && s->zs.next_in[1] == 0x8b && inflateReset(&s->zs) == Z_OK)
        return AE_OK;
    return AE_EFORMAT;
}

/* Up to n of the next bytes into dst; *got < n only at the end of the data. A gzip stream
 * that is cut short or damaged is AE_EFORMAT (what inflate has checked: the members passed). */
static int src_read(source *s, unsigned char *dst, size_t n, size_t *got) {
    *got = 0;
    if (!s->gz) {
        *got = fread(dst, 1, n, s->f);
        return *got < n && ferror(s->f) ? AE_EIO : AE_OK;
    }
    size_t done = 0;
    int rc = AE_OK;
    while (done < n && !s->ended) {
        if (s->zs.avail_in == 0 && (rc = src_fill(s)) != AE_OK) break;
        /* avail_in and avail_out are 32-bit: ask for at most UINT_MAX at a time. */
        uInt ain = s->zs.avail_in, aout = (uInt)(n - done < UINT_MAX ? n - done : UINT_MAX);
        s->zs.next_out = dst + done;
        s->zs.avail_out = aout;
        int z = inflate(&s->zs, Z_NO_FLUSH);
        int progress = s->zs.avail_in != ain || s->zs.avail_out != aout;
        done += aout - s->zs.avail_out;
        if (z == Z_STREAM_END) {
            if ((rc = gz_member_end(s)) != AE_OK) break;
            continue;
        }
        if ((rc = inflate_status(z)) != AE_OK) break;
        /* No progress with input left, or none left in the file: the stream was cut short. */
        if (!progress && (s->zs.avail_in > 0 || s->in_eof)) {
            rc = AE_EFORMAT;
            break;
        }
    }
    *got = done;
    return rc;
}

/* Exactly n bytes: a file that ends first is AE_EFORMAT. */
static int src_need(source *s, unsigned char *dst, size_t n) {
    size_t got;
    int rc = src_read(s, dst, n, &got);
    return rc == AE_OK && got < n ? AE_EFORMAT : rc;
}

/* Past the next n bytes: fseeko in a plain regular file (whose size was checked), otherwise
 * inflated into buf (CHUNK bytes) and dropped. */
static int src_skip(source *s, size_t n, unsigned char *buf) {
    if (!s->gz && s->regular) {
        off_t o = (off_t)n;
        if (o >= 0 && (uint64_t)o == (uint64_t)n) return fseeko(s->f, o, SEEK_CUR) == 0 ? AE_OK : AE_EIO;
    }
    while (n > 0) {
        size_t k = n < CHUNK ? n : CHUNK;
        int rc = src_need(s, buf, k);
        if (rc != AE_OK) return rc;
        n -= k;
    }
    return AE_OK;
}

/* Reads the header of an IDX or .npy file into L; the values come next in s. *text = 1 for
 * anything else (the caller parses the whole file, which tells text from junk). The declared
 * size is held to the same limits as ae_data_load's, and a plain regular file must be exactly
 * as long as its header says (ae_data_load's rule, for the price of an fstat); a gzip stream is
 * inflated only up to the end of its header here. */
static int read_header(source *s, const char *path, layout *L, int *text) {
    unsigned char h[4 + 4 * 8]; /* an IDX header: at most 8 dims */
    size_t have, got;
    *text = 0;
    int rc = src_open(s, path, h, &have);
    if (rc == AE_OK && have < 2) {
        rc = src_read(s, h + have, 2 - have, &got);
        have += got;
    }
    if (rc != AE_OK) return rc;
    if (have == 2 && h[0] == 0 && h[1] == 0) { /* IDX */
        if ((rc = src_need(s, h + 2, 2)) != AE_OK) return rc;
        size_t hdr = h[3] >= 1 && h[3] <= 8 ? 4 + 4 * (size_t)h[3] : 4; /* idx_layout refuses others */
        if ((rc = src_need(s, h + 4, hdr - 4)) != AE_OK) return rc;
        rc = idx_layout(h, hdr, L);
    } else if (have == 2 && h[0] == 0x93) { /* .npy, or junk */
        unsigned char pre[12];
        memcpy(pre, h, 2);
        if ((rc = src_read(s, pre + 2, 8, &got)) != AE_OK) return rc;
        if (got < 4 || memcmp(pre, "\x93" "NUMPY", 6) != 0) {
            *text = 1; /* what parse_plain makes of it */
            return AE_OK;
        }
        if (got < 8) return AE_EFORMAT;
        size_t start = npy_start(pre);
        if (start == 0) return AE_EFORMAT;
        if ((rc = src_need(s, pre + 10, start - 10)) != AE_OK) return rc;
        size_t hlen = npy_dict_len(pre, start);
        if (hlen > MAX_NPY_HEADER) return AE_EFORMAT;
        unsigned char *hb = ae_malloc(start + hlen);
        if (!hb) return AE_ENOMEM;
        memcpy(hb, pre, start);
        rc = src_need(s, hb + start, hlen);
        if (rc == AE_OK) rc = npy_layout(hb, start + hlen, L);
        ae_dealloc(hb);
    } else {
        *text = 1;
        return AE_OK;
    }
    if (rc != AE_OK) return rc;
    if (L->bytes > byte_limit() - L->hdr) return AE_EFORMAT;
    if (!s->gz && s->regular && s->size != (uint64_t)L->hdr + L->bytes) return AE_EFORMAT;
    return AE_OK;
}

/* IDX and .npy: the header, and for a plain file its size; a gzip file is inflated only up to
 * the end of its header, so its data is not checked. Text: parsed whole. rows and cols are
 * zeroed on failure. */
AE_API int ae_data_info(const char *path, size_t *rows, size_t *cols) {
    if (rows) *rows = 0;
    if (cols) *cols = 0;
    if (!path || !rows || !cols) return AE_EINVAL;
    source s;
    layout L;
    int text = 0, rc = read_header(&s, path, &L, &text), rc_close = src_close(&s);
    if (rc == AE_OK) rc = rc_close;
    if (rc != AE_OK) return rc;
    if (text) {
        ae_data d;
        if ((rc = ae_data_load(path, &d)) != AE_OK) return rc;
        L.rows = d.rows;
        L.cols = d.cols;
        ae_data_free(&d);
    }
    *rows = L.rows;
    *cols = L.cols;
    return AE_OK;
}

/* Rows [first, first + count) of the values that follow L's header in s, into out. A plain
 * regular file's size was checked against the header: the floats are allocated up front and
 * filled CHUNK bytes at a time. Any other stream (gzip) may hold less than its header says,
 * so the range's bytes are read first, into a buffer that grows only as they arrive, and the
 * floats allocated after: a hostile header cannot trigger a big allocation. A range that
 * ends at the last row also reads on to the end of the file, which must come right there
 * (for gzip: the members' trailers and CRCs checked, as ae_data_load checks them). */
static int read_rows(source *s, const layout *L, size_t first, size_t count, ae_data *out) {
    if (first >= L->rows || count > L->rows - first) return AE_EINVAL;
    size_t row_bytes = L->cols * L->esize; /* rows * row_bytes = L->bytes: no overflow */
    size_t n = count * L->cols, need = count * row_bytes, done = 0;
    unsigned char *buf = ae_malloc(CHUNK);
    if (!buf) return AE_ENOMEM;
    int rc = AE_OK;
    if (!s->gz && s->regular) {
        rc = data_alloc(out, count, L->cols);
        if (rc == AE_OK) rc = src_skip(s, first * row_bytes, buf);
        size_t per = CHUNK / L->esize;
        while (rc == AE_OK && done < n) {
            size_t k = n - done < per ? n - done : per;
            if ((rc = src_need(s, buf, k * L->esize)) == AE_OK) convert(L, buf, k, out->x + done);
            done += k;
        }
        ae_dealloc(buf);
    } else {
        rc = src_skip(s, first * row_bytes, buf);
        ae_dealloc(buf);
        size_t cap = need < CHUNK ? need : CHUNK;
        unsigned char *raw = rc == AE_OK ? ae_malloc(cap) : NULL;
        if (rc == AE_OK && !raw) rc = AE_ENOMEM;
        while (rc == AE_OK && done < need) {
            size_t got;
            if (done == cap && (rc = grow(&raw, &cap, need)) != AE_OK) break;
            if ((rc = src_read(s, raw + done, cap - done, &got)) == AE_OK && got < cap - done) rc = AE_EFORMAT;
            done += got;
        }
        if (rc == AE_OK) rc = data_alloc(out, count, L->cols);
        if (rc == AE_OK) convert(L, raw, n, out->x);
        ae_dealloc(raw);
    }
    if (rc == AE_OK && count == L->rows - first) {
        unsigned char extra;
        size_t got;
        rc = src_read(s, &extra, 1, &got);
        if (rc == AE_OK && got > 0) rc = AE_EFORMAT;
    }
    return rc;
}

/* A text file: parsed whole, then cut (the whole file and its floats are held meanwhile). */
static int text_rows(const char *path, size_t first, size_t count, ae_data *out) {
    ae_data all;
    int rc = ae_data_load(path, &all);
    if (rc != AE_OK) return rc;
    if (first >= all.rows || count > all.rows - first) {
        rc = AE_EINVAL;
    } else if (count == all.rows) {
        *out = all;
        return AE_OK;
    } else if ((rc = data_alloc(out, count, all.cols)) == AE_OK) {
        memcpy(out->x, all.x + first * all.cols, count * all.cols * sizeof(float));
    }
    ae_data_free(&all);
    return rc;
}

/* IDX and .npy: only the range's rows are read and converted. A plain file seeks to them and
 * holds only their floats (and 64 KiB); a gzip file is inflated up to the range's last row and
 * no further, the bytes before the range dropped as they come, and holds the range's bytes
 * and then its floats. Text: parsed whole, then cut.
 * What is checked: the header, as ae_data_load checks it (limits included); for a plain
 * regular file, that its size is exactly the declared one (an fstat: free). A gzip stream is
 * required to hold the declared data only up to the range's last row: a stream that is cut,
 * damaged or followed by junk after that row is not seen (nor a member's CRC that is not
 * reached), except by a range that ends at the last row, which reads the stream to its end
 * and so refuses what ae_data_load refuses. A range outside [0, rows) is AE_EINVAL, found
 * from the header before any data is read. *out is zeroed on failure. */
AE_API int ae_data_load_range(const char *path, size_t first, size_t count, ae_data *out) {
    if (!out) return AE_EINVAL;
    *out = (ae_data){NULL, 0, 0};
    if (!path || count == 0) return AE_EINVAL;
    source s;
    layout L;
    int text = 0, rc = read_header(&s, path, &L, &text);
    if (rc == AE_OK && !text) rc = read_rows(&s, &L, first, count, out);
    int rc_close = src_close(&s);
    if (rc == AE_OK) rc = rc_close;
    if (rc == AE_OK && text) rc = text_rows(path, first, count, out);
    if (rc != AE_OK) ae_data_free(out);
    return rc;
}

/* .npy 1.0: magic, version, 2-byte little-endian header length, the dict padded with spaces
 * and ended by '\n' so that the data starts at a multiple of 64 bytes, then the floats.
 * Written atomically (io_file): any previous file at path survives a failed save. */
AE_API int ae_npy_save(const char *path, const float *x, size_t rows, size_t cols) {
    if (!path || !x || rows == 0 || cols == 0) return AE_EINVAL;
    size_t n, bytes;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, sizeof(float), &bytes)) return AE_EINVAL;

    char hdr[192]; /* the dict is at most ~100 characters, so the header is 128 bytes */
    int dl = snprintf(hdr + 10, sizeof hdr - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                      rows, cols);
    if (dl < 0 || (size_t)dl + 11 > sizeof hdr) return AE_EINVAL;
    size_t used = 10 + (size_t)dl + 1, total = (used + 63) / 64 * 64;
    if (total > sizeof hdr) return AE_EINVAL;
    memcpy(hdr, "\x93" "NUMPY", 6);
    hdr[6] = 1;
    hdr[7] = 0;
    hdr[8] = (char)((total - 10) & 0xFF);
    hdr[9] = (char)((total - 10) >> 8);
    memset(hdr + 10 + dl, ' ', total - used);
    hdr[total - 1] = '\n';

    ae_atomic_file f;
    int rc = ae_atomic_open(&f, path);
    if (rc != AE_OK) return rc;
    ae_atomic_write(&f, hdr, total);
    ae_atomic_write(&f, x, bytes);
    return ae_atomic_close(&f);
}
