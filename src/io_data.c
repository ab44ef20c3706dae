/* io_data: data files into row-major floats, and an atomic .npy writer.
 *
 * Formats, found from the content (never from the file name):
 *   gzip    1f 8b: inflated first (concatenated members allowed), then one of the others;
 *   .npy    "\x93NUMPY" v1.0/2.0/3.0, descr <f4 <f8 |u1, C order only;
 *   IDX     00 00 type ndims, big-endian dims and data (MNIST / Fashion-MNIST);
 *   text    delimited numbers, read by io_csv.c.
 * Every declared size is checked for overflow and against the bytes actually present before
 * the float buffer is allocated, so a hostile header cannot trigger a huge allocation.
 * ae_data_info and ae_data_load_range read IDX and .npy files as a stream (a gzip file
 * inflated as it is read) and keep only the header and the rows asked for; they share the
 * header parsers and the one value converter with the whole-file readers.
 * A gzip stream is inflated no further than an IDX or .npy header declares, and a text one no
 * further than ae_data_max_inflate(). Every refusal records what it found (ae_fail); the public
 * functions put the file's name in front.
 * The .npy reader and writer copy little-endian floats with memcpy: little-endian hosts only. */
#define _POSIX_C_SOURCE 200809L
#define ZLIB_CONST /* const next_in */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "error.h"
#include "io_data.h"
#include "io_file.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "io_data copies little-endian .npy floats directly; this host is big-endian"
#endif

/* No more than this many bytes are read from disk, nor inflated from a gzip stream. */
#define MAX_BYTES ((uint64_t)8 << 30)
#define MAX_NPY_HEADER ((size_t)1 << 20)

/* ---------------------------------------------------------------- helpers */

/* MAX_BYTES, or less where size_t is narrower; one below SIZE_MAX so limit + 1 fits. */
static size_t byte_limit(void) { return MAX_BYTES < (uint64_t)SIZE_MAX ? (size_t)MAX_BYTES : SIZE_MAX - 1; }

static _Atomic size_t max_inflate = AE_DATA_MAX_INFLATE;

AE_API int ae_data_set_max_inflate(size_t bytes) {
    ae_error_clear();
    atomic_store(&max_inflate, bytes ? bytes : AE_DATA_MAX_INFLATE);
    return AE_OK;
}

AE_API size_t ae_data_max_inflate(void) { return atomic_load(&max_inflate); }

