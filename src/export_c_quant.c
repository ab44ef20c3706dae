/* export_c_quant: post-training int8 quantisation of the flat model, calibrated on rows the
 * caller gives. Weights: int8 per output channel, symmetric (scale max|w| / 127). Activations:
 * int8 per tensor, asymmetric (scale (max - min) / 255 over the calibration rows' float
 * activations, 0 included, and a zero point). Biases: int32 at the accumulator's scale, the
 * input's zero point folded in (sum_i w_i (x_i - zp) + b = sum_i w_i x_i + (b - zp sum_i w_i)),
 * so that the inner loop is int8 x int8 -> int32 alone. Requantisation: a fixed-point
 * multiplier and shift per channel, rounded half away from zero. ReLU and linear layers
 * requantise to the output's scale (ReLU clamps at its zero point); leaky ReLU, sigmoid and
 * tanh requantise to the pre-activation's scale and look the output up in a 256-entry table.
 * The output layer and the head leave the integers: acc * scale in float, the activation in
 * float (no table: the output is what the score compares with the input).
 * The integer forward here is the header's, operation for operation, so that the score
 * error reported is the header's. */
#include "export_c.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "activation.h"
#include "error.h"

typedef struct qrange {
    float lo, hi;
} qrange;

typedef struct qparam {
    double s;
    int zp;
} qparam;

/* ---- the integer arithmetic, shared in spirit with the header's text ---- */

static int q_round(float v) {
    if (v > 1073741824.0f) v = 1073741824.0f;
    if (v < -1073741824.0f) v = -1073741824.0f;
    return v >= 0.0f ? (int)(v + 0.5f) : -(int)(0.5f - v);
}

static int q_clamp8(int v, int lo) { return v < lo ? lo : v > 127 ? 127 : v; }

static int q_rq(int acc, int mult, int sh) {
    const long long p = (long long)acc * mult, r = 1LL << (sh - 1);
    const long long q = p >= 0 ? (p + r) >> sh : -((-p + r) >> sh);
    return q > 100000 ? 100000 : q < -100000 ? -100000 : (int)q;
}

static void q_dense(const ae_xlayer *X, const ae_qlayer *Q, const signed char *x, signed char *y, float *yf) {
    for (size_t j = 0; j < X->out; j++) {
        const signed char *w = Q->w + j * X->in;
        int acc = Q->b[j];
        for (size_t i = 0; i < X->in; i++) acc += w[i] * x[i];
        if (Q->mode == 2)
            yf[j] = ae_act_scalar((float)acc * Q->fs[j], X->act);
        else if (Q->mode == 1)
            y[j] = Q->lut[q_clamp8(Q->zp + q_rq(acc, Q->m[j], Q->sh[j]), -128) + 128];
        else
            y[j] = (signed char)q_clamp8(Q->zp + q_rq(acc, Q->m[j], Q->sh[j]), Q->lo);
    }
}

static float scaled_in(const ae_xmodel *xm, const float *x, size_t j) {
    return xm->offset ? (x[j] - xm->offset[j]) / xm->scale[j] : x[j];
}

float ae_xmodel_qscore(const ae_xmodel *xm, const float *x, float *work) {
    float *yf = work;
    signed char *b0 = (signed char *)(work + xm->d), *b1 = b0 + xm->maxw;
    for (size_t j = 0; j < xm->d; j++)
        b0[j] = (signed char)q_clamp8(xm->in_zp + q_round(scaled_in(xm, x, j) * xm->in_inv), -128);
    const signed char *src = b0;
    for (size_t l = 0; l < xm->n; l++) {
        signed char *dst = l & 1 ? b0 : b1;
        q_dense(&xm->layer[l], &xm->ql[l], src, dst, yf);
        src = dst;
    }
    double s = 0.0;
    for (size_t j = 0; j < xm->d; j++) {
        const float xs = scaled_in(xm, x, j), e = (yf[j] - xs) * (yf[j] - xs);
        s += e;
    }
    return (float)(s / (double)xm->d);
}

/* ---- calibration: the float activations' ranges ---- */

