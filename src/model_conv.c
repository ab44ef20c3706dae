/* model_conv: a config's convolutional layers (ae_config.conv): their checks, and the
 * encoder's conv2d layers and the decoder's mirrored conv2d_t layers in the sequence. */
#include "error.h"
#include "model.h"

/* The shape [channels, height, width] after conv layer i (shape 0: the input). */
static void shape_after(const ae_config *c, size_t i, size_t shape[3]) {
    shape[0] = c->input_shape[0];
    shape[1] = c->input_shape[1];
    shape[2] = c->input_shape[2];
    for (size_t j = 0; j < i; j++) {
        const size_t s = c->conv[j].stride;
        shape[0] = c->conv[j].channels;
        shape[1] = (shape[1] + s - 1) / s;
        shape[2] = (shape[2] + s - 1) / s;
    }
}

static int shape_ok(const size_t shape[3]) {
    size_t n;
    return shape[0] >= 1 && shape[1] >= 1 && shape[2] >= 1 && ae_mul_ok(shape[0], shape[1], &n) &&
           ae_mul_ok(n, shape[2], &n) && n <= AE_MAX_WIDTH;
}

int ae_conv_config_check(const ae_config *c) {
    if (c->n_conv == 0) {
        if (c->input_shape[0] || c->input_shape[1] || c->input_shape[2])
            return ae_fail(AE_EINVAL, "input_shape is set but there is no conv layer (n_conv 0)");
        return AE_OK;
    }
    if (c->n_conv > AE_MAX_CONV)
        return ae_fail(AE_EINVAL, "n_conv %zu: at most %d conv layers", c->n_conv, AE_MAX_CONV);
    size_t shape[3];
    shape_after(c, 0, shape);
    if (!shape_ok(shape) || shape[0] * shape[1] * shape[2] != c->input_dim)
        return ae_fail(AE_EINVAL, "input_shape %zux%zux%zu: each side >= 1 and their product input_dim (%zu)", shape[0],
                       shape[1], shape[2], c->input_dim);
    for (size_t i = 0; i < c->n_conv; i++) {
        const ae_conv_spec *v = &c->conv[i];
        if (v->channels < 1 || v->channels > 4096 || v->kernel < 1 || v->kernel > 15 || v->kernel % 2 == 0 ||
            v->stride < 1 || v->stride > 8)
            return ae_fail(AE_EINVAL,
                           "conv layer %zu: %zu channels, kernel %zu, stride %zu (channels 1..4096, an odd kernel "
                           "1..15, stride 1..8)",
                           i + 1, v->channels, v->kernel, v->stride);
        shape_after(c, i + 1, shape);
        if (!shape_ok(shape)) return ae_fail(AE_EINVAL, "conv layer %zu's output is wider than 2^24 floats", i + 1);
    }
    if (c->tied_weights) return ae_fail(AE_EINVAL, "tied_weights is for dense models: a conv model cannot tie them");
    if (c->batch_norm) return ae_fail(AE_EINVAL, "batch_norm is for dense models: not with conv layers");
    return AE_OK;
}

/* Conv layer i of the encoder (forward 1) or its mirror in the decoder. */
static void set_geometry(ae_layer *L, const ae_config *c, size_t i, int forward) {
    size_t a[3], b[3];
    shape_after(c, i, a);
    shape_after(c, i + 1, b);
    const size_t *in = forward ? a : b, *out = forward ? b : a;
    L->c_in = in[0];
    L->h_in = in[1];
    L->w_in = in[2];
    L->c_out = out[0];
    L->h_out = out[1];
    L->w_out = out[2];
    L->kernel = c->conv[i].kernel;
    L->stride = c->conv[i].stride;
}

size_t ae_conv_add_encoder(ae_model *m) {
    const ae_config *c = &m->cfg;
    size_t shape[3];
    for (size_t i = 0; i < c->n_conv; i++) {
        ae_layer *L = ae_model_add_layer(m, &ae_kind_conv2d, 0, 0, c->hidden_act);
        set_geometry(L, c, i, 1);
        L->in = L->c_in * L->h_in * L->w_in;
        L->out = L->c_out * L->h_out * L->w_out;
        ae_model_widen(m, L);
        L->dropout_after = 1;
    }
    shape_after(c, c->n_conv, shape);
    return shape[0] * shape[1] * shape[2];
}

void ae_conv_add_decoder(ae_model *m) {
    const ae_config *c = &m->cfg;
    for (size_t i = c->n_conv; i-- > 0;) {
        ae_layer *L = ae_model_add_layer(m, &ae_kind_conv2d_t, 0, 0, i ? c->hidden_act : c->output_act);
        set_geometry(L, c, i, 0);
        L->in = L->c_in * L->h_in * L->w_in;
        L->out = L->c_out * L->h_out * L->w_out;
        ae_model_widen(m, L);
        L->dropout_after = i != 0;
    }
}