int ae_data_alloc(ae_data *d, size_t rows, size_t cols) {
    size_t n, bytes;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, sizeof(float), &bytes))
        return ae_fail(AE_EFORMAT, "%zu rows of %zu values overflow the address space", rows, cols);
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
static int inflate_status(int z, const z_stream *zs) {
    if (z == Z_OK || z == Z_BUF_ERROR) return AE_OK;
    if (z == Z_MEM_ERROR) return AE_ENOMEM;
    return ae_fail(AE_EFORMAT, "gzip data damaged (zlib: %s)", zs->msg ? zs->msg : "error");
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

/* How far the inflated bytes p[0..n) may go: *allow is an IDX or .npy file's declared size
 * plus one byte (*by_header = 1: more is the parser's to refuse), else text_limit. 0 while
 * n bytes are too few to tell. Defined with the headers below. */
static int inflate_cap(const unsigned char *p, size_t n, size_t text_limit, size_t *allow, int *by_header);

/* Inflate a whole gzip file (one or more members) into a new buffer. Truncated streams, bad
 * data and junk after a member are AE_EFORMAT, as is text beyond text_limit bytes. An IDX or
 * .npy stream stops one byte past what its header declares (the parser then refuses it). */
static int gunzip(const unsigned char *in, size_t len, size_t text_limit, unsigned char **out, size_t *out_len) {
    size_t cap_max = byte_limit(), allow = cap_max;
    int decided = 0, by_header = 0;
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
        return z == Z_MEM_ERROR ? AE_ENOMEM : ae_fail(AE_EFORMAT, "zlib cannot start inflating");
    }
    size_t in_pos = 0, used = 0;
    int rc = AE_OK;
    for (;;) {
        if (!decided) decided = inflate_cap(buf, used, text_limit, &allow, &by_header);
        if (used >= allow) {
            if (!by_header)
                rc = ae_fail(AE_EFORMAT, "inflates past %zu bytes, the limit for gzip'd text (raise it with ae_data_set_max_inflate or ae's --max-inflate)",
                             allow);
            break;
        }
        if (used == cap && (rc = grow(&buf, &cap, allow)) != AE_OK) break;
        /* avail_in and avail_out are 32-bit: feed at most UINT_MAX at a time. */
        size_t room = (cap < allow ? cap : allow) - used;
        uInt ain = (uInt)(len - in_pos < UINT_MAX ? len - in_pos : UINT_MAX);
        uInt aout = (uInt)(room < UINT_MAX ? room : UINT_MAX);
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
            rc = ae_fail(AE_EFORMAT, "%zu bytes of junk after the gzip stream", len - in_pos);
            break;
        }
        if ((rc = inflate_status(z, &zs)) != AE_OK) break;
        /* Room for output but no input left (or no progress): the stream was cut short. */
        if (zs.avail_out > 0 && (in_pos == len || !progress)) {
            rc = ae_fail(AE_EFORMAT, "gzip stream cut short after %zu inflated bytes", used);
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
    if (len - L->hdr != L->bytes)
        return ae_fail(AE_EFORMAT, "%s: %s bytes of data after the header, which declares %zu x %zu values of %zu bytes (%zu)",
                       L->npy ? ".npy" : "IDX", len - L->hdr > L->bytes ? "more" : "fewer", L->rows, L->cols, L->esize,
                       L->bytes);
    int rc = ae_data_alloc(out, L->rows, L->cols);
    if (rc != AE_OK) return rc;
    convert(L, p + L->hdr, L->rows * L->cols, out->x);
    return AE_OK;
}

/* ---------------------------------------------------------------- IDX */

/* 00 00 type ndims, ndims big-endian uint32 dims, then the big-endian data, nothing after.
 * The header, from the first len bytes (at least the whole header). */
static int idx_layout(const unsigned char *p, size_t len, layout *L) {
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
        return ae_fail(AE_EFORMAT, "IDX: type code 0x%02X unknown (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, "
                       "0x0C int32, 0x0D float32, 0x0E float64)", type);
    }
    if (nd < 1 || nd > 8) return ae_fail(AE_EFORMAT, "IDX: %u dimensions (1 to 8 are read)", nd);
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len < hdr) return ae_fail(AE_EFORMAT, "IDX: the header of %u dimensions is cut short", nd);
    size_t rows = 0, cols = 1;
    for (unsigned i = 0; i < nd; i++) {
        uint32_t dim = be32(p + 4 + 4 * i);
        if (dim == 0) return ae_fail(AE_EFORMAT, "IDX: dimension %u is 0: %s", i + 1, i == 0 ? "zero rows" : "empty rows");
        if (i == 0)
            rows = dim;
        else if (!ae_mul_ok(cols, dim, &cols))
            return ae_fail(AE_EFORMAT, "IDX: the dimensions' product overflows");
    }
    size_t n, bytes;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, esize, &bytes))
        return ae_fail(AE_EFORMAT, "IDX: the dimensions' product overflows");
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

/* (), (n,), (n, c), (n, a, b, ...) -> rows = n (1 for ()), cols = product of the rest.
 * 1: read; 0: not a shape; -1: a zero size (no data to train on); -2: the product overflows. */
static int npy_shape(cursor *c, size_t *rows, size_t *cols) {
    if (!cur_char(c, '(')) return 0;
    size_t r = 1, k = 1, nd = 0;
    for (;;) {
        if (cur_char(c, ')')) break;
        size_t v;
        if (!cur_uint(c, &v)) return 0;
        if (v == 0) return -1;
        if (nd == 0)
            r = v;
        else if (!ae_mul_ok(k, v, &k))
            return -2;
        nd++;
        if (cur_char(c, ',')) continue;
        if (cur_char(c, ')')) break;
        return 0;
    }
    *rows = r;
    *cols = k;
    return 1;
}

/* What a descr libae does not read is, for the message: "float16", "big-endian float32",
 * "int64", "bool", "Python objects", ... */
