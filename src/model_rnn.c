/* model_rnn: a config's recurrent sequence autoencoder (ae_config.rnn): its checks, and its
 * layers: the encoder's recurrent layer and code layer, the decoder's repeated recurrent
 * layer and per-step output layer. */
#include "error.h"
#include "model.h"

#define AE_MAX_STEPS 65536

int ae_rnn_config_check(const ae_config *c) {
    if (c->rnn == AE_RNN_NONE) {
        if (c->seq_len || c->seq_features)
            return ae_fail(AE_EINVAL, "seq_len / seq_features are set but rnn is AE_RNN_NONE (not a sequence model)");
        return AE_OK;
    }
    if (c->rnn != AE_RNN_GRU && c->rnn != AE_RNN_LSTM)
        return ae_fail(AE_EINVAL, "rnn %d is not a cell (AE_RNN_NONE, AE_RNN_GRU, AE_RNN_LSTM)", (int)c->rnn);
    size_t n;
    if (c->seq_len < 1 || c->seq_len > AE_MAX_STEPS || c->seq_features < 1 ||
        !ae_mul_ok(c->seq_len, c->seq_features, &n) || n != c->input_dim)
        return ae_fail(AE_EINVAL,
                       "seq_len %zu x seq_features %zu: each >= 1, seq_len <= %d, and their product input_dim (%zu)",
                       c->seq_len, c->seq_features, AE_MAX_STEPS, c->input_dim);
    if (c->n_hidden != 1)
        return ae_fail(AE_EINVAL, "a recurrent model takes one hidden width, its cell's state (n_hidden 1, not %zu)",
                       c->n_hidden);
    if (!ae_mul_ok(c->seq_len, c->hidden[0], &n) || n > AE_MAX_WIDTH)
        return ae_fail(AE_EINVAL, "seq_len x hidden width (%zu x %zu) is above 2^24 floats", c->seq_len, c->hidden[0]);
    if (c->n_conv) return ae_fail(AE_EINVAL, "a model is convolutional or recurrent, not both");
    if (c->tied_weights)
        return ae_fail(AE_EINVAL, "tied_weights is for dense models: a recurrent model cannot tie them");
    if (c->batch_norm) return ae_fail(AE_EINVAL, "batch_norm is for dense models: not with a recurrent cell");
    return AE_OK;
}

static ae_layer *add_rnn(ae_model *m, size_t steps, size_t step_in, int repeat) {
    const ae_config *c = &m->cfg;
    const size_t H = c->hidden[0];
    ae_layer *L = ae_model_add_layer(m, c->rnn == AE_RNN_LSTM ? &ae_kind_lstm : &ae_kind_gru,
                                     repeat ? step_in : steps * step_in, repeat ? steps * H : H, AE_ACT_LINEAR);
    L->steps = steps;
    L->step_in = step_in;
    L->width = H;
    L->repeat = repeat;
    L->dropout_after = 1;
    ae_model_widen(m, L);
    return L;
}

void ae_rnn_build(ae_model *m) {
    const ae_config *c = &m->cfg;
    const size_t T = c->seq_len, F = c->seq_features, H = c->hidden[0], k = c->code_dim;
    (void)add_rnn(m, T, F, 0);
    (void)ae_model_add_layer(m, &ae_kind_dense, H, c->variational ? 2 * k : k, c->code_act);
    m->n_enc = m->n_layers;
    (void)add_rnn(m, T, k, 1);
    ae_layer *out = ae_model_add_layer(m, &ae_kind_dense_step, T * H, T * F, c->output_act);
    out->steps = T;
    out->step_in = H;
    out->width = F;
}
