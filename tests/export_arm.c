/* export_arm: exported headers cross-compiled for a Cortex-M4F (arm-none-eabi-gcc, newlib's
 * semihosting library) and run on QEMU's MPS2-AN386 board, their outputs compared with the
 * same driver's on the host bit for bit: scores, flags, codes, reconstructions and head
 * outputs, float and int8. Both sides are compiled with -ffp-contract=off (the M4F has fused
 * multiply-adds, which would round differently); the header computes exp and tanh itself, so
 * no libm is involved. Also prints flash and RAM (arm-none-eabi-size) of a program that only
 * scores a row, for workload W and for the MLPerf Tiny anomaly-detection autoencoder.
 *   export_arm GCC SIZE QEMU SRC_DIR WORK_DIR HOST_CC */
#include <ae.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "export_util.h"

#define ROWS 16
/* Under an emulator (a cross build's ctest), the library trains and calibrates on fewer rows:
 * the outputs compared are still ROWS rows, bit for bit. */
#ifndef AE_TEST_EMULATED
#define AE_TEST_EMULATED 0
#endif
#define ARM_FLAGS "-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard -mthumb -O2 -std=c99 -ffp-contract=off"

static const char *gcc, *size_tool, *qemu, *src, *work, *host_cc;

typedef struct arm_case {
    const char *name;
    size_t d, nh, hidden[4], k;
    ae_activation hidden_act, code_act, out_act;
    int batch_norm, int8, head, scaling;
} arm_case;

static const arm_case cases[] = {
    {"w_float", 784, 1, {256}, 64, AE_ACT_RELU, AE_ACT_LINEAR, AE_ACT_SIGMOID, 0, 0, 0, AE_SCALE_NONE},
    {"w_int8", 784, 1, {256}, 64, AE_ACT_RELU, AE_ACT_LINEAR, AE_ACT_SIGMOID, 0, 1, 0, AE_SCALE_NONE},
    {"mix_float", 40, 2, {24, 12}, 5, AE_ACT_TANH, AE_ACT_LEAKY_RELU, AE_ACT_LINEAR, 1, 0, 1, AE_SCALE_ZSCORE},
    {"mix_int8", 40, 2, {24, 12}, 5, AE_ACT_TANH, AE_ACT_SIGMOID, AE_ACT_TANH, 1, 1, 1, AE_SCALE_MINMAX},
    {"tiny_float", 640, 4, {128, 128, 128, 128}, 8, AE_ACT_RELU, AE_ACT_RELU, AE_ACT_LINEAR, 1, 0, 0, AE_SCALE_ZSCORE},
    {"tiny_int8", 640, 4, {128, 128, 128, 128}, 8, AE_ACT_RELU, AE_ACT_RELU, AE_ACT_LINEAR, 1, 1, 0, AE_SCALE_ZSCORE},
};

/* Smooth rows with a few degrees of freedom, in [0.1, 0.9]. */
static void fill_rows(float *x, size_t n, size_t d) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] =
                0.5f + 0.2f * sinf(0.37f * (float)i + 0.11f * (float)j) + 0.2f * cosf(0.05f * (float)(i * j % 97));
}

static ae_model *model_of(const arm_case *c, const float *x, size_t n) {
    ae_config cfg = ae_config_default();
    cfg.input_dim = c->d;
    cfg.n_hidden = c->nh;
    for (size_t i = 0; i < c->nh; i++) cfg.hidden[i] = c->hidden[i];
    cfg.code_dim = c->k;
    cfg.hidden_act = c->hidden_act, cfg.code_act = c->code_act, cfg.output_act = c->out_act;
    cfg.batch_norm = c->batch_norm;
    cfg.scaling = (ae_scaling)c->scaling;
    ae_model *m = NULL;
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    o.batch_size = 64;
    float *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) y[i] = (float)(i % 3);
    int rc = ae_create(&m, &cfg);
    if (rc == AE_OK) rc = ae_train(m, x, n, &o);
    if (rc == AE_OK) rc = ae_threshold_calibrate(m, x, n, AE_THRESHOLD_QUANTILE, 0.9, NULL);
    if (rc == AE_OK && c->head) rc = ae_head_create(m, AE_HEAD_SOFTMAX, 3);
    if (rc == AE_OK && c->head) rc = ae_head_train(m, x, n, y, 1, &o);
    free(y);
    if (rc != AE_OK) {
        fprintf(stderr, "%s: %s: %s\n", c->name, ae_strerror(rc), ae_last_error());
        ae_free(m);
        return NULL;
    }
    return m;
}

