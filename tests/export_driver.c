/* export_driver: runs an exported header (ae_export_c) on rows from a file, with no library:
 * the host's C compiler or a cross compiler builds it with the header alone (and libm for
 * printf's sake only on a hosted target). Built with
 *   -DEXPORT_HEADER='"model.h"' -DEXPORT_NAME=model -DEXPORT_UPPER=MODEL [-DEXPORT_FLAG] [-DEXPORT_HEAD]
 * and run as `export_driver IN OUT` (or with -DEXPORT_IN='"in.bin"' -DEXPORT_OUT='"out.bin"',
 * for a target whose main takes no arguments). IN: a uint32 row count, then the rows
 * [n x INPUT_DIM] as float32. OUT, per row, float32: the score, the flag (0/1, or -1 without a
 * threshold), the code [CODE_DIM], the reconstruction [INPUT_DIM], the head's outputs
 * [HEAD_OUTPUTS] (with EXPORT_HEAD), each through both the plain and the _buf function (the
 * _buf one is written; the run fails if they differ). */
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

static int run(FILE *in, FILE *out) {
    unsigned n = 0;
    if (fread(&n, sizeof n, 1, in) != 1) return 2;
    for (unsigned r = 0; r < n; r++) {
        if (fread(x, sizeof x, 1, in) != 1) return 3;
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
        if (fwrite(&s2, sizeof s2, 1, out) != 1 || fwrite(&flag, sizeof flag, 1, out) != 1 ||
            fwrite(code2, sizeof code2, 1, out) != 1 || fwrite(rec2, sizeof rec2, 1, out) != 1)
            return 5;
#ifdef EXPORT_HEAD
        F(_predict)(x, head);
        F(_predict_buf)(x, head2, work);
        if (memcmp(head, head2, sizeof head)) return 4;
        if (F(_classify)(x) < 0 || fwrite(head2, sizeof head2, 1, out) != 1) return 5;
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
