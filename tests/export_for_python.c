/* Writes small trained models, their input and ae_reconstruct's and ae_encode's outputs into a folder, for
 * examples/load_model.py --check to compare against NumPy. */
#include <ae.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(const char *what, int rc) {
    fprintf(stderr, "export_for_python: %s: %s\n", what, ae_strerror(rc));
    return 1;
}

/* --verify: the models NumPy wrote back (roundtrip*.safetensors) must load and reconstruct
 * exactly as the originals did. */
static int verify(const char *dir) {
    char path[4096];
    ae_data x, want;
    snprintf(path, sizeof path, "%s/input.npy", dir);
    int rc = ae_data_load(path, &x);
    if (rc) return fail("input", rc);
    for (int variant = 0; variant < 5; variant++) {
        ae_model *m;
        snprintf(path, sizeof path, "%s/roundtrip%d.safetensors", dir, variant);
        if ((rc = ae_load(&m, path))) return fail(path, rc);
        snprintf(path, sizeof path, "%s/reconstruction%d.npy", dir, variant);
        if ((rc = ae_data_load(path, &want))) return fail(path, rc);
        float *got = malloc(want.rows * want.cols * sizeof(float));
        if (!got) return fail("memory", AE_ENOMEM);
        if ((rc = ae_reconstruct(m, x.x, x.rows, got))) return fail("reconstruct", rc);
        int same = memcmp(got, want.x, want.rows * want.cols * sizeof(float)) == 0;
        if (variant == 1) { /* the head and the threshold came through too */
            ae_model *orig;
            snprintf(path, sizeof path, "%s/model1.safetensors", dir);
            if ((rc = ae_load(&orig, path))) return fail(path, rc);
            float p1[64 * 4], p2[64 * 4], t1 = 0.0f, t2 = 1.0f;
            same = same && x.rows <= 64 && ae_head_predict(orig, x.x, x.rows, p1) == AE_OK &&
                   ae_head_predict(m, x.x, x.rows, p2) == AE_OK && memcmp(p1, p2, x.rows * 4 * sizeof(float)) == 0 &&
                   ae_threshold_get(orig, &t1, NULL, NULL) == AE_OK && ae_threshold_get(m, &t2, NULL, NULL) == AE_OK &&
                   t1 == t2;
            ae_free(orig);
        }
        printf("roundtrip%d: %s\n", variant, same ? "identical to the original" : "DIFFERENT");
        free(got);
        ae_data_free(&want);
        ae_free(m);
        if (!same) return 1;
    }
    ae_data_free(&x);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--verify") == 0) return verify(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: export_for_python DIR | --verify DIR\n");
        return 2;
    }
    mkdir(argv[1], 0755);
    char path[4096];
    enum { N = 64, D = 12 };
    static float x[N * D], rec[N * D], code[N * 3];
    for (int i = 0; i < N * D; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    /* Five models: every activation appears, a tied one, a variational one, one that scales
     * its inputs (z-score), a tied one with batch norm (its running statistics), and a
     * variational one with a conv encoder (rows 1x3x4 images: kernels 5, 1, 3, strides 2, 1,
     * 1, odd sides and several channels). */
    for (int variant = 0; variant < 5; variant++) {
        ae_config c = ae_config_default();
        c.input_dim = D;
        c.n_hidden = 2;
        c.hidden[0] = 9;
        c.hidden[1] = 6;
        c.code_dim = 3;
        c.hidden_act = variant == 1 ? AE_ACT_TANH : AE_ACT_LEAKY_RELU;
        c.code_act = variant == 1 ? AE_ACT_SIGMOID : AE_ACT_LINEAR;
        c.tied_weights = variant == 1 || variant == 3;
        c.variational = variant == 2;
        c.batch_norm = variant == 3;
        c.scaling = variant == 0 ? AE_SCALE_ZSCORE : AE_SCALE_AUTO; /* scaling tensors for NumPy too */
        if (variant == 4) {
            c.variational = 1;
            c.input_shape[0] = 1;
            c.input_shape[1] = 3;
            c.input_shape[2] = 4;
            c.n_conv = 3;
            c.conv[0] = (ae_conv_spec){4, 5, 2}; /* -> 4x2x2 */
            c.conv[1] = (ae_conv_spec){3, 1, 1}; /* -> 3x2x2 */
            c.conv[2] = (ae_conv_spec){2, 3, 1}; /* -> 2x2x2, flattened 8 */
            c.n_hidden = 1;
            c.hidden[0] = 6;
        }
        ae_model *m;
        int rc = ae_create(&m, &c);
        if (rc) return fail("create", rc);
        ae_train_opts o = ae_train_opts_default();
        o.epochs = 3;
        o.batch_size = 16;
        if ((rc = ae_train(m, x, N, &o))) return fail("train", rc);
        if ((rc = ae_reconstruct(m, x, N, rec))) return fail("reconstruct", rc);
        if ((rc = ae_encode(m, x, N, code))) return fail("encode", rc);
        if (variant == 1) { /* a supervised head and an anomaly threshold, for the round trip */
            if ((rc = ae_head_create(m, AE_HEAD_SOFTMAX, 4))) return fail("head", rc);
            if ((rc = ae_threshold_calibrate(m, x, N, AE_THRESHOLD_QUANTILE, 0.9, NULL))) return fail("threshold", rc);
        }
        snprintf(path, sizeof path, "%s/model%d.safetensors", argv[1], variant);
        if ((rc = ae_save(m, path))) return fail("save", rc);
        snprintf(path, sizeof path, "%s/reconstruction%d.npy", argv[1], variant);
        if ((rc = ae_npy_save(path, rec, N, D))) return fail("npy", rc);
        snprintf(path, sizeof path, "%s/code%d.npy", argv[1], variant);
        if ((rc = ae_npy_save(path, code, N, 3))) return fail("npy", rc);
        ae_free(m);
    }
    snprintf(path, sizeof path, "%s/input.npy", argv[1]);
    int rc = ae_npy_save(path, x, N, D);
    return rc ? fail("npy", rc) : 0;
}
