/* gemm_floor: ae_bench's GEMM-only epoch. cblas_sgemm called at exactly the shapes and
 * transposes of one libae training step of a model (dense layers; conv2d and conv2d_t, whose
 * products libae issues per group of images over their im2col columns side by side),
 * ceil(rows / batch) times with the
 * last batch's real size, and nothing else: no im2col / col2im, bias, activation, loss or
 * optimizer. The floor for anything built on sgemm. */
#ifndef AE_BENCH_GEMM_FLOOR_H
#define AE_BENCH_GEMM_FLOOR_H

#include <ae.h>
#include <stddef.h>

#define FLOOR_MAX_LAYERS (2 * (AE_MAX_HIDDEN + AE_MAX_CONV + 2))

typedef enum { FLOOR_DENSE, FLOOR_CONV, FLOOR_CONV_T } floor_kind;

/* One layer's products. in, out: floats of a row going in and coming out. A dense layer's
 * weight is [out x in]. Per image, a conv layer's weight is [wr x K] and its columns [K x P]
 * (a group of n images: [K x n P]):
 * conv2d wr = c_out, K = c_in k^2, P = output pixels; conv2d_t wr = c_in, K = c_out k^2, P =
 * input pixels. */
typedef struct floor_layer {
    floor_kind kind;
    size_t in, out, wr, K, P;
} floor_layer;

typedef struct gemm_floor {
    size_t n_layers, cap;
    floor_layer layer[FLOOR_MAX_LAYERS];
    float *act[FLOOR_MAX_LAYERS + 1]; /* act[0]: the input batch [cap x in] */
    float *w[FLOOR_MAX_LAYERS], *dw[FLOOR_MAX_LAYERS];
    float *cols[FLOOR_MAX_LAYERS], *dcols[FLOOR_MAX_LAYERS]; /* conv: [cap x K x P] each */
    float *dz_out; /* the loss gradient at the output [cap x out] */
    float *delta[2]; /* [cap x the widest row] */
} gemm_floor;

/* The layers of the model c (as libae builds them) and buffers for batches of cap rows. */
int gemm_floor_init(gemm_floor *g, const ae_config *c, size_t cap);
void gemm_floor_free(gemm_floor *g);
/* Seconds of one GEMM-only epoch over n rows in batches of batch (<= cap). */
double gemm_floor_epoch(gemm_floor *g, size_t n, size_t batch);
/* The flops of those products, 2 M N K each: forward and dW of every layer, dX of every layer
 * but the first (nothing needs the input's gradient). */
double gemm_floor_flops(const gemm_floor *g, size_t n, size_t batch);
/* The sum of the layers' row widths, input included (the memory model's units). */
size_t gemm_floor_units(const gemm_floor *g);

#endif
