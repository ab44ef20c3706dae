/* gru: torch.nn.GRU's cell over the steps of a row (rnn.h has the layout), from h_{-1} = 0:
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r (W_hn h + b_hn))
 *   h' = (1 - z) n + z h
 * Backward through time, per step from the last, with dh = dLoss/dh_t:
 *   dn^ = dh (1 - z) (1 - n^2)        (n's pre-activation)
 *   dz^ = dh (h - n) z (1 - z)
 *   dr^ = dn^ (W_hn h + b_hn) r (1 - r)
 *   input part [dr^, dz^, dn^]; recurrent part [dr^, dz^, r dn^]
 *   dh_{t-1} = dh z + recurrent part . W_hh */
#include "rnn.h"

#include <string.h>

/* One step of one row: the gates from the input part gi and the recurrent part gh (both
 * without bias), the state hp it starts from; writes [r, z, n], W_hn h + b_hn and h'. */
AE_VECTOR_CLONES static void cell(size_t H, const float *restrict b, const float *restrict gi, const float *restrict gh,
                                  const float *restrict hp, float *restrict gates, float *restrict hn_out,
                                  float *restrict h) {
    const float *bi = b, *bh = b + 3 * H;
    for (size_t j = 0; j < H; j++) {
        const float r = ae_sigmoidf(gi[j] + bi[j] + (gh[j] + bh[j]));
        const float z = ae_sigmoidf(gi[H + j] + bi[H + j] + (gh[H + j] + bh[H + j]));
        const float hn = gh[2 * H + j] + bh[2 * H + j];
        const float n = ae_tanh_fast(gi[2 * H + j] + bi[2 * H + j] + r * hn);
        gates[j] = r;
        gates[H + j] = z;
        gates[2 * H + j] = n;
        hn_out[j] = hn;
        h[j] = (1.0f - z) * n + z * hp[j];
    }
}

static void gru_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act, int train,
                        float *scratch) {
    (void)with_act; /* the state is the output: no activation of its own */
    (void)train;
    const rnn_geom g = ae_rnn_geom(l, 3);
    ae_rnn_project_input(&g, l, x, rows, scratch);
    for (size_t t = 0; t < g.T; t++) {
        if (t) ae_rnn_project_state(&g, l, t, rows, scratch);
        for (size_t i = 0; i < rows; i++) {
            float *row = scratch + i * g.S, *y_row = y + i * l->out;
            float *gh = row + g.dgi + t * g.G;
            if (!t) { /* h_{-1} = 0: no recurrent product */
                memset(gh, 0, g.G * sizeof(float));
                memset(row + g.hprev, 0, g.H * sizeof(float));
            }
            float *h = ae_rnn_h_dst(&g, row, y_row, t);
            cell(g.H, l->b, ae_rnn_gi(&g, row, t), gh, row + g.hprev + t * g.H, row + g.gates + t * g.G,
                 row + g.aux + t * g.H, h);
            if (g.repeat && t + 1 < g.T) memcpy(y_row + t * g.H, h, g.H * sizeof(float));
        }
    }
}

/* One step of one row backward: dh = dLoss/dh_t in, the gates' gradients and dh z out. */
AE_VECTOR_CLONES static void cell_back(size_t H, const float *restrict gates, const float *restrict hn,
                                       const float *restrict hp, const float *restrict dh, float *restrict dgi,
                                       float *restrict dgh, float *restrict dprev) {
    for (size_t j = 0; j < H; j++) {
        const float r = gates[j], z = gates[H + j], n = gates[2 * H + j], d = dh[j];
        const float dn = d * (1.0f - z) * (1.0f - n * n);
        const float dz = d * (hp[j] - n) * (z * (1.0f - z));
        const float dr = dn * hn[j] * (r * (1.0f - r));
        dgi[j] = dgh[j] = dr;
        dgi[H + j] = dgh[H + j] = dz;
        dgi[2 * H + j] = dn;
        dgh[2 * H + j] = dn * r;
        dprev[j] = d * z;
    }
}

/* Backpropagation through time for the rows of a call: every step's gate gradients into the
 * scratch (for grad_params), and dX when dx is not NULL. */
static void gru_grad_input(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                           float *scratch) {
    (void)x;
    const rnn_geom g = ae_rnn_geom(l, 3);
    for (size_t i = 0; i < rows; i++) { /* dLoss/dh_{T-1}: the output's, or (repeat) 0 plus step T-1's */
        float *d = scratch + i * g.S + ae_rnn_dh_at(&g, g.T - 1);
        if (g.repeat)
            memset(d, 0, g.H * sizeof(float));
        else
            memcpy(d, dz + i * l->out, g.H * sizeof(float));
    }
    for (size_t t = g.T; t-- > 0;) {
        for (size_t i = 0; i < rows; i++) {
            float *row = scratch + i * g.S, *d = row + ae_rnn_dh_at(&g, t);
            if (g.repeat)
                for (size_t j = 0; j < g.H; j++) d[j] += dz[i * l->out + t * g.H + j];
            cell_back(g.H, row + g.gates + t * g.G, row + g.aux + t * g.H, row + g.hprev + t * g.H, d,
                      row + g.dgi + t * g.G, row + g.dgh + t * g.G, row + ae_rnn_dh_at(&g, t ? t - 1 : 1));
            ae_rnn_sum_step(&g, row, t);
        }
        if (t) ae_rnn_back_state(&g, l, t, rows, scratch);
    }
    ae_rnn_back_input(&g, l, rows, dx, ld_dx, scratch);
}

const ae_kind ae_kind_gru = {
    .name = "gru",
    .shape = ae_rnn_shape,
    .tensor_name = {"weight", "bias"},
    .n_stat = 0,
    .scratch_floats = ae_gru_scratch,
    .init = ae_rnn_init,
    .forward = gru_forward,
    .grad_params = ae_rnn_grad_params,
    .param_rows = ae_rnn_gate_rows,
    .grad_input = gru_grad_input,
    .forward_cols = NULL,
    .grad_input_cols = NULL,
    .batch_whole = 0,
    .fused_bias = 0,
    .gemm_mnk = ae_gru_mnk,
    .input_first = 1,
};
