/* rnn_common: the products and bookkeeping the GRU and LSTM kinds share (rnn.h). Every
 * product is over the rows of a call at once: a step's values of those rows are a matrix with
 * ld S (each row's scratch block), so the recurrence is one sgemm a step, not one a row. */
#include "rnn.h"

#include <math.h>
#include <string.h>

#include "../pool.h"

rnn_geom ae_rnn_geom(const ae_layer *l, size_t gates) {
    rnn_geom g;
    g.T = l->steps;
    g.F = l->step_in;
    g.H = l->width;
    g.G = gates * g.H;
    g.ldw = g.F + g.H;
    g.repeat = l->repeat;
    const size_t TH = g.T * g.H, TG = g.T * g.G;
    size_t o = 0;
    g.xp = o;
    o += g.repeat ? 0 : TG;
    g.gates = o;
    o += TG;
    g.aux = o;
    o += TH;
    g.aux2 = o;
    o += gates == 4 ? TH : 0;
    g.hprev = o;
    o += TH;
    g.gi = o;
    o += g.G;
    g.sums = o;
    o += 2 * g.G;
    g.dgi = o;
    o += TG;
    g.dgh = gates == 4 ? g.dgi : o; /* an LSTM's gates take h_{t-1} and x_t alike */
    o += gates == 4 ? 0 : TG;
    g.dh = o;
    o += 4 * g.H;
    g.S = (o + 15) & ~(size_t)15; /* each block on a 64-byte line */
    return g;
}

void ae_rnn_shape(const ae_layer *l, int t, size_t *rows, size_t *cols) {
    const size_t G = (l->kind == &ae_kind_lstm ? 4 : 3) * l->width;
    *rows = t == 0 ? G : 2;
    *cols = t == 0 ? l->step_in + l->width : G;
}

/* torch.nn.GRU / LSTM's reset_parameters: every weight and bias U(-1/sqrt(H), 1/sqrt(H)). */
void ae_rnn_init(ae_layer *l, ae_rng *rng) {
    const double bound = 1.0 / sqrt((double)l->width);
    const size_t nw = ae_layer_tensor_floats(l, 0), nb = ae_layer_tensor_floats(l, 1);
    for (size_t i = 0; i < nw; i++) l->w[i] = (float)((2.0 * ae_rng_uniform(rng) - 1.0) * bound);
    for (size_t i = 0; i < nb; i++) l->b[i] = (float)((2.0 * ae_rng_uniform(rng) - 1.0) * bound);
}

size_t ae_rnn_gate_rows(const ae_layer *l) { return (l->kind == &ae_kind_lstm ? 4 : 3) * l->width; }

size_t ae_gru_scratch(const ae_layer *l, size_t rows) { return rows * ae_rnn_geom(l, 3).S; }
size_t ae_lstm_scratch(const ae_layer *l, size_t rows) { return rows * ae_rnn_geom(l, 4).S; }

/* Multiply-adds of the forward products: the input projection (every step, or once when
 * repeated) and the recurrent one of every step but the first. */
static double rnn_mnk(const ae_layer *l, size_t rows, size_t gates) {
    const double G = (double)(gates * l->width), T = (double)l->steps;
    const double input = (l->repeat ? 1.0 : T) * G * (double)l->step_in;
    return (double)rows * (input + (T - 1.0) * G * (double)l->width);
}
double ae_gru_mnk(const ae_layer *l, size_t rows) { return rnn_mnk(l, rows, 3); }
double ae_lstm_mnk(const ae_layer *l, size_t rows) { return rnn_mnk(l, rows, 4); }

void ae_rnn_project_input(const rnn_geom *g, const ae_layer *l, const float *x, size_t rows, float *scratch) {
    ae_mat Wih = {g->G, g->F, g->ldw, l->w};
    if (g->repeat) {
        /* gi [rows x G] = X [rows x F] . W_ih^T, W_ih [G x F] (ld F + H) */
        ae_mat X = ae_mat_view((float *)x, rows, g->F), Gi = ae_rnn_view(g, scratch, g->gi, rows, g->G);
        ae_gemm(0, 1, 1.0f, &X, &Wih, 0.0f, &Gi);
        return;
    }
    for (size_t t = 0; t < g->T; t++) {
        /* xp_t [rows x G] = X_t [rows x F] (ld T F) . W_ih^T */
        ae_mat X = {rows, g->F, g->T * g->F, (float *)x + t * g->F};
        ae_mat Gt = ae_rnn_view(g, scratch, g->xp + t * g->G, rows, g->G);
        ae_gemm(0, 1, 1.0f, &X, &Wih, 0.0f, &Gt);
    }
}

void ae_rnn_project_state(const rnn_geom *g, const ae_layer *l, size_t t, size_t rows, float *scratch) {
    /* dgi_t [rows x G] = h_{t-1} [rows x H] . W_hh^T, W_hh [G x H] (ld F + H) */
    ae_mat Whh = {g->G, g->H, g->ldw, l->w + g->F};
    ae_mat Hp = ae_rnn_view(g, scratch, g->hprev + t * g->H, rows, g->H);
    ae_mat Gh = ae_rnn_view(g, scratch, g->dgi + t * g->G, rows, g->G);
    ae_gemm(0, 1, 1.0f, &Hp, &Whh, 0.0f, &Gh);
}

