/* export_driver: runs an exported header (ae_export_c) on rows from a file, with no library:
 * the host's C compiler or a cross compiler builds it with the header alone (and libm for
 * printf's sake only on a hosted target). Built with
 *   -DEXPORT_HEADER='"model.h"' -DEXPORT_NAME=model -DEXPORT_UPPER=MODEL [-DEXPORT_FLAG] [-DEXPORT_HEAD]
 * and run as `export_driver IN OUT` (or with -DEXPORT_IN='"in.bin"' -DEXPORT_OUT='"out.bin"',
 * for a target whose main takes no arguments). IN: a uint32 row count, then the rows
 * [n x INPUT_DIM] as float32. OUT, per row, float32: the score, the flag (0/1, or -1 without a
 * threshold), the code [CODE_DIM], the reconstruction [INPUT_DIM], the head's outputs
 * [HEAD_OUTPUTS] (with EXPORT_HEAD), each through both the plain and the _buf function (the
 * _buf one is written; the run fails if they differ). Both files are little-endian on every
 * host: the driver may run on a host of another byte order than the library that wrote IN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include EXPORT_HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define F(s) CAT(EXPORT_NAME, s)
#define U(s) CAT(EXPORT_UPPER, s)

static float x[U(_INPUT_DIM)], rec[U(_INPUT_DIM)], rec2[U(_INPUT_DIM)], code[U(_CODE_DIM)], code2[U(_CODE_DIM)];
static float work[U(_WORK_FLOATS)];
#ifdef EXPORT_HEAD
static float head[U(_HEAD_OUTPUTS)], head2[U(_HEAD_OUTPUTS)];
#endif

/* n floats through their little-endian bytes (int and float of 32 bits, as the header
 * assumes). 1 on success. */
static int get_floats(FILE *f, float *v, size_t n) {
    unsigned char b[4];
    for (size_t i = 0; i < n; i++) {
        unsigned int w;
        if (fread(b, 1, 4, f) != 4) return 0;
        w = (unsigned int)b[0] | (unsigned int)b[1] << 8 | (unsigned int)b[2] << 16 | (unsigned int)b[3] << 24;
        memcpy(&v[i], &w, 4);
    }
    return 1;
}

static int put_floats(FILE *f, const float *v, size_t n) {
    unsigned char b[4];
    for (size_t i = 0; i < n; i++) {
        unsigned int w;
        memcpy(&w, &v[i], 4);
        b[0] = (unsigned char)(w & 0xffu), b[1] = (unsigned char)(w >> 8 & 0xffu);
        b[2] = (unsigned char)(w >> 16 & 0xffu), b[3] = (unsigned char)(w >> 24 & 0xffu);
        if (fwrite(b, 1, 4, f) != 4) return 0;
    }
    return 1;
}

static int run(FILE *in, FILE *out) {
    unsigned char nb[4];
    unsigned int n;
    if (fread(nb, 1, 4, in) != 4) return 2;
    n = (unsigned int)nb[0] | (unsigned int)nb[1] << 8 | (unsigned int)nb[2] << 16 | (unsigned int)nb[3] << 24;
    for (unsigned int r = 0; r < n; r++) {
        if (!get_floats(in, x, U(_INPUT_DIM))) return 3;
        float s = F(_score)(x), s2 = F(_score_buf)(x, work), flag = -1.0f;
        F(_encode)(x, code);
        F(_encode_buf)(x, code2, work);
        F(_reconstruct)(x, rec);
        F(_reconstruct_buf)(x, rec2, work);
        if (memcmp(&s, &s2, sizeof s) || memcmp(code, code2, sizeof code) || memcmp(rec, rec2, sizeof rec)) return 4;
#ifdef EXPORT_FLAG
        flag = (float)F(_flag_buf)(x, work);
        if (F(_flag)(x) != (int)flag) return 4;
#endif
        if (!put_floats(out, &s2, 1) || !put_floats(out, &flag, 1) || !put_floats(out, code2, U(_CODE_DIM)) ||
            !put_floats(out, rec2, U(_INPUT_DIM)))
            return 5;
#ifdef EXPORT_HEAD
        F(_predict)(x, head);
        F(_predict_buf)(x, head2, work);
        if (memcmp(head, head2, sizeof head)) return 4;
        if (F(_classify)(x) < 0 || !put_floats(out, head2, U(_HEAD_OUTPUTS))) return 5;
#endif
    }
    return 0;
}

#ifdef EXPORT_IN
int main(void) {
    const char *in_path = EXPORT_IN, *out_path = EXPORT_OUT;
#else
int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
        return 2;
    }
    const char *in_path = argv[1], *out_path = argv[2];
#endif
    FILE *in = fopen(in_path, "rb"), *out = fopen(out_path, "wb");
    if (!in || !out) {
        fprintf(stderr, "export_driver: cannot open %s or %s\n", in_path, out_path);
        return 1;
    }
    int rc = run(in, out);
    fclose(in);
    if (fclose(out) != 0 && rc == 0) rc = 5;
    if (rc) fprintf(stderr, "export_driver: failed (%d)\n", rc);
    return rc;
}