static void widen(qrange *r, const float *v, size_t n) {
    for (size_t j = 0; j < n; j++) {
        if (v[j] < r->lo) r->lo = v[j];
        if (v[j] > r->hi) r->hi = v[j];
    }
}

/* in: the scaled input's range; pre[l], post[l]: layer l's before and after its activation. */
static int calibrate(const ae_xmodel *xm, const float *x, size_t n, qrange *in, qrange *pre, qrange *post) {
    float *buf = ae_calloc(3 * xm->maxw, sizeof(float));
    if (!buf) return AE_ENOMEM;
    *in = (qrange){0.0f, 0.0f}; /* 0 always representable */
    for (size_t l = 0; l < xm->n; l++) pre[l] = post[l] = *in;
    float *a = buf, *z = buf + xm->maxw, *y = buf + 2 * xm->maxw;
    for (size_t r = 0; r < n; r++) {
        const float *row = x + r * xm->d;
        for (size_t j = 0; j < xm->d; j++) a[j] = scaled_in(xm, row, j);
        widen(in, a, xm->d);
        for (size_t l = 0; l < xm->n; l++) {
            const ae_xlayer *L = &xm->layer[l];
            ae_xlayer_run(xm, L, a, z, y);
            widen(&pre[l], z, L->out);
            widen(&post[l], y, L->out);
            memcpy(a, y, L->out * sizeof(float));
        }
    }
    ae_dealloc(buf);
    return AE_OK;
}

static qparam qparam_of(qrange r) {
    double s = ((double)r.hi - (double)r.lo) / 255.0;
    if (!(s > 1e-10)) s = 1e-10;
    double z = -128.0 - (double)r.lo / s;
    z = z < -128.0 ? -128.0 : z > 127.0 ? 127.0 : z;
    return (qparam){s, (int)lround(z)};
}

/* M = mult 2^-sh, mult in [2^30, 2^31), 1 <= sh <= 62. */
static int fixed_point(double M, int *mult, unsigned char *sh) {
    int e;
    const double f = frexp(M, &e);
    long long q = llround(f * 2147483648.0);
    if (q == 2147483648LL) {
        q /= 2;
        e++;
    }
    int s = 31 - e;
    if (s < 1) return ae_fail(AE_EINVAL, "ae_export_c: int8 requantisation factor %g is too large", M);
    if (s > 62) {
        q >>= (s - 62 < 62 ? s - 62 : 62);
        s = 62;
    }
    *mult = (int)q;
    *sh = (unsigned char)s;
    return AE_OK;
}

static int q_alloc(ae_qlayer *Q, size_t in, size_t out) {
    Q->w = ae_calloc(in * out, 1);
    Q->b = ae_calloc(out, sizeof(int));
    Q->m = ae_calloc(out, sizeof(int));
    Q->sh = ae_calloc(out, 1);
    Q->fs = ae_calloc(out, sizeof(float));
    Q->lut = ae_calloc(256, 1);
    return Q->w && Q->b && Q->m && Q->sh && Q->fs && Q->lut ? AE_OK : AE_ENOMEM;
}

/* Weights and biases of X into Q for an input of params in; *sw gets the channels' scales. */
/* Not vectorised: aarch64-linux-gnu-gcc 12.2 dies with an internal compiler error
 * (vect_transform_reduction) on this loop's sum; it runs once per export, not per row. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
static void
q_weights(const ae_xlayer *X, ae_qlayer *Q, qparam in, double *sw) {
    for (size_t j = 0; j < X->out; j++) {
        const float *w = X->w + j * X->in;
        double amax = 0.0;
        for (size_t i = 0; i < X->in; i++) amax = fmax(amax, fabs((double)w[i]));
        sw[j] = amax > 0.0 ? amax / 127.0 : 1.0;
        long long sum = 0;
        for (size_t i = 0; i < X->in; i++) {
            const long v = lround((double)w[i] / sw[j]);
            Q->w[j * X->in + i] = (signed char)(v > 127 ? 127 : v < -127 ? -127 : v);
            sum += Q->w[j * X->in + i];
        }
        double bq = round((double)X->b[j] / (in.s * sw[j]));
        bq = bq > 536870912.0 ? 536870912.0 : bq < -536870912.0 ? -536870912.0 : bq;
        Q->b[j] = (int)((long long)bq - (long long)in.zp * sum);
    }
}

/* How layer X leaves the integers: mode 2 (float out) for the output layer and the head; else
 * requantised to out (mode 0) or to pre and through the table (mode 1). */