static void describe_descr(const unsigned char *s, size_t n, char *buf, size_t cap) {
    static const char *const kinds[][2] = {{"f", "float"}, {"i", "int"},   {"u", "uint"},        {"b", "bool"},
                                           {"c", "complex"}, {"O", "Python objects"}, {"U", "unicode strings"},
                                           {"S", "byte strings"}, {"M", "datetime64"}, {"m", "timedelta64"},
                                           {"V", "raw bytes"}};
    size_t i = 0;
    const char *order = "";
    if (n > 0 && (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '=')) {
        order = s[0] == '>' ? "big-endian " : "";
        i = 1;
    }
    if (i < n) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            if (s[i] != (unsigned char)kinds[k][0][0]) continue;
            size_t bytes = 0;
            for (size_t j = i + 1; j < n && s[j] >= '0' && s[j] <= '9' && bytes < 1000; j++) bytes = bytes * 10 + (size_t)(s[j] - '0');
            const int sized = s[i] == 'f' || s[i] == 'i' || s[i] == 'u' || s[i] == 'c';
            if (sized && bytes > 0)
                snprintf(buf, cap, "%s%s%zu", order, kinds[k][1], bytes * 8);
            else
                snprintf(buf, cap, "%s%s", order, kinds[k][1]);
            return;
        }
    }
    snprintf(buf, cap, "%s", "a structured or unknown type");
}

/* The dict: AE_OK, or AE_EFORMAT with what was wrong. */
static int npy_header(const unsigned char *h, size_t n, int *type, size_t *itemsize, size_t *rows, size_t *cols) {
    cursor c = {h, h + n};
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    if (!cur_char(&c, '{')) return ae_fail(AE_EFORMAT, ".npy: the header is not a dict");
    for (;;) {
        if (cur_char(&c, '}')) break;
        const unsigned char *k, *v;
        size_t kn, vn;
        if (!cur_string(&c, &k, &kn) || !cur_char(&c, ':'))
            return ae_fail(AE_EFORMAT, ".npy: the header dict is malformed at byte %zu", (size_t)(c.p - h));
        if (str_is(k, kn, "descr")) {
            if (seen_descr++) return ae_fail(AE_EFORMAT, ".npy: 'descr' given twice");
            if (!cur_string(&c, &v, &vn)) return ae_fail(AE_EFORMAT, ".npy: descr is not a string (a structured dtype?)");
            if (!npy_descr(v, vn, type, itemsize)) {
                char what[64];
                describe_descr(v, vn, what, sizeof what);
                return ae_fail(AE_EFORMAT, ".npy: dtype '%.*s' (%s) is not read: libae reads <f4, <f8 and |u1 (convert with astype)",
                               vn > 16 ? 16 : (int)vn, (const char *)v, what);
            }
        } else if (str_is(k, kn, "fortran_order")) {
            /* Only C order: a Fortran-order file would need a transpose. */
            if (seen_order++) return ae_fail(AE_EFORMAT, ".npy: 'fortran_order' given twice");
            if (cur_word(&c, "True"))
                return ae_fail(AE_EFORMAT, ".npy: Fortran order is not read: save np.ascontiguousarray(x)");
            if (!cur_word(&c, "False")) return ae_fail(AE_EFORMAT, ".npy: fortran_order is neither True nor False");
        } else if (str_is(k, kn, "shape")) {
            if (seen_shape++) return ae_fail(AE_EFORMAT, ".npy: 'shape' given twice");
            int got = npy_shape(&c, rows, cols);
            if (got == -1) return ae_fail(AE_EFORMAT, ".npy: the shape has a size 0: no values to read");
            if (got == -2) return ae_fail(AE_EFORMAT, ".npy: the shape's product overflows");
            if (got != 1) return ae_fail(AE_EFORMAT, ".npy: the shape is not a tuple of sizes");
        } else {
            return ae_fail(AE_EFORMAT, ".npy: unknown key '%.*s' in the header", kn > 32 ? 32 : (int)kn, (const char *)k);
        }
        if (cur_char(&c, ',')) continue;
        if (cur_char(&c, '}')) break;
        return ae_fail(AE_EFORMAT, ".npy: the header dict is malformed at byte %zu", (size_t)(c.p - h));
    }
    cur_ws(&c); /* the padding: spaces and a final newline */
    if (c.p != c.e) return ae_fail(AE_EFORMAT, ".npy: text after the header dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return ae_fail(AE_EFORMAT, ".npy: the header lacks '%s'", !seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape");
    return AE_OK;
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
static int npy_version_error(const unsigned char *p) {
    return ae_fail(AE_EFORMAT, ".npy: format version %u.%u unknown (1.0, 2.0 and 3.0 are read)", p[6], p[7]);
}

static int npy_layout(const unsigned char *p, size_t len, layout *L) {
    if (len < 10) return ae_fail(AE_EFORMAT, ".npy: the header is cut short (%zu bytes)", len);
    size_t start = npy_start(p);
    if (start == 0) return npy_version_error(p);
    if (len < start) return ae_fail(AE_EFORMAT, ".npy: the header is cut short (%zu bytes)", len);
    size_t hlen = npy_dict_len(p, start);
    if (hlen > MAX_NPY_HEADER) return ae_fail(AE_EFORMAT, ".npy: a header of %zu bytes (at most 1 MiB is read)", hlen);
    if (hlen > len - start) return ae_fail(AE_EFORMAT, ".npy: the header of %zu bytes is cut short", hlen);
    int type = NPY_F4;
    size_t itemsize = 0, rows = 0, cols = 0, n, bytes;
    int rc = npy_header(p + start, hlen, &type, &itemsize, &rows, &cols);
    if (rc != AE_OK) return rc;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, itemsize, &bytes))
        return ae_fail(AE_EFORMAT, ".npy: the shape's product overflows");
    *L = (layout){1, (unsigned)type, 0, itemsize, start + hlen, rows, cols, bytes};
    return AE_OK;
}

