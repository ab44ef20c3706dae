/* The data-file targets share one body: parse, and when it succeeds, touch every value. */
#ifndef AE_FUZZ_DATA_H
#define AE_FUZZ_DATA_H
#include <ae.h>
#include <stddef.h>
#include <stdint.h>

static inline void fuzz_parse(const uint8_t *data, size_t size) {
    ae_data d;
    if (ae_data_parse(data, size, &d) == AE_OK) {
        volatile float sum = 0.0f;
        for (size_t i = 0; i < d.rows * d.cols; i++) sum += d.x[i];
        (void)sum;
    }
    ae_data_free(&d);
}
#endif
