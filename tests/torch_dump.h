/* For the programs whose output a PyTorch script checks (tests/..._torch.c): floats written
 * little-endian, whichever host runs the program (the scripts read "<f4"; a cross build's
 * big-endian s390x runs them under an emulator). */
#ifndef AE_TEST_TORCH_DUMP_H
#define AE_TEST_TORCH_DUMP_H

#include <stdio.h>

#include "byteorder.h"

/* p [n] into DIR/NAME SUFFIX.bin, little-endian: 0, or 1 when the path is too long or a write
 * fails. */
static inline int torch_dump(const char *dir, const char *name, const char *suffix, const float *p, size_t n) {
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s%s.bin", dir, name, suffix) >= (int)sizeof path) return 1;
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char le[4];
        ae_le_copy(le, p + i, 1, 4);
        w += fwrite(le, 4, 1, f);
    }
    return (fclose(f) != 0) | (w != n);
}

#endif