static int parse_npy(const unsigned char *p, size_t len, ae_data *out) {
    layout L;
    int rc = npy_layout(p, len, &L);
    return rc != AE_OK ? rc : parse_values(&L, p, len, out);
}

static int inflate_cap(const unsigned char *p, size_t n, size_t text_limit, size_t *allow, int *by_header) {
    layout L;
    int known = 0, rc = AE_OK;
    *by_header = 0;
    if (n >= 2 && p[0] == 0 && p[1] == 0) { /* IDX: 4 bytes, then 4 per dimension */
        if (n < 4 || (p[3] >= 1 && p[3] <= 8 && n < 4 + 4 * (size_t)p[3])) return 0;
        known = 1;
        rc = idx_layout(p, n, &L);
    } else if (n >= 1 && p[0] == 0x93) { /* .npy: magic, version, length, dict */
        if (n < 12) return 0;
        if (memcmp(p, "\x93" "NUMPY", 6) == 0) {
            size_t start = npy_start(p), hlen = start ? npy_dict_len(p, start) : 0;
            if (start && hlen <= MAX_NPY_HEADER && n < start + hlen) return 0;
            known = 1;
            rc = npy_layout(p, n, &L);
        }
    } else if (n < 2) {
        return 0;
    }
    ae_error_clear(); /* a header refused here is refused again, and said, by the parser */
    if (known && rc == AE_OK && L.bytes <= byte_limit() - L.hdr - 1) {
        *allow = L.hdr + L.bytes + 1;
        *by_header = 1;
    } else {
        *allow = text_limit;
    }
    return 1;
}

/* ---------------------------------------------------------------- public */

/* The bytes of a plain (not gzip) file or buffer, by content. */
static int parse_plain(const unsigned char *p, size_t len, const ae_csv_opts *o, ae_data *out, ae_data *labels) {
    int binary = (len >= 6 && memcmp(p, "\x93" "NUMPY", 6) == 0) || (len >= 2 && p[0] == 0 && p[1] == 0);
    if (binary && (o->columns || o->drop || o->label))
        return ae_fail(AE_EINVAL, "columns, drop and label apply to text files; this is %s",
                       p[0] == 0 ? "an IDX file" : "a .npy file");
    if (labels) *labels = (ae_data){NULL, 0, 0};
    if (len >= 6 && memcmp(p, "\x93" "NUMPY", 6) == 0) return parse_npy(p, len, out);
    if (len >= 2 && p[0] == 0 && p[1] == 0) return parse_idx(p, len, out);
    return ae_csv_parse(p, len, o, out, labels);
}

