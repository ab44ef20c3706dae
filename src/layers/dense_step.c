/* dense_step: one dense layer applied to every step of a sequence (torch.nn.Linear on a
 * [batch, steps, step_in] tensor): a row of steps x step_in floats goes in, steps x width come
 * out, Y_t = act(X_t . W^T + b) with W [width x step_in], b [width]. As the rows are step-major,
 * `rows` rows of the sequence layer are rows x steps rows of the dense layer, so every product
 * is the dense kind's over rows x steps rows. */
#include "../layer.h"

#include "../pool.h"

/* The dense layer of one step, pointing at l's tensors. */
static ae_layer per_step(const ae_layer *l) {
    ae_layer s = *l;
    s.kind = &ae_kind_dense;
    s.in = l->step_in;
    s.out = l->width;
    s.w_transposed = 0;
    s.grad_accumulate = 0;
    return s;
}

static void step_shape(const ae_layer *l, int t, size_t *rows, size_t *cols) {
    *rows = l->width;
    *cols = t == 0 ? l->step_in : 0;
}

static void step_init(ae_layer *l, ae_rng *rng) {
    ae_layer s = per_step(l);
    ae_kind_dense.init(&s, rng);
}

/* The bias is not left to the loss (it is per step's column, not per output column): with_act
 * 0 adds it and leaves only act. */
static void step_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act, int train,
                         float *scratch) {
    (void)train;
    (void)scratch;
    const ae_layer s = per_step(l);
    /* Y [rows steps x width] = act(X [rows steps x step_in] . W^T + b) */
    ae_layer_forward(&s, x, rows * l->steps, y, with_act);
    if (!with_act) ae_bias_act(y, l->b, rows * l->steps, l->width, AE_ACT_LINEAR);
}

static void step_grad_params(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t sl, size_t slices,
                             size_t chunks, float *scratch) {
    (void)chunks;
    (void)scratch;
    const ae_layer s = per_step(l);
    size_t r0, r1;
    ae_split(l->width, (int)sl, (int)slices, 16, &r0, &r1);
    /* dW[r0:r1] = dZ[:, r0:r1]^T . X over rows x steps rows; db[r0:r1] their column sums */
    ae_layer_grad_w(&s, x, dz, rows * l->steps, r0, r1);
    ae_layer_grad_b(&s, dz, rows * l->steps, r0, r1);
}

static size_t step_param_rows(const ae_layer *l) { return l->width; }

static void step_grad_input(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                            float *scratch) {
    (void)x;
    (void)scratch;
    const ae_layer s = per_step(l);
    if (ld_dx == l->in) { /* dX [rows steps x step_in] = dZ [rows steps x width] . W */
        ae_layer_grad_x(&s, dz, rows * l->steps, dx, l->step_in);
        return;
    }
    for (size_t i = 0; i < rows; i++) ae_layer_grad_x(&s, dz + i * l->out, l->steps, dx + i * ld_dx, l->step_in);
}

static double step_mnk(const ae_layer *l, size_t rows) {
    return (double)rows * (double)l->steps * (double)l->step_in * (double)l->width;
}

const ae_kind ae_kind_dense_step = {
    .name = "dense_step",
    .shape = step_shape,
    .tensor_name = {"weight", "bias"},
    .n_stat = 0,
    .scratch_floats = NULL,
    .init = step_init,
    .forward = step_forward,
    .grad_params = step_grad_params,
    .param_rows = step_param_rows,
    .grad_input = step_grad_input,
    .forward_cols = NULL,
    .grad_input_cols = NULL,
    .batch_whole = 0,
    .fused_bias = 0,
    .gemm_mnk = step_mnk,
    .input_first = 0,
};
