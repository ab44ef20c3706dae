/* libFuzzer target: the model file (safetensors header, offsets, config, CRC) from memory. */
#include <ae.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ae_model *m = NULL;
    if (ae_load_buffer(&m, data, size) == AE_OK) {
        /* A model that loads must also run. */
        float x[2 * 64] = {0}, out[2 * 64];
        if (ae_input_dim(m) <= 64) (void)ae_reconstruct(m, x, 2, out);
        ae_free(m);
    }
    return 0;
}