/* A buffer as it comes, gzip or not: inflated first (one layer), then parsed. */
static int parse_any(const unsigned char *p, size_t len, const ae_csv_opts *o, ae_data *out, ae_data *labels) {
    if (len == 0) return ae_fail(AE_EFORMAT, "empty: no bytes at all");
    if (len < 2 || p[0] != 0x1f || p[1] != 0x8b) return parse_plain(p, len, o, out, labels);
    unsigned char *raw = NULL;
    size_t n = 0;
    int rc = gunzip(p, len, o->max_inflate ? o->max_inflate : ae_data_max_inflate(), &raw, &n);
    if (rc != AE_OK) return rc;
    rc = n == 0 ? ae_fail(AE_EFORMAT, "the gzip stream inflates to nothing") : parse_plain(raw, n, o, out, labels);
    ae_dealloc(raw);
    return rc;
}

/* Puts "path: " in front of the detail a failure recorded (when it recorded one). */
static int with_path(int rc, const char *path) {
    if (rc == AE_OK || ae_last_error()[0] == '\0') return rc;
    char detail[512];
    snprintf(detail, sizeof detail, "%s", ae_last_error());
    return ae_fail(rc, "%s: %s", path, detail);
}

AE_API ae_csv_opts ae_csv_opts_default(void) {
    ae_csv_opts o;
    memset(&o, 0, sizeof o);
    o.header = -1;
    o.index_column = -1;
    return o;
}

AE_API int ae_data_parse_csv(const void *buf, size_t len, const ae_csv_opts *opts, ae_data *out, ae_data *labels) {
    ae_error_clear();
    if (labels) *labels = (ae_data){NULL, 0, 0};
    if (!out) return ae_fail(AE_EINVAL, "out is NULL");
    *out = (ae_data){NULL, 0, 0};
    if (!buf) return ae_fail(AE_EINVAL, "buf is NULL");
    const ae_csv_opts def = ae_csv_opts_default(), *o = opts ? opts : &def;
    int rc = parse_any(buf, len, o, out, labels);
    if (rc != AE_OK) {
        ae_data_free(out);
        ae_data_free(labels);
    }
    return rc;
}

/* len 0 is AE_EFORMAT, like an empty file: there is nothing to parse. A gzip buffer is
 * inflated first, as ae_data_load does for a file. */
AE_API int ae_data_parse(const void *buf, size_t len, ae_data *out) {
    return ae_data_parse_csv(buf, len, NULL, out, NULL);
}

/* fopen/fread/fstat failed: AE_EIO with the system's reason. */
static int io_error(void) { return ae_fail(AE_EIO, "%s", strerror(errno)); }

/* The whole file into a new buffer; over MAX_BYTES is AE_EFORMAT. */
static int read_file(const char *path, unsigned char **out, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return io_error();
    size_t limit = byte_limit(), cap = 65536, len = 0;
    struct stat st;
    int rc = AE_OK;
    if (fstat(fileno(f), &st) != 0) {
        rc = io_error();
    } else if (S_ISDIR(st.st_mode)) {
        rc = ae_fail(AE_EIO, "%s", strerror(EISDIR));
    } else if (S_ISREG(st.st_mode)) {
        if (st.st_size < 0 || (uint64_t)st.st_size > limit)
            rc = ae_fail(AE_EFORMAT, "larger than %zu bytes, the most a data file may be", limit);
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
            if (ferror(f)) rc = io_error(); /* a directory lands here too (EISDIR) */
            break;
        }
    }
    if (rc == AE_EFORMAT && ae_last_error()[0] == '\0') rc = ae_fail(AE_EFORMAT, "larger than %zu bytes, the most a data file may be", limit);
    if (rc == AE_OK && len > limit) rc = ae_fail(AE_EFORMAT, "larger than %zu bytes, the most a data file may be", limit);
    if (fclose(f) != 0 && rc == AE_OK) rc = io_error();
    if (rc != AE_OK) {
        ae_dealloc(buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return AE_OK;
}

AE_API int ae_data_load_csv(const char *path, const ae_csv_opts *opts, ae_data *out, ae_data *labels) {
    ae_error_clear();
    if (labels) *labels = (ae_data){NULL, 0, 0};
    if (!out) return ae_fail(AE_EINVAL, "out is NULL");
    *out = (ae_data){NULL, 0, 0};
    if (!path) return ae_fail(AE_EINVAL, "path is NULL");
    const ae_csv_opts def = ae_csv_opts_default(), *o = opts ? opts : &def;
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len);
    if (rc != AE_OK) return with_path(rc, path);
    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        /* Inflate, then let the compressed bytes go before the floats are made: the peak is
         * inflated + floats, not compressed + inflated + floats. */
        unsigned char *raw = NULL;
        size_t n = 0;
        rc = gunzip(buf, len, o->max_inflate ? o->max_inflate : ae_data_max_inflate(), &raw, &n);
        ae_dealloc(buf);
        if (rc == AE_OK) {
            rc = n == 0 ? ae_fail(AE_EFORMAT, "the gzip stream inflates to nothing") : parse_plain(raw, n, o, out, labels);
            ae_dealloc(raw);
        }
    } else {
        rc = parse_any(buf, len, o, out, labels);
        ae_dealloc(buf);
    }
    if (rc != AE_OK) {
        ae_data_free(out);
        ae_data_free(labels);
    }
    return with_path(rc, path);
}