static int q_layer(const ae_xlayer *X, ae_qlayer *Q, qparam in, qrange pre, qrange post, int float_out) {
    int rc = q_alloc(Q, X->in, X->out);
    double *sw = ae_calloc(X->out, sizeof(double));
    if (rc != AE_OK || !sw) {
        ae_dealloc(sw);
        return AE_ENOMEM;
    }
    q_weights(X, Q, in, sw);
    const qparam out = qparam_of(post), pq = qparam_of(pre);
    const int table = X->act != AE_ACT_LINEAR && X->act != AE_ACT_RELU;
    Q->mode = float_out ? 2 : table ? 1 : 0;
    Q->zp = table ? pq.zp : out.zp;
    Q->lo = X->act == AE_ACT_RELU ? out.zp : -128;
    for (size_t j = 0; j < X->out && rc == AE_OK; j++) {
        Q->fs[j] = (float)(in.s * sw[j]);
        if (!float_out) rc = fixed_point(in.s * sw[j] / (table ? pq.s : out.s), &Q->m[j], &Q->sh[j]);
    }
    for (int q = -128; q < 128 && Q->mode == 1; q++) {
        const float y = ae_act_scalar((float)((q - pq.zp) * pq.s), X->act);
        Q->lut[q + 128] = (signed char)q_clamp8(out.zp + (int)lround((double)y / out.s), -128);
    }
    ae_dealloc(sw);
    return rc;
}

static int score_error(const ae_xmodel *xm, const ae_model *m, const float *x, size_t n, ae_export_report *rep) {
    float *sf = ae_calloc(n, sizeof(float)), *work = ae_calloc(ae_xmodel_work_floats(xm), sizeof(float));
    int rc = sf && work ? ae_score(m, x, n, sf) : AE_ENOMEM;
    double diff = 0.0, base = 0.0, worst = 0.0;
    for (size_t i = 0; i < n && rc == AE_OK; i++) {
        const double e = fabs((double)ae_xmodel_qscore(xm, x + i * xm->d, work) - (double)sf[i]);
        diff += e;
        base += sf[i];
        worst = e > worst ? e : worst;
    }
    rep->calib_rows = n;
    rep->score_error = base > 0.0 ? diff / base : diff;
    rep->score_max_error = worst;
    ae_dealloc(sf);
    ae_dealloc(work);
    return rc;
}

int ae_xmodel_quantise(ae_xmodel *xm, const ae_model *m, const float *x, size_t n, ae_export_report *rep) {
    qrange in, pre[AE_MAX_LAYERS], post[AE_MAX_LAYERS];
    int rc = calibrate(xm, x, n, &in, pre, post);
    if (rc != AE_OK) return rc;
    xm->q = 1;
    qparam p = qparam_of(in);
    xm->in_inv = (float)(1.0 / p.s);
    xm->in_zp = p.zp;
    for (size_t l = 0; l < xm->n && rc == AE_OK; l++) {
        rc = q_layer(&xm->layer[l], &xm->ql[l], p, pre[l], post[l], l + 1 == xm->n);
        p = qparam_of(post[l]);
        if (l + 1 == xm->n_enc) {
            xm->code_s = (float)p.s;
            xm->code_zp = p.zp;
        }
    }
    if (rc == AE_OK && xm->head.out) {
        const qparam code = {xm->code_s, xm->code_zp};
        rc = q_layer(&xm->head, &xm->qhead, code, post[0], post[0], 1);
    }
    return rc == AE_OK ? score_error(xm, m, x, n, rep) : rc;
}
