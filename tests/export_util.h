/* export_util: what the export tests share: rows to the driver's input file, the driver
 * (export_driver.c) built around an exported header by a C compiler and run, its output read
 * back. The compiler and flags come from the caller (the host's cc, or a cross compiler). */
#ifndef AE_EXPORT_UTIL_H
#define AE_EXPORT_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the driver writes per row. */
typedef struct export_out {
    size_t n, d, k, c;
    float *score, *flag, *code, *rec, *head; /* [n], [n], [n x k], [n x d], [n x c] */
} export_out;

/* Runs a shell command (printf-style); returns its exit status, -1 when it could not run. */
static inline int export_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int export_sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof cmd) return -1;
    int st = system(cmd);
    if (st != 0) fprintf(stderr, "command failed (%d): %s\n", st, cmd);
    return st == -1 ? -1 : (st & 0x7f) ? 128 + (st & 0x7f) : (st >> 8) & 0xff;
}

/* The files between the library's side and the driver are little-endian whatever the two
 * hosts (a big-endian target's library beside drivers the host's cc built, or the reverse):
 * values go through their bytes, as export_driver.c's do. */
static inline void export_le32_put(unsigned char *b, uint32_t u) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(u >> (8 * i));
}

static inline uint32_t export_le32_get(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* n floats to f, little-endian. 1 on success. */
static inline int export_put_floats(FILE *f, const float *x, size_t n) {
    unsigned char b[4];
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        export_le32_put(b, u);
        if (fwrite(b, 1, 4, f) != 4) return 0;
    }
    return 1;
}

/* n little-endian floats from f. 1 on success. */
static inline int export_get_floats(FILE *f, float *x, size_t n) {
    unsigned char b[4];
    for (size_t i = 0; i < n; i++) {
        if (fread(b, 1, 4, f) != 4) return 0;
        uint32_t u = export_le32_get(b);
        memcpy(&x[i], &u, sizeof u);
    }
    return 1;
}

/* The driver's input: a uint32 count, then n rows of d floats, little-endian. 0 on success. */
static inline int export_write_rows(const char *path, const float *x, size_t n, size_t d) {
    FILE *f = fopen(path, "wb");
    unsigned char n32[4];
    if (!f) return -1;
    export_le32_put(n32, (uint32_t)n);
    int ok = fwrite(n32, 1, 4, f) == 4 && export_put_floats(f, x, n * d);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static inline void export_out_free(export_out *o) {
    free(o->score);
    free(o->flag);
    free(o->code);
    free(o->rec);
    free(o->head);
    memset(o, 0, sizeof *o);
}

/* Reads the driver's output (little-endian) for n rows of widths d, k and c (0: no head). 0 on
 * success. */
static inline int export_read_out(const char *path, size_t n, size_t d, size_t k, size_t c, export_out *o) {
    memset(o, 0, sizeof *o);
    o->n = n, o->d = d, o->k = k, o->c = c;
    o->score = malloc(n * sizeof(float));
    o->flag = malloc(n * sizeof(float));
    o->code = malloc(n * k * sizeof(float));
    o->rec = malloc(n * d * sizeof(float));
    o->head = malloc((n * c + 1) * sizeof(float));
    FILE *f = fopen(path, "rb");
    int ok = f && o->score && o->flag && o->code && o->rec && o->head;
    for (size_t i = 0; i < n && ok; i++)
        ok = export_get_floats(f, o->score + i, 1) && export_get_floats(f, o->flag + i, 1) &&
             export_get_floats(f, o->code + i * k, k) && export_get_floats(f, o->rec + i * d, d) &&
             export_get_floats(f, o->head + i * c, c);
    if (f) ok = fgetc(f) == EOF && ok; /* nothing more */
    if (f) fclose(f);
    if (!ok) export_out_free(o);
    return ok ? 0 : -1;
}

/* Builds dir/NAME_driver from dir/NAME.h with cc and flags (flag: the model has a threshold;
 * head: a head). 0 on success. */
static inline int export_build_host(const char *cc, const char *src_dir, const char *dir, const char *name, int flag,
                                    int head) {
    char upper[128];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof upper; i++)
        upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    upper[i] = 0;
    return export_sh(
        "%s -std=c99 -pedantic -Wall -Wextra -Werror -O2 -ffp-contract=off -I%s "
        "-DEXPORT_HEADER='\"%s.h\"' -DEXPORT_NAME=%s -DEXPORT_UPPER=%s %s %s %s/export_driver.c -o %s/%s_driver -lm",
        cc, dir, name, name, upper, flag ? "-DEXPORT_FLAG" : "", head ? "-DEXPORT_HEAD" : "", src_dir, dir, name);
}

/* Writes x [n x d] to dir/NAME_in.bin, runs dir/NAME_driver and reads dir/NAME_out.bin. */
static inline int export_run_host(const char *dir, const char *name, const float *x, size_t n, size_t d, size_t k,
                                  size_t c, export_out *o) {
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s/%s_in.bin", dir, name);
    snprintf(out, sizeof out, "%s/%s_out.bin", dir, name);
    if (export_write_rows(in, x, n, d) != 0 || export_sh("%s/%s_driver %s %s", dir, name, in, out) != 0) return -1;
    return export_read_out(out, n, d, k, c, o);
}

#endif