AE_API int ae_data_load(const char *path, ae_data *out) { return ae_data_load_csv(path, NULL, out, NULL); }

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
    if (!s->f) return io_error();
    struct stat st;
    if (fstat(fileno(s->f), &st) != 0) return io_error();
    if (S_ISDIR(st.st_mode)) return ae_fail(AE_EIO, "%s", strerror(EISDIR));
    if (S_ISREG(st.st_mode)) {
        if (st.st_size < 0 || (uint64_t)st.st_size > byte_limit()) /* as read_file */
            return ae_fail(AE_EFORMAT, "larger than %zu bytes, the most a data file may be", byte_limit());
        s->regular = 1;
        s->size = (uint64_t)st.st_size;
    }
    size_t got = fread(peek, 1, 2, s->f);
    if (got < 2 && ferror(s->f)) return io_error(); /* a directory lands here too (EISDIR) */
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
    if (z != Z_OK) return z == Z_MEM_ERROR ? AE_ENOMEM : ae_fail(AE_EFORMAT, "zlib cannot start inflating");
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
    if (s->f && fclose(s->f) != 0) rc = io_error();
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
        if (ferror(s->f)) return io_error();
        s->in_eof = 1;
    }
    s->in_total += got;
    if (s->in_total > byte_limit()) /* a file not regular, over the limit */
        return ae_fail(AE_EFORMAT, "larger than %zu bytes, the most a data file may be", byte_limit());
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
    return ae_fail(AE_EFORMAT, "junk after the gzip stream");
}

/* Up to n of the next bytes into dst; *got < n only at the end of the data. A gzip stream
 * that is cut short or damaged is AE_EFORMAT (what inflate has checked: the members passed). */
