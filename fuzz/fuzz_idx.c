/* libFuzzer target: IDX files. The input is what follows the two zero bytes that mark IDX, so
 * every input reaches the IDX reader. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *b = malloc(size + 2);
    if (!b) return 0;
    b[0] = b[1] = 0;
    if (size) memcpy(b + 2, data, size);
    fuzz_parse(b, size + 2);
    free(b);
    return 0;
}
