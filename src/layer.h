/* layer: a layer of the model and the kinds of layer. A model is a sequence of layers; each
 * layer has a kind (layers/<kind>.c) that holds, side by side, its parameter shapes and file
 * tensor names, initialisation, forward and backward, and how its work may be split across
 * threads. The pass and inference walk the sequence through these entries; adding a kind is
 * one file and one row of the registry (layers/kinds.c). */
#ifndef AE_LAYER_H
#define AE_LAYER_H

#include "blas.h"
#include "rng.h"

typedef struct ae_kind ae_kind;

typedef struct ae_layer {
    const ae_kind *kind;
    size_t in, out; /* floats of a row going in and coming out */
    ae_activation act; /* applied last in the forward pass */
    ae_activation init_act; /* the activation the layer's block ends in (weight init's gain) */
    /* Initialise as PyTorch initialises the module (ae_layer_init_torch): set for every layer
     * of a model with conv layers; dense-only models keep He / Glorot and zero biases. */
    int torch_init;
    int dropout_after; /* the output of a hidden block: training's dropout applies to it */
    /* dense */
    int w_transposed; /* w is stored [in x out]: a tied decoder borrowing the encoder's weight */
    int grad_accumulate; /* dW += ... : the second user of a shared (tied) weight */
    /* The trained tensors (dense: weight [out x in] (or [in x out], see above) and bias [out];
     * batch norm: gamma [out] and beta [out]), views into the model's parameter block, and
     * their gradients, same shapes. */
    float *w, *b;
    float *dw, *db;
    /* batch norm: running mean and variance [out] each (in the model's state block, saved),
     * and the latest training batch's mean and 1/std [out] each (scratch). */
    float *stat, *batch_stat;
    /* conv2d, conv2d_t: an image going in is c_in x h_in x w_in (NCHW, one image a row: in =
     * c_in h_in w_in), coming out c_out x h_out x w_out; square kernel of odd size, stride,
     * padding kernel / 2. 0 for other kinds. */
    size_t c_in, h_in, w_in, c_out, h_out, w_out, kernel, stride;
    /* gru, lstm (layers/rnn.h): `steps` steps of `step_in` floats each going in (a row is
     * steps x step_in, step-major), a state of `width` floats; repeat 0 (the encoder): the
     * last state comes out (out = width); repeat 1 (the decoder): the row is one step's input
     * fed at every step (in = step_in) and every state comes out (out = steps x width).
     * dense_step: the same dense layer [width x step_in] on each of `steps` steps. */
    size_t steps, step_in, width;
    int repeat;
} ae_layer;

struct ae_kind {
    const char *name;
    /* The shape of trained tensor t (0: w, 1: b) as the file stores it: rows x cols, cols 0
     * for 1-D; 0 rows when the layer has no such tensor of its own (a tied weight). A conv
     * weight's cols are (channels x kernel x kernel): the file writes it 4-D (io_tensors.c). */
    void (*shape)(const ae_layer *l, int t, size_t *rows, size_t *cols);
    const char *tensor_name[2]; /* w's and b's names in the file ("weight", "bias") */
    size_t n_stat; /* saved non-trained tensors, [out] each */
    const char *stat_name[2]; /* their names ("running_mean", "running_var") */
    /* Initial values from rng (draws in a fixed order: the model's bits depend on it). */
    void (*init)(ae_layer *l, ae_rng *rng);
    /* Floats of workspace a call over `rows` rows needs (NULL: none). Proportional to rows:
     * the pass gives a call over rows [a, b) of a batch the layer's scratch at offset
     * scratch_floats(l, a), sized scratch_floats(l, b - a); the same region from forward to
     * backward of a step (a kind may keep what its backward reads there, e.g. im2col's
     * columns). grad_params gets the scratch of all `rows` rows, which forward filled in
     * `chunks` calls over ae_split's chunks of them (a kind may lay out a chunk's region as a
     * whole: the conv kinds keep one matrix of columns per chunk). */
    size_t (*scratch_floats)(const ae_layer *l, size_t rows);
    /* Y [rows x out] = the layer of X [rows x in]; with_act 0 (the output layer only) leaves
     * act, and with fused_bias the bias too, to a fused consumer (the loss). train: batch
     * statistics (batch norm), which the whole batch must be given at once for (batch_whole). */
    void (*forward)(const ae_layer *l, const float *x, size_t rows, float *y, int with_act, int train, float *scratch);
    /* Slice s of `slices` of the trained tensors' gradients from all `rows` rows of X and of dZ
     * (the gradient at the pre-activation). slices <= rows; chunks: see scratch_floats. */
    void (*grad_params)(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t s, size_t slices,
                        size_t chunks, float *scratch);
    /* Rows the gradient slicing cuts (dense: rows of the stored dW). */
    size_t (*param_rows)(const ae_layer *l);
    /* dX [rows x in] (rows ld_dx floats apart) from dZ for a block of rows (pointers at its
     * first row), after grad_params over the same batch (batch norm reads dgamma, dbeta). */
    void (*grad_input)(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                       float *scratch);
    /* The column layout (NULL: the kind has none): columns [c0, c1) of Y for every row, and of
     * dX = dZ . W for every row. */
    void (*forward_cols)(const ae_layer *l, const float *x, size_t rows, float *y, size_t c0, size_t c1, int with_act);
    void (*grad_input_cols)(const ae_layer *l, const float *dz, size_t rows, float *dx, size_t c0, size_t c1);
    int batch_whole; /* 1: training needs the whole batch in one call (statistics) */
    int fused_bias; /* 1: forward with_act 0 leaves the bias (per column) to the loss */
    /* Multiply-adds of its products for `rows` rows (the planner's cost model). */
    double (*gemm_mnk)(const ae_layer *l, size_t rows);
    /* 1: grad_input runs first, for every row even where no dX is wanted (dx NULL), and leaves
     * in the scratch what grad_params reads (a recurrent layer's backpropagation through time
     * gives the gates' gradients of every step); grad_params runs once it has for all rows. */
    int input_first;
};

