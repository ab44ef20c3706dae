/* gemm_floor: the GEMM-only epoch of ae_bench (gemm_floor.h). */
#define _POSIX_C_SOURCE 200809L
#include "gemm_floor.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"
#include "timing.h"

static size_t product(const size_t s[3]) { return s[0] * s[1] * s[2]; }

static void add(gemm_floor *g, floor_kind kind, size_t in, size_t out, size_t wr, size_t K, size_t P) {
    g->layer[g->n_layers++] = (floor_layer){kind, in, out, wr, K, P};
}

/* The sequence src/model.c and src/model_conv.c build: conv layers, dense encoder to the code,
 * dense decoder back to the conv output (or the input), transposed convs. */
static void plan(gemm_floor *g, const ae_config *c) {
    size_t s[AE_MAX_CONV + 1][3], width[AE_MAX_HIDDEN + 2];
    memcpy(s[0], c->input_shape, sizeof s[0]);
    for (size_t i = 0; i < c->n_conv; i++) {
        const size_t st = c->conv[i].stride, k = c->conv[i].kernel;
        s[i + 1][0] = c->conv[i].channels;
        s[i + 1][1] = (s[i][1] + st - 1) / st;
        s[i + 1][2] = (s[i][2] + st - 1) / st;
        add(g, FLOOR_CONV, product(s[i]), product(s[i + 1]), s[i + 1][0], s[i][0] * k * k, s[i + 1][1] * s[i + 1][2]);
    }
    const size_t nh = c->n_hidden;
    width[0] = c->n_conv ? product(s[c->n_conv]) : c->input_dim;
    for (size_t i = 0; i < nh; i++) width[i + 1] = c->hidden[i];
    width[nh + 1] = c->code_dim;
    for (size_t i = 0; i <= nh; i++)
        add(g, FLOOR_DENSE, width[i], i == nh && c->variational ? 2 * width[i + 1] : width[i + 1], 0, 0, 0);
    for (size_t i = nh + 1; i > 0; i--) add(g, FLOOR_DENSE, width[i], width[i - 1], 0, 0, 0);
    for (size_t i = c->n_conv; i-- > 0;) {
        const size_t k = c->conv[i].kernel;
        add(g, FLOOR_CONV_T, product(s[i + 1]), product(s[i]), s[i + 1][0], s[i][0] * k * k, s[i + 1][1] * s[i + 1][2]);
    }
}

static size_t weight_floats(const floor_layer *L) { return L->kind == FLOOR_DENSE ? L->in * L->out : L->wr * L->K; }

static float *filled(size_t count, float scale, uint64_t *rng) {
    float *p = malloc((count ? count : 1) * sizeof *p);
    if (p)
        for (size_t i = 0; i < count; i++) p[i] = (float)(scale * (2.0 * synth_uniform(rng) - 1.0));
    return p;
}

void gemm_floor_free(gemm_floor *g) {
    for (size_t l = 0; l <= FLOOR_MAX_LAYERS; l++) free(g->act[l]);
    for (size_t l = 0; l < FLOOR_MAX_LAYERS; l++) {
        free(g->w[l]);
        free(g->dw[l]);
        free(g->cols[l]);
        free(g->dcols[l]);
    }
    free(g->dz_out);
    free(g->delta[0]);
    free(g->delta[1]);
    memset(g, 0, sizeof *g);
}

int gemm_floor_init(gemm_floor *g, const ae_config *c, size_t cap) {
    memset(g, 0, sizeof *g);
    plan(g, c);
    g->cap = cap;
    uint64_t rng = 12345;
    size_t maxw = g->layer[0].in;
    int ok = (g->act[0] = filled(cap * maxw, 1.0f, &rng)) != NULL;
    /* Values in the ranges training sees, so that no NaN, Inf or denormal can slow a kernel:
     * inputs in [-1,1], weights +-1/sqrt(fan in), a small loss gradient. */
    for (size_t l = 0; l < g->n_layers; l++) {
        const floor_layer *L = &g->layer[l];
        maxw = L->out > maxw ? L->out : maxw;
        const float scale = (float)(1.0 / sqrt((double)(L->kind == FLOOR_DENSE ? L->in : L->K)));
        ok &= (g->act[l + 1] = filled(cap * L->out, 1.0f, &rng)) != NULL;
        ok &= (g->w[l] = filled(weight_floats(L), scale, &rng)) != NULL;
        ok &= (g->dw[l] = filled(weight_floats(L), 0.0f, &rng)) != NULL;
        if (L->kind != FLOOR_DENSE) {
            ok &= (g->cols[l] = filled(cap * L->K * L->P, 1.0f, &rng)) != NULL;
            ok &= (g->dcols[l] = filled(cap * L->K * L->P, 0.0f, &rng)) != NULL;
        }
    }
    ok &= (g->dz_out = filled(cap * g->layer[g->n_layers - 1].out, 1e-3f, &rng)) != NULL;
    ok &= (g->delta[0] = filled(cap * maxw, 0.0f, &rng)) != NULL;
    ok &= (g->delta[1] = filled(cap * maxw, 0.0f, &rng)) != NULL;
    if (!ok) gemm_floor_free(g);
    return ok ? AE_OK : AE_ENOMEM;
}

#define SGEMM(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc) \
    cblas_sgemm(CblasRowMajor, (ta) ? CblasTrans : CblasNoTrans, (tb) ? CblasTrans : CblasNoTrans, (int)(m), (int)(n), \
                (int)(k), 1.0f, a, (int)(lda), b, (int)(ldb), beta, c, (int)(ldc))

