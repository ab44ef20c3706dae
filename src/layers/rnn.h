/* rnn: what the recurrent kinds (gru.c, lstm.c) share (rnn_common.c). A recurrent layer runs
 * a cell over `steps` steps from a zero state, PyTorch's cells and layout: gates G = 3H (GRU:
 * r, z, n) or 4H (LSTM: i, f, g, o) for a state of H floats. The weight is [G x (F + H)] =
 * [W_ih | W_hh] side by side (row g: gate unit g's input weights, then its recurrent ones),
 * the bias [2 x G] = [b_ih ; b_hh].
 *
 * Each row of a call has its own block of S scratch floats (the pass hands a chunk of rows
 * their blocks, and grad_params all of them); a step's values of a chunk's rows form a matrix
 * with ld S, so every product over a chunk is one sgemm:
 *   xp    [T x G]  the encoder's input projection X_t . W_ih^T of every step (none repeated)
 *   gates [T x G]  the activated gates of each step
 *   aux   [T x H]  GRU: W_hn h_{t-1} + b_hn (read by n's gradient); LSTM: the cell c_t
 *   aux2  [T x H]  LSTM: tanh(c_t)
 *   hprev [T x H]  the state each step starts from (0 at step 0)
 *   gi    [G]      repeat: X . W_ih^T, the same every step
 *   sums  [2G]     backward: dgi and dgh summed over the steps (for the biases' gradients,
 *                  and a repeated layer's dW_ih and dX: its input is every step's)
 *   dgi   [T x G]  backward: dLoss / d(input part of the gates) each step; the forward pass
 *                  keeps the recurrent product W_hh h_{t-1} there until the cell has used it
 *   dgh   [T x G]  GRU: dLoss / d(recurrent part) (n's differs by the factor r); LSTM: dgi
 *   dh    [4H]     backward's running gradients of the state (and of the LSTM's cell) */
#ifndef AE_LAYERS_RNN_H
#define AE_LAYERS_RNN_H

#include "../activation.h"
#include "../layer.h"

typedef struct rnn_geom {
    size_t T, F, H, G, ldw; /* steps, floats a step takes in, state, gate rows, F + H */
    int repeat;
    size_t S; /* scratch floats of a row */
    size_t xp, gates, aux, aux2, hprev, gi, sums, dgi, dgh, dh; /* offsets in a row's block */
} rnn_geom;

/* The geometry of l for a cell of `gates` gate blocks (3: GRU, 4: LSTM). */
AE_HIDDEN rnn_geom ae_rnn_geom(const ae_layer *l, size_t gates);

/* tanh through ae_expf, branch-free so that the cells' loops vectorise: 1 - 2 / (e^2x + 1),
 * within about 1e-7 of tanhf (absolute), exactly +-1 where it saturates. */
AE_INLINE float ae_tanh_fast(float x) { return 1.0f - 2.0f / (ae_expf(2.0f * x) + 1.0f); }

/* A step's matrix of rows rows: floats [off, off + cols) of each row's block. */
static inline ae_mat ae_rnn_view(const rnn_geom *g, float *scratch, size_t off, size_t rows, size_t cols) {
    return (ae_mat){rows, cols, g->S, scratch + off};
}

/* Shared kind entries: shapes, PyTorch's init (every weight and bias U(-1/sqrt(H), 1/sqrt(H))),
 * scratch, the gate rows that grad_params slices, the products' cost. */
AE_HIDDEN void ae_rnn_shape(const ae_layer *l, int t, size_t *rows, size_t *cols);
AE_HIDDEN void ae_rnn_init(ae_layer *l, ae_rng *rng);
AE_HIDDEN size_t ae_rnn_gate_rows(const ae_layer *l);
AE_HIDDEN size_t ae_gru_scratch(const ae_layer *l, size_t rows);
AE_HIDDEN size_t ae_lstm_scratch(const ae_layer *l, size_t rows);
AE_HIDDEN double ae_gru_mnk(const ae_layer *l, size_t rows);
AE_HIDDEN double ae_lstm_mnk(const ae_layer *l, size_t rows);

/* Forward's products for the rows of a call: the input projection of every step (encoder:
 * xp_t = X_t . W_ih^T; repeat: gi = X . W_ih^T once). */
AE_HIDDEN void ae_rnn_project_input(const rnn_geom *g, const ae_layer *l, const float *x, size_t rows, float *scratch);
/* Step t's recurrent product into dgi_t: W_hh h_{t-1} (t > 0; the caller treats step 0's as 0). */
AE_HIDDEN void ae_rnn_project_state(const rnn_geom *g, const ae_layer *l, size_t t, size_t rows, float *scratch);
/* The input projection's row for step t of row block `row` (xp_t, or gi when repeated). */
static inline const float *ae_rnn_gi(const rnn_geom *g, const float *row, size_t t) {
    return g->repeat ? row + g->gi : row + g->xp + t * g->G;
}
/* Backward's running state gradient for step t in a row's block: the two halves of the dh
 * region alternate, so that step t reads dLoss/dh_t at dh_at(t) and writes dLoss/dh_{t-1} at
 * dh_at(t - 1); an LSTM's cell gradient likewise, 2H further on. */
static inline size_t ae_rnn_dh_at(const rnn_geom *g, size_t t) { return g->dh + ((g->T - 1 - t) & 1) * g->H; }
/* Forward's bookkeeping around the cell of step t for one row block: where the cell writes
 * h_t (the next step's hprev, or the output), then the copy to the output of a repeated
 * layer's every state. */
static inline float *ae_rnn_h_dst(const rnn_geom *g, float *row, float *y_row, size_t t) {
    return t + 1 < g->T ? row + g->hprev + (t + 1) * g->H : g->repeat ? y_row + t * g->H : y_row;
}
/* Backward's products: dh_{t-1} [rows x H] (+)= dgh_t . W_hh (the dh region's second half);
 * after the steps, dX (when dx is not NULL) and, repeated, the step sum of dgi into gi. */
AE_HIDDEN void ae_rnn_back_state(const rnn_geom *g, const ae_layer *l, size_t t, size_t rows, float *scratch);
AE_HIDDEN void ae_rnn_back_input(const rnn_geom *g, const ae_layer *l, size_t rows, float *dx, size_t ld_dx,
                                 float *scratch);
/* Backward, after step t's cell for one row block: adds dgi_t and dgh_t into the sums (the
 * first step backward, T - 1, sets them). */
AE_HIDDEN void ae_rnn_sum_step(const rnn_geom *g, float *row, size_t t);
/* The kinds' grad_params: dW_ih, dW_hh, db_ih, db_hh for gate rows slice s of `slices`, from
 * every row's dgi, dgh and their step sums (grad_input leaves them). */
AE_HIDDEN void ae_rnn_grad_params(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t s,
                                  size_t slices, size_t chunks, float *scratch);

#endif