/* The registry (layers/kinds.c). */
AE_HIDDEN extern const ae_kind ae_kind_dense, ae_kind_batchnorm, ae_kind_conv2d, ae_kind_conv2d_t, ae_kind_gru,
    ae_kind_lstm, ae_kind_dense_step;
/* The kind named name, or NULL. */
AE_HIDDEN const ae_kind *ae_kind_named(const char *name);
/* The scratch floats of a call of layer l over rows rows (0 for a kind without scratch). */
AE_HIDDEN size_t ae_layer_scratch(const ae_layer *l, size_t rows);

/* PyTorch's default initialisation of Linear, Conv2d and ConvTranspose2d (kaiming_uniform
 * with a = sqrt(5)): weight and then bias uniform in +-1 / sqrt(fan_in), fan_in the weight's
 * elements per row of its first dimension (Linear: in; Conv2d [out,in,k,k]: in k k;
 * ConvTranspose2d [in,out,k,k]: out k k). */
AE_HIDDEN void ae_layer_init_torch(ae_layer *l, ae_rng *rng, double fan_in);

/* Floats of trained tensor t of l (0 when it has none of its own). */
AE_HIDDEN size_t ae_layer_tensor_floats(const ae_layer *l, int t);

/* The dense kind's steps, also called directly (the supervised head is a dense layer). */
/* Y [rows x out] = X [rows x in] . W^T, then with_act: Y = act(Y + b). Without act the bias
 * is left for a fused consumer (the loss). */
AE_HIDDEN void ae_layer_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act);
/* Given dZ [rows x out] (the gradient at the pre-activation) and the layer input X:
 * dW = dZ^T . X, db = column sums of dZ, and when dx is not NULL dX = dZ . W [rows x in].
 * The caller applies the previous layer's act' to dX. */
AE_HIDDEN void ae_layer_backward(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx);
/* ae_layer_backward in parts, so that threads can share one layer's backward pass:
 * rows [r0, r1) of the stored dW (ae_layer_dw_rows of them) from all `rows` rows of dZ and X; */
AE_HIDDEN void ae_layer_grad_w(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t r0, size_t r1);
/* db[c0, c1) from all `rows` rows of dZ; */
AE_HIDDEN void ae_layer_grad_b(const ae_layer *l, const float *dz, size_t rows, size_t c0, size_t c1);
/* dX [rows x in] = dZ [rows x out] . W for any block of rows (pointers at its first row);
 * dX's rows are ld_dx >= in floats apart. */
AE_HIDDEN void ae_layer_grad_x(const ae_layer *l, const float *dz, size_t rows, float *dx, size_t ld_dx);
/* Rows of the stored weight: out, or in when the weight is borrowed transposed. */
static inline size_t ae_layer_dw_rows(const ae_layer *l) { return l->w_transposed ? l->in : l->out; }

#endif