static int same_files(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb, ca, cb;
    size_t bytes = 0;
    while (same && (ca = fgetc(fa)) != EOF) {
        cb = fgetc(fb);
        same = ca == cb;
        bytes++;
    }
    same = same && fgetc(fb) == EOF && bytes > 0;
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void upper_of(const char *name, char *up) {
    size_t i = 0;
    for (; name[i]; i++) up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    up[i] = 0;
}

/* The ARM driver on QEMU against the host's: 0 when their outputs are the same bytes. */
static int compare_on_arm(const arm_case *c, const float *x) {
    char up[64];
    upper_of(c->name, up);
    if (export_build_host(host_cc, src, work, c->name, 1, c->head) != 0) return -1;
    export_out o;
    if (export_run_host(work, c->name, x, ROWS, c->d, c->k, c->head ? 3 : 0, &o) != 0) return -1;
    export_out_free(&o);
    if (export_sh("%s " ARM_FLAGS " --specs=rdimon.specs -nostartfiles -T %s/export_arm/mps2.ld -I%s "
                  "-DEXPORT_HEADER='\"%s.h\"' -DEXPORT_NAME=%s -DEXPORT_UPPER=%s -DEXPORT_FLAG %s "
                  "-DEXPORT_IN='\"%s/%s_in.bin\"' -DEXPORT_OUT='\"%s/%s_arm.bin\"' %s/export_arm/startup.c "
                  "%s/export_driver.c -o %s/%s.elf",
                  gcc, src, work, c->name, c->name, up, c->head ? "-DEXPORT_HEAD" : "", work, c->name, work, c->name,
                  src, src, work, c->name) != 0)
        return -1;
    if (export_sh("timeout 300 %s -M mps2-an386 -nographic -monitor none -serial none "
                  "-semihosting-config enable=on,target=native -kernel %s/%s.elf",
                  qemu, work, c->name) != 0)
        return -1;
    char host[1024], arm[1024];
    snprintf(host, sizeof host, "%s/%s_out.bin", work, c->name);
    snprintf(arm, sizeof arm, "%s/%s_arm.bin", work, c->name);
    return same_files(host, arm) ? 0 : -1;
}

/* Flash (text + data) and RAM (data + bss) of a program that scores one row, and of the same
 * program without a model; prints both. */
static int sizes(const arm_case *c) {
    char up[64], probe[1024];
    upper_of(c->name, up);
    snprintf(probe, sizeof probe, "%s/%s_probe.c", work, c->name);
    FILE *f = fopen(probe, "w");
    if (!f) return -1;
    fprintf(f,
            "#include \"%s.h\"\nstatic float x[%s_INPUT_DIM];\nvolatile float sink;\n"
            "int main(void);\nint main(void) { sink = %s_score(x); return 0; }\n",
            c->name, up, c->name);
    fclose(f);
    printf("%s (arm-none-eabi-size of a program that scores a row; newlib's startup and semihosting included):\n",
           c->name);
    fflush(stdout);
    return export_sh("%s " ARM_FLAGS " --specs=rdimon.specs -nostartfiles -T %s/export_arm/mps2.ld -I%s "
                     "%s/export_arm/startup.c %s -o %s/%s_probe.elf && %s %s/%s_probe.elf",
                     gcc, src, work, src, probe, work, c->name, size_tool, work, c->name);
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s GCC SIZE QEMU SRC_DIR WORK_DIR HOST_CC\n", argv[0]);
        return 2;
    }
    gcc = argv[1], size_tool = argv[2], qemu = argv[3], src = argv[4], work = argv[5], host_cc = argv[6];
    mkdir(work, 0777);
    /* the baseline: the startup and an empty main */
    char base[1024];
    snprintf(base, sizeof base, "%s/baseline.c", work);
    FILE *f = fopen(base, "w");
    if (!f) return 1;
    fputs("int main(void);\nint main(void) { return 0; }\n", f);
    fclose(f);
    printf("baseline (startup, semihosting exit, empty main):\n");
    fflush(stdout);
    if (export_sh("%s " ARM_FLAGS
                  " --specs=rdimon.specs -nostartfiles -T %s/export_arm/mps2.ld %s/export_arm/startup.c "
                  "%s -o %s/baseline.elf && %s %s/baseline.elf",
                  gcc, src, src, base, work, size_tool, work) != 0)
        return 1;
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const arm_case *c = &cases[i];
        const size_t n = AE_TEST_EMULATED ? 64 : 256; /* rows to train and calibrate on */
        float *x = malloc(n * c->d * sizeof(float));
        fill_rows(x, n, c->d);
        ae_model *m = model_of(c, x, n);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.h", work, c->name);
        ae_export_opts o = ae_export_opts_default();
        ae_export_report rep;
        o.name = c->name, o.int8 = c->int8, o.calib_x = x + ROWS * c->d, o.calib_n = n - ROWS, o.report = &rep;
        int ok = m && ae_export_c(m, path, &o) == AE_OK && compare_on_arm(c, x) == 0;
        printf("%s: %s; %zu weight bytes, %zu floats of scratch", c->name,
               ok ? "the Cortex-M4F's outputs equal the host's bit for bit" : "FAILED", rep.weight_bytes,
               rep.work_floats);
        if (c->int8) printf(", int8 score error %.4f", rep.score_error);
        printf("\n");
        fflush(stdout);
        failed |= !ok || sizes(c) != 0;
        ae_free(m);
        free(x);
    }
    return failed;
}
