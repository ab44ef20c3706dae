/* lstm: torch.nn.LSTM's cell over the steps of a row (rnn.h has the layout), from h_{-1} =
 * c_{-1} = 0, with a = W_ih x + b_ih + W_hh h + b_hh split into four blocks of H:
 *   i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
 *   c' = f c + i g,  h' = o tanh(c')
 * Backward through time, per step from the last, with dh = dLoss/dh_t, dc = dLoss/dc_t from
 * the step after:
 *   dc~ = dc + dh o (1 - tanh(c')^2)
 *   da = [dc~ g i (1 - i), dc~ c f (1 - f), dc~ i (1 - g^2), dh tanh(c') o (1 - o)]
 *   dc_{t-1} = dc~ f,  dh_{t-1} = da . W_hh
 * The input and recurrent parts share da (rnn.h: dgh is dgi). */
#include "rnn.h"

#include <string.h>

/* One step of one row: gates from gi and gh (no bias), the cell cp it starts from; writes
 * [i, f, g, o], c', tanh(c') and h'. */
AE_VECTOR_CLONES static void cell(size_t H, const float *restrict b, const float *restrict gi, const float *restrict gh,
                                  const float *restrict cp, float *restrict gates, float *restrict c,
                                  float *restrict tc, float *restrict h) {
    const float *bi = b, *bh = b + 4 * H;
    for (size_t j = 0; j < H; j++) {
        const float ig = ae_sigmoidf(gi[j] + bi[j] + (gh[j] + bh[j]));
        const float fg = ae_sigmoidf(gi[H + j] + bi[H + j] + (gh[H + j] + bh[H + j]));
        const float gg = ae_tanh_fast(gi[2 * H + j] + bi[2 * H + j] + (gh[2 * H + j] + bh[2 * H + j]));
        const float og = ae_sigmoidf(gi[3 * H + j] + bi[3 * H + j] + (gh[3 * H + j] + bh[3 * H + j]));
        const float cj = fg * cp[j] + ig * gg, tj = ae_tanh_fast(cj);
        gates[j] = ig;
        gates[H + j] = fg;
        gates[2 * H + j] = gg;
        gates[3 * H + j] = og;
        c[j] = cj;
        tc[j] = tj;
        h[j] = og * tj;
    }
}

static void lstm_forward(const ae_layer *l, const float *x, size_t rows, float *y, int with_act, int train,
                         float *scratch) {
    (void)with_act;
    (void)train;
    const rnn_geom g = ae_rnn_geom(l, 4);
    ae_rnn_project_input(&g, l, x, rows, scratch);
    for (size_t t = 0; t < g.T; t++) {
        if (t) ae_rnn_project_state(&g, l, t, rows, scratch);
        for (size_t i = 0; i < rows; i++) {
            float *row = scratch + i * g.S, *y_row = y + i * l->out;
            float *gh = row + g.dgi + t * g.G;
            if (!t) { /* h_{-1} = c_{-1} = 0: no recurrent product; hprev_0 serves as c_{-1} */
                memset(gh, 0, g.G * sizeof(float));
                memset(row + g.hprev, 0, g.H * sizeof(float));
            }
            const float *cp = t ? row + g.aux + (t - 1) * g.H : row + g.hprev;
            float *h = ae_rnn_h_dst(&g, row, y_row, t);
            cell(g.H, l->b, ae_rnn_gi(&g, row, t), gh, cp, row + g.gates + t * g.G, row + g.aux + t * g.H,
                 row + g.aux2 + t * g.H, h);
            if (g.repeat && t + 1 < g.T) memcpy(y_row + t * g.H, h, g.H * sizeof(float));
        }
    }
}

/* One step of one row backward: dh, dc in; da, dc_{t-1} out, and dh_{t-1} zeroed for the
 * recurrent product to add to. */
AE_VECTOR_CLONES static void cell_back(size_t H, const float *restrict gates, const float *restrict cp,
                                       const float *restrict tc, const float *restrict dh, const float *restrict dc,
                                       float *restrict da, float *restrict dh_prev, float *restrict dc_prev) {
    for (size_t j = 0; j < H; j++) {
        const float ig = gates[j], fg = gates[H + j], gg = gates[2 * H + j], og = gates[3 * H + j];
        const float t = tc[j], d = dh[j];
        const float dct = dc[j] + d * og * (1.0f - t * t);
        da[j] = dct * gg * (ig * (1.0f - ig));
        da[H + j] = dct * cp[j] * (fg * (1.0f - fg));
        da[2 * H + j] = dct * ig * (1.0f - gg * gg);
        da[3 * H + j] = d * t * (og * (1.0f - og));
        dc_prev[j] = dct * fg;
        dh_prev[j] = 0.0f;
    }
}

static void lstm_grad_input(const ae_layer *l, const float *x, const float *dz, size_t rows, float *dx, size_t ld_dx,
                            float *scratch) {
    (void)x;
    const rnn_geom g = ae_rnn_geom(l, 4);
    const size_t last = ae_rnn_dh_at(&g, g.T - 1);
    for (size_t i = 0; i < rows; i++) { /* dLoss/dh_{T-1} (the output's, or 0) and dLoss/dc_{T-1} = 0 */
        float *row = scratch + i * g.S;
        if (g.repeat)
            memset(row + last, 0, g.H * sizeof(float));
        else
            memcpy(row + last, dz + i * l->out, g.H * sizeof(float));
        memset(row + last + 2 * g.H, 0, g.H * sizeof(float));
    }
    for (size_t t = g.T; t-- > 0;) {
        const size_t cur = ae_rnn_dh_at(&g, t), prev = ae_rnn_dh_at(&g, t ? t - 1 : 1);
        for (size_t i = 0; i < rows; i++) {
            float *row = scratch + i * g.S, *d = row + cur;
            if (g.repeat)
                for (size_t j = 0; j < g.H; j++) d[j] += dz[i * l->out + t * g.H + j];
            const float *cp = t ? row + g.aux + (t - 1) * g.H : row + g.hprev; /* c_{-1} = 0 */
            cell_back(g.H, row + g.gates + t * g.G, cp, row + g.aux2 + t * g.H, d, d + 2 * g.H, row + g.dgi + t * g.G,
                      row + prev, row + prev + 2 * g.H);
            ae_rnn_sum_step(&g, row, t);
        }
        if (t) ae_rnn_back_state(&g, l, t, rows, scratch);
    }
    ae_rnn_back_input(&g, l, rows, dx, ld_dx, scratch);
}

const ae_kind ae_kind_lstm = {
    .name = "lstm",
    .shape = ae_rnn_shape,
    .tensor_name = {"weight", "bias"},
    .n_stat = 0,
    .scratch_floats = ae_lstm_scratch,
    .init = ae_rnn_init,
    .forward = lstm_forward,
    .grad_params = ae_rnn_grad_params,
    .param_rows = ae_rnn_gate_rows,
    .grad_input = lstm_grad_input,
    .forward_cols = NULL,
    .grad_input_cols = NULL,
    .batch_whole = 0,
    .fused_bias = 0,
    .gemm_mnk = ae_lstm_mnk,
    .input_first = 1,
};
