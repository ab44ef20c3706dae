/* For the programs whose output a PyTorch script checks (tests/..._torch.c): floats written raw
 * (the host's order; the scripts read them little-endian, and these tests run natively). */
#ifndef AE_TEST_TORCH_DUMP_H
#define AE_TEST_TORCH_DUMP_H

#include <stdio.h>

/* p [n] into DIR/NAME SUFFIX.bin: 0, or 1 when the path is too long or a write fails. */
static inline int torch_dump(const char *dir, const char *name, const char *suffix, const float *p, size_t n) {
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s%s.bin", dir, name, suffix) >= (int)sizeof path) return 1;
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    const size_t w = fwrite(p, sizeof(float), n, f);
    return (fclose(f) != 0) | (w != n);
}

#endif
