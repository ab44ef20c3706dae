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

/* The driver's input: a uint32 count, then n rows of d floats. 0 on success. */
static inline int export_write_rows(const char *path, const float *x, size_t n, size_t d) {
    FILE *f = fopen(path, "wb");
    uint32_t n32 = (uint32_t)n;
    if (!f) return -1;
    int ok = fwrite(&n32, sizeof n32, 1, f) == 1 && fwrite(x, sizeof(float), n * d, f) == n * d;
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

/* Reads the driver's output for n rows of widths d, k and c (0: no head). 0 on success. */
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
        ok = fread(o->score + i, sizeof(float), 1, f) == 1 && fread(o->flag + i, sizeof(float), 1, f) == 1 &&
             fread(o->code + i * k, sizeof(float), k, f) == k && fread(o->rec + i * d, sizeof(float), d, f) == d &&
             fread(o->head + i * c, sizeof(float), c, f) == c;
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