void ae_rnn_back_state(const rnn_geom *g, const ae_layer *l, size_t t, size_t rows, float *scratch) {
    /* dh_{t-1} [rows x H] += dgh_t [rows x G] . W_hh [G x H] */
    ae_mat Whh = {g->G, g->H, g->ldw, l->w + g->F};
    ae_mat dG = ae_rnn_view(g, scratch, g->dgh + t * g->G, rows, g->G);
    ae_mat dH = ae_rnn_view(g, scratch, ae_rnn_dh_at(g, t - 1), rows, g->H);
    ae_gemm(0, 0, 1.0f, &dG, &Whh, 1.0f, &dH);
}

void ae_rnn_back_input(const rnn_geom *g, const ae_layer *l, size_t rows, float *dx, size_t ld_dx, float *scratch) {
    ae_mat Wih = {g->G, g->F, g->ldw, l->w};
    if (g->repeat) {
        if (!dx) return;
        /* dX [rows x F] = (sum over t of dgi_t) [rows x G] . W_ih [G x F] */
        ae_mat Gi = ae_rnn_view(g, scratch, g->sums, rows, g->G), dX = {rows, g->F, ld_dx, dx};
        ae_gemm(0, 0, 1.0f, &Gi, &Wih, 0.0f, &dX);
        return;
    }
    for (size_t t = 0; dx && t < g->T; t++) {
        /* dX_t [rows x F] (ld ld_dx) = dgi_t [rows x G] . W_ih [G x F] */
        ae_mat dG = ae_rnn_view(g, scratch, g->dgi + t * g->G, rows, g->G);
        ae_mat dX = {rows, g->F, ld_dx, dx + t * g->F};
        ae_gemm(0, 0, 1.0f, &dG, &Wih, 0.0f, &dX);
    }
}

AE_VECTOR_CLONES void ae_rnn_sum_step(const rnn_geom *g, float *row, size_t t) {
    float *restrict si = row + g->sums, *restrict sh = si + g->G;
    const float *restrict di = row + g->dgi + t * g->G, *restrict dh = row + g->dgh + t * g->G;
    if (t + 1 == g->T) {
        memcpy(si, di, g->G * sizeof(float));
        memcpy(sh, dh, g->G * sizeof(float));
        return;
    }
    for (size_t j = 0; j < g->G; j++) si[j] += di[j];
    for (size_t j = 0; j < g->G; j++) sh[j] += dh[j];
}

/* db[g0, g1) of both biases: the rows' step sums, added in row order. */
AE_VECTOR_CLONES static void grad_biases(const rnn_geom *g, const ae_layer *l, size_t rows, size_t g0, size_t g1,
                                         const float *scratch) {
    float *restrict dbi = l->db + g0, *restrict dbh = l->db + g->G + g0;
    const size_t n = g1 - g0;
    memset(dbi, 0, n * sizeof(float));
    memset(dbh, 0, n * sizeof(float));
    for (size_t i = 0; i < rows; i++) {
        const float *restrict si = scratch + i * g->S + g->sums + g0, *restrict sh = si + g->G;
        for (size_t j = 0; j < n; j++) dbi[j] += si[j];
        for (size_t j = 0; j < n; j++) dbh[j] += sh[j];
    }
}

void ae_rnn_grad_params(const ae_layer *l, const float *x, const float *dz, size_t rows, size_t s, size_t slices,
                        size_t chunks, float *scratch) {
    (void)chunks;
    (void)dz;
    const rnn_geom geom = ae_rnn_geom(l, l->kind == &ae_kind_lstm ? 4 : 3), *g = &geom;
    size_t g0, g1;
    ae_split(g->G, (int)s, (int)slices, 16, &g0, &g1);
    if (g1 <= g0) return;
    const size_t n = g1 - g0;
    float *sc = scratch;
    ae_mat dWih = {n, g->F, g->ldw, l->dw + g0 * g->ldw}, dWhh = {n, g->H, g->ldw, l->dw + g0 * g->ldw + g->F};
    if (g->repeat) {
        /* dW_ih[g0:g1] [n x F] = (sum over t of dgi_t)[:, g0:g1]^T [n x rows] . X [rows x F] */
        ae_mat Gi = ae_rnn_view(g, sc, g->sums + g0, rows, n), X = ae_mat_view((float *)x, rows, g->F);
        ae_gemm(1, 0, 1.0f, &Gi, &X, 0.0f, &dWih);
    } else {
        for (size_t t = 0; t < g->T; t++) {
            /* dW_ih[g0:g1] [n x F] (+)= dgi_t[:, g0:g1]^T [n x rows] . X_t [rows x F] (ld T F) */
            ae_mat dG = ae_rnn_view(g, sc, g->dgi + t * g->G + g0, rows, n);
            ae_mat X = {rows, g->F, g->T * g->F, (float *)x + t * g->F};
            ae_gemm(1, 0, 1.0f, &dG, &X, t ? 1.0f : 0.0f, &dWih);
        }
    }
    for (size_t i = 0; g->T == 1 && i < n; i++) memset(dWhh.data + i * g->ldw, 0, g->H * sizeof(float));
    for (size_t t = 1; t < g->T; t++) {
        /* dW_hh[g0:g1] [n x H] (+)= dgh_t[:, g0:g1]^T [n x rows] . h_{t-1} [rows x H] (h_{-1} = 0) */
        ae_mat dG = ae_rnn_view(g, sc, g->dgh + t * g->G + g0, rows, n);
        ae_mat Hp = ae_rnn_view(g, sc, g->hprev + t * g->H, rows, g->H);
        ae_gemm(1, 0, 1.0f, &dG, &Hp, t > 1 ? 1.0f : 0.0f, &dWhh);
    }
    grad_biases(g, l, rows, g0, g1, scratch);
}
