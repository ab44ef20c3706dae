/* libFuzzer target: NumPy .npy files. The input is what follows the "\x93NUMPY" magic, so every
 * input reaches the .npy reader. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *b = malloc(size + 6);
    if (!b) return 0;
    memcpy(b, "\x93NUMPY", 6);
    if (size) memcpy(b + 6, data, size);
    fuzz_parse(b, size + 6);
    free(b);
    return 0;
}
