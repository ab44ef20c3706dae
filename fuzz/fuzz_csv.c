/* libFuzzer target: CSV / whitespace-separated text (and gzip, which the same entry inflates).
 * Inputs that would be taken for IDX or .npy are left to those targets. */
#include <string.h>

#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 2 && data[0] == 0 && data[1] == 0) return 0;
    if (size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0) return 0;
    fuzz_parse(data, size);
    return 0;
}