static int src_read(source *s, unsigned char *dst, size_t n, size_t *got) {
    *got = 0;
    if (!s->gz) {
        *got = fread(dst, 1, n, s->f);
        return *got < n && ferror(s->f) ? io_error() : AE_OK;
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
        if ((rc = inflate_status(z, &s->zs)) != AE_OK) break;
        /* No progress with input left, or none left in the file: the stream was cut short. */
        if (!progress && (s->zs.avail_in > 0 || s->in_eof)) {
            rc = ae_fail(AE_EFORMAT, "gzip stream cut short");
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
    return rc == AE_OK && got < n ? ae_fail(AE_EFORMAT, "the file ends before the data its header declares") : rc;
}

/* Past the next n bytes: fseeko in a plain regular file (whose size was checked), otherwise
 * inflated into buf (CHUNK bytes) and dropped. */
static int src_skip(source *s, size_t n, unsigned char *buf) {
    if (!s->gz && s->regular) {
        off_t o = (off_t)n;
        if (o >= 0 && (uint64_t)o == (uint64_t)n) return fseeko(s->f, o, SEEK_CUR) == 0 ? AE_OK : io_error();
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
        if (got < 8) return ae_fail(AE_EFORMAT, ".npy: the header is cut short (%zu bytes)", got + 2);
        size_t start = npy_start(pre);
        if (start == 0) return npy_version_error(pre);
        if ((rc = src_need(s, pre + 10, start - 10)) != AE_OK) return rc;
        size_t hlen = npy_dict_len(pre, start);
        if (hlen > MAX_NPY_HEADER) return ae_fail(AE_EFORMAT, ".npy: a header of %zu bytes (at most 1 MiB is read)", hlen);
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
    if (L->bytes > byte_limit() - L->hdr)
        return ae_fail(AE_EFORMAT, "its header declares %zu bytes, more than a data file may be", L->bytes);
    if (!s->gz && s->regular && s->size != (uint64_t)L->hdr + L->bytes)
        return ae_fail(AE_EFORMAT, "%s: %s bytes of data after the header, which declares %zu x %zu values of %zu bytes (%zu)",
                       L->npy ? ".npy" : "IDX", s->size > (uint64_t)L->hdr + L->bytes ? "more" : "fewer", L->rows,
                       L->cols, L->esize, L->bytes);
    return AE_OK;
}

/* IDX and .npy: the header, and for a plain file its size; a gzip file is inflated only up to
 * the end of its header, so its data is not checked. Text: parsed whole. rows and cols are
 * zeroed on failure. */
AE_API int ae_data_info(const char *path, size_t *rows, size_t *cols) {
    ae_error_clear();
    if (rows) *rows = 0;
    if (cols) *cols = 0;
    if (!path || !rows || !cols) return ae_fail(AE_EINVAL, "path, rows or cols is NULL");
    source s;
    layout L;
    int text = 0, rc = read_header(&s, path, &L, &text), rc_close = src_close(&s);
    if (rc == AE_OK) rc = rc_close;
    if (rc != AE_OK) return with_path(rc, path);
    if (text) {
        ae_data d;
        if ((rc = ae_data_load(path, &d)) != AE_OK) return rc; /* its detail names the file */
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
static int range_error(size_t first, size_t count, size_t rows) {
    return ae_fail(AE_EINVAL, "rows %zu..%zu+%zu lie outside the file's %zu rows", first, first, count, rows);
}

static int read_rows(source *s, const layout *L, size_t first, size_t count, ae_data *out) {
    if (first >= L->rows || count > L->rows - first) return range_error(first, count, L->rows);
    size_t row_bytes = L->cols * L->esize; /* rows * row_bytes = L->bytes: no overflow */
    size_t n = count * L->cols, need = count * row_bytes, done = 0;
    unsigned char *buf = ae_malloc(CHUNK);
    if (!buf) return AE_ENOMEM;
    int rc = AE_OK;
    if (!s->gz && s->regular) {
        rc = ae_data_alloc(out, count, L->cols);
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
        if (rc == AE_OK) rc = ae_data_alloc(out, count, L->cols);
        if (rc == AE_OK) convert(L, raw, n, out->x);
        ae_dealloc(raw);
    }
    if (rc == AE_OK && count == L->rows - first) {
        unsigned char extra;
        size_t got;
        rc = src_read(s, &extra, 1, &got);
        if (rc == AE_OK && got > 0) rc = ae_fail(AE_EFORMAT, "more bytes after the data its header declares");
    }
    return rc;
}

/* A text file: parsed whole, then cut (the whole file and its floats are held meanwhile). */
static int text_rows(const char *path, size_t first, size_t count, ae_data *out) {
    ae_data all;
    int rc = ae_data_load(path, &all);
    if (rc != AE_OK) return rc;
    if (first >= all.rows || count > all.rows - first) {
        rc = with_path(range_error(first, count, all.rows), path);
    } else if (count == all.rows) {
        *out = all;
        return AE_OK;
    } else if ((rc = ae_data_alloc(out, count, all.cols)) == AE_OK) {
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
    ae_error_clear();
    if (!out) return ae_fail(AE_EINVAL, "out is NULL");
    *out = (ae_data){NULL, 0, 0};
    if (!path || count == 0) return ae_fail(AE_EINVAL, path ? "count is 0" : "path is NULL");
    source s;
    layout L;
    int text = 0, rc = read_header(&s, path, &L, &text);
    if (rc == AE_OK && !text) rc = read_rows(&s, &L, first, count, out);
    int rc_close = src_close(&s);
    if (rc == AE_OK) rc = rc_close;
    rc = with_path(rc, path);
    if (rc == AE_OK && text) rc = text_rows(path, first, count, out); /* its details name the file */
    if (rc != AE_OK) ae_data_free(out);
    return rc;
}

/* .npy 1.0: magic, version, 2-byte little-endian header length, the dict padded with spaces
 * and ended by '\n' so that the data starts at a multiple of 64 bytes, then the floats.
 * Written atomically (io_file): any previous file at path survives a failed save. */
AE_API int ae_npy_save(const char *path, const float *x, size_t rows, size_t cols) {
    ae_error_clear();
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
