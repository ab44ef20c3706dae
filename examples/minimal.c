/* The smallest complete use of libae: create, train, encode, decode, save, load.
 * Build by hand against an installed or built libae.a:
 *   cc minimal.c -Iinclude build/libae.a -lopenblas -ljansson -lz -lm */
#include <ae.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call) \
    do { \
        int rc_ = (call); \
        if (rc_ != AE_OK) { \
            fprintf(stderr, "%s failed: %s\n", #call, ae_strerror(rc_)); \
            return 1; \
        } \
    } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "minimal.safetensors";
    enum { N = 512, D = 20, K = 4 };
    static float x[N * D], code[N * K], out[N * D], code2[N * K];
    /* Rows on a 2-D curve embedded in 20 dimensions, in [0, 1]. */
    for (int i = 0; i < N; i++) {
        float a = (float)i / N, b = (float)((i * 37) % N) / N;
        for (int j = 0; j < D; j++) x[i * D + j] = 0.5f + 0.2f * (j % 2 ? a : b) * (j % 3 - 1);
    }
    ae_config cfg = ae_config_default();
    cfg.input_dim = D;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 16;
    cfg.code_dim = K;
    ae_model *m;
    CHECK(ae_create(&m, &cfg));
    ae_train_opts opts = ae_train_opts_default();
    opts.epochs = 20;
    opts.batch_size = 32;
    CHECK(ae_train(m, x, N, &opts));
    CHECK(ae_encode(m, x, N, code));
    CHECK(ae_decode(m, code, N, out));
    double mse = 0;
    for (int i = 0; i < N * D; i++) mse += (double)(out[i] - x[i]) * (out[i] - x[i]);
    mse /= N * D;
    CHECK(ae_save(m, path));
    ae_model *loaded;
    CHECK(ae_load(&loaded, path));
    CHECK(ae_encode(loaded, x, N, code2));
    int same = memcmp(code, code2, sizeof code) == 0;
    printf("libae %s: trained %d x %d, reconstruction MSE %.5f, reload %s\n", ae_version(), N, D, mse,
           same ? "identical" : "DIFFERENT");
    ae_free(m);
    ae_free(loaded);
    remove(path);
    return same && mse < 0.01 ? 0 : 1;
}