/* Images a conv product takes at once, as libae groups them (src/layers/conv.h,
 * ae_conv_group): as many as keep FLOOR_CONV_GROUP floats of columns, at least 1. */
#define FLOOR_CONV_GROUP 16384
static size_t group(const floor_layer *L) {
    return L->K * L->P < FLOOR_CONV_GROUP ? FLOOR_CONV_GROUP / (L->K * L->P) : 1;
}

static void forward(gemm_floor *g, size_t l, size_t B) {
    const floor_layer *L = &g->layer[l];
    const float *x = g->act[l], *w = g->w[l];
    float *y = g->act[l + 1];
    const size_t K = L->K, P = L->P, wr = L->wr;
    if (L->kind == FLOOR_DENSE) {
        /* Y [B x out] = X [B x in] . W^T, W [out x in] */
        SGEMM(0, 1, B, L->out, L->in, x, L->in, w, L->in, 0.0f, y, L->out);
        return;
    }
    for (size_t i = 0; i < B; i += group(L)) {
        const size_t n = B - i < group(L) ? B - i : group(L), N = n * P;
        float *cols = g->cols[l] + i * K * P;
        if (L->kind == FLOOR_CONV) /* Y' [c_out x N] = W [c_out x K] . cols [K x N] */
            SGEMM(0, 0, wr, N, K, w, K, cols, N, 0.0f, y + i * L->out, N);
        else /* cols [K x N] = W^T [K x c_in] . X' [c_in x N], W [c_in x K] */
            SGEMM(1, 0, K, N, wr, w, K, x + i * L->in, N, 0.0f, cols, N);
    }
}

/* dW from dZ [B x out] (and dX [B x in] into dx when dx is not NULL). */
static void backward(gemm_floor *g, size_t l, size_t B, const float *dz, float *dx) {
    const floor_layer *L = &g->layer[l];
    const float *x = g->act[l], *w = g->w[l];
    const size_t K = L->K, P = L->P, wr = L->wr;
    if (L->kind == FLOOR_DENSE) {
        /* dW [out x in] = dZ^T [out x B] . X [B x in] */
        SGEMM(1, 0, L->out, L->in, B, dz, L->out, x, L->in, 0.0f, g->dw[l], L->in);
        /* dX [B x in] = dZ [B x out] . W [out x in] */
        if (dx) SGEMM(0, 0, B, L->in, L->out, dz, L->out, w, L->in, 0.0f, dx, L->in);
        return;
    }
    for (size_t i = 0; i < B; i += group(L)) {
        const size_t n = B - i < group(L) ? B - i : group(L), N = n * P;
        const float beta = i ? 1.0f : 0.0f;
        float *cols = g->cols[l] + i * K * P, *dcols = g->dcols[l] + i * K * P;
        if (L->kind == FLOOR_CONV) {
            /* dW [c_out x K] (+)= dZ' [c_out x N] . cols^T [N x K] */
            SGEMM(0, 1, wr, K, N, dz + i * L->out, N, cols, N, beta, g->dw[l], K);
            /* dcols [K x N] = W^T [K x c_out] . dZ' [c_out x N] */
            if (dx) SGEMM(1, 0, K, N, wr, w, K, dz + i * L->out, N, 0.0f, dcols, N);
        } else {
            /* dW [c_in x K] (+)= X' [c_in x N] . dcols^T [N x K] (dcols = im2col(dZ)) */
            SGEMM(0, 1, wr, K, N, x + i * L->in, N, dcols, N, beta, g->dw[l], K);
            /* dX' [c_in x N] = W [c_in x K] . dcols [K x N] */
            if (dx) SGEMM(0, 0, wr, N, K, w, K, dcols, N, 0.0f, dx + i * L->in, N);
        }
    }
}

/* One step on B rows. The dZ chain restarts from the fixed dz_out every step, so values
 * cannot drift over an epoch (which a real step prevents through the loss). */
static void step(gemm_floor *g, size_t B) {
    for (size_t l = 0; l < g->n_layers; l++) forward(g, l, B);
    const float *dz = g->dz_out;
    int cur = 0;
    for (size_t l = g->n_layers; l-- > 0;) {
        backward(g, l, B, dz, l ? g->delta[cur] : NULL);
        dz = g->delta[cur];
        cur ^= 1;
    }
}

double gemm_floor_epoch(gemm_floor *g, size_t n, size_t batch) {
    const double t0 = now_seconds();
    for (size_t r0 = 0; r0 < n; r0 += batch) step(g, n - r0 < batch ? n - r0 : batch);
    return now_seconds() - t0;
}

static double step_flops(const gemm_floor *g, size_t rows) {
    double f = 0.0;
    for (size_t l = 0; l < g->n_layers; l++) {
        const floor_layer *L = &g->layer[l];
        const double mnk =
            L->kind == FLOOR_DENSE ? (double)L->in * (double)L->out : (double)L->wr * (double)L->K * (double)L->P;
        f += 2.0 * (double)rows * mnk * (l ? 3.0 : 2.0);
    }
    return f;
}

double gemm_floor_flops(const gemm_floor *g, size_t n, size_t batch) {
    const size_t full = n / batch, rest = n % batch;
    return (double)full * step_flops(g, batch) + (rest ? step_flops(g, rest) : 0.0);
}

size_t gemm_floor_units(const gemm_floor *g) {
    size_t u = g->n_layers ? g->layer[0].in : 0;
    for (size_t l = 0; l < g->n_layers; l++) u += g->layer[l].out;
    return u;
}
