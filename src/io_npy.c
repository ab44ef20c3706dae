/* io_npy: .npy files ("\x93NUMPY" v1.0/2.0/3.0, descr <f4 <f8 |u1, C order only): the header
 * dict read with a small scanner, and the atomic writer ae_npy_save. The values are converted
 * by io_idx.c (ae_layout_convert). The values are little-endian on every host (byteorder.h):
 * the writer stores '<f4', and a descr of native order ('=' or none) is read as little-endian,
 * the order of the hosts that write them, whichever host reads the file. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "io_binary.h"
#include "io_file.h"

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

/* Little-endian ('<'), native ('=' or none: read as little-endian) or, for one byte, any order. */
static int npy_descr(const unsigned char *s, size_t n, int *type, size_t *itemsize) {
    static const struct {
        const char *name;
        int type;
        size_t size;
    } known[] = {{"<f4", AE_NPY_F4, 4}, {"=f4", AE_NPY_F4, 4}, {"f4", AE_NPY_F4, 4},  {"<f8", AE_NPY_F8, 8},
                 {"=f8", AE_NPY_F8, 8}, {"f8", AE_NPY_F8, 8},  {"|u1", AE_NPY_U1, 1}, {"<u1", AE_NPY_U1, 1},
                 {">u1", AE_NPY_U1, 1}, {"=u1", AE_NPY_U1, 1}, {"u1", AE_NPY_U1, 1}};
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
    static const char *const kinds[][2] = {{"f", "float"},
                                           {"i", "int"},
                                           {"u", "uint"},
                                           {"b", "bool"},
                                           {"c", "complex"},
                                           {"O", "Python objects"},
                                           {"U", "unicode strings"},
                                           {"S", "byte strings"},
                                           {"M", "datetime64"},
                                           {"m", "timedelta64"},
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
            for (size_t j = i + 1; j < n && s[j] >= '0' && s[j] <= '9' && bytes < 1000; j++)
                bytes = bytes * 10 + (size_t)(s[j] - '0');
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
            if (!cur_string(&c, &v, &vn))
                return ae_fail(AE_EFORMAT, ".npy: descr is not a string (a structured dtype?)");
            if (!npy_descr(v, vn, type, itemsize)) {
                char what[64];
                describe_descr(v, vn, what, sizeof what);
                return ae_fail(
                    AE_EFORMAT,
                    ".npy: dtype '%.*s' (%s) is not read: libae reads <f4, <f8 and |u1 (convert with astype)",
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
            return ae_fail(AE_EFORMAT, ".npy: unknown key '%.*s' in the header", kn > 32 ? 32 : (int)kn,
                           (const char *)k);
        }
        if (cur_char(&c, ',')) continue;
        if (cur_char(&c, '}')) break;
        return ae_fail(AE_EFORMAT, ".npy: the header dict is malformed at byte %zu", (size_t)(c.p - h));
    }
    cur_ws(&c); /* the padding: spaces and a final newline */
    if (c.p != c.e) return ae_fail(AE_EFORMAT, ".npy: text after the header dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return ae_fail(AE_EFORMAT, ".npy: the header lacks '%s'",
                       !seen_descr   ? "descr"
                       : !seen_order ? "fortran_order"
                                     : "shape");
    return AE_OK;
}

/* Where the dict starts, from the magic and version (p[0..8)): 10 for version 1.0 (a 2-byte
 * length), 12 for 2.0 and 3.0 (4 bytes; 3.0 has a UTF-8 dict); 0 for any other version. */
size_t ae_npy_start(const unsigned char *p) {
    if (p[7] != 0) return 0;
    return p[6] == 1 ? 10 : p[6] == 2 || p[6] == 3 ? 12 : 0;
}

/* The dict's length: little-endian, in the bytes [8, start). */
size_t ae_npy_dict_len(const unsigned char *p, size_t start) {
    size_t n = 0;
    for (size_t i = start; i-- > 8;) n = n << 8 | p[i];
    return n;
}

int ae_npy_version_error(const unsigned char *p) {
    return ae_fail(AE_EFORMAT, ".npy: format version %u.%u unknown (1.0, 2.0 and 3.0 are read)", p[6], p[7]);
}

/* The header, from the first len bytes (at least the whole header). */
int ae_npy_layout(const unsigned char *p, size_t len, ae_layout *L) {
    if (len < 10) return ae_fail(AE_EFORMAT, ".npy: the header is cut short (%zu bytes)", len);
    size_t start = ae_npy_start(p);
    if (start == 0) return ae_npy_version_error(p);
    if (len < start) return ae_fail(AE_EFORMAT, ".npy: the header is cut short (%zu bytes)", len);
    size_t hlen = ae_npy_dict_len(p, start);
    if (hlen > AE_NPY_MAX_HEADER)
        return ae_fail(AE_EFORMAT, ".npy: a header of %zu bytes (at most 1 MiB is read)", hlen);
    if (hlen > len - start) return ae_fail(AE_EFORMAT, ".npy: the header of %zu bytes is cut short", hlen);
    int type = AE_NPY_F4;
    size_t itemsize = 0, rows = 0, cols = 0, n, bytes;
    int rc = npy_header(p + start, hlen, &type, &itemsize, &rows, &cols);
    if (rc != AE_OK) return rc;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, itemsize, &bytes))
        return ae_fail(AE_EFORMAT, ".npy: the shape's product overflows");
    *L = (ae_layout){1, (unsigned)type, 0, itemsize, start + hlen, rows, cols, bytes};
    return AE_OK;
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
    memcpy(hdr,
           "\x93"
           "NUMPY",
           6);
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
    ae_atomic_write_f32(&f, x, n);
    return ae_atomic_close(&f);
}
