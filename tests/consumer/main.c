/* An outside program: creates, trains, saves and loads a model through the installed libae. */
#include <ae.h>
#include <stdio.h>

int main(void) {
    static float x[64 * 8];
    for (int i = 0; i < 64 * 8; i++) x[i] = (float)((i * 37) % 100) / 100.0f;
    ae_config c = ae_config_default();
    c.input_dim = 8;
    c.code_dim = 2;
    ae_model *m;
    int rc = ae_create(&m, &c);
    if (rc == AE_OK) rc = ae_train(m, x, 64, NULL);
    if (rc == AE_OK) rc = ae_save(m, "consumer.safetensors");
    ae_free(m);
    if (rc == AE_OK) rc = ae_load(&m, "consumer.safetensors");
    if (rc == AE_OK) ae_free(m);
    printf("libae %s (header %s): %s\n", ae_version(), AE_VERSION_STRING, ae_strerror(rc));
    return rc == AE_OK ? 0 : 1;
}
