/* export_c: ae_export_c's checks and the model flattened into dense layers for the header:
 * batch norm folded (eval mode: running statistics), a VAE's code layer cut to mu, a tied
 * decoder weight shared with its encoder layer (float, no batch norm) or copied transposed. */
#include "export_c.h"

#include <math.h>
#include <string.h>

#include "activation.h"
#include "error.h"

#define BN_EPS 1e-5 /* batchnorm.c's */
#define NAME_MAX_LEN 48

ae_export_opts ae_export_opts_default(void) {
    ae_export_opts o;
    memset(&o, 0, sizeof o);
    o.name = "model";
    return o;
}

/* ---- the flat model ---- */

void ae_xmodel_free(ae_xmodel *xm) {
    for (size_t l = 0; l < xm->n; l++) {
        ae_dealloc(xm->layer[l].w);
        ae_dealloc(xm->layer[l].b);
    }
    ae_dealloc(xm->head.w);
    ae_dealloc(xm->head.b);
    for (size_t l = 0; l < AE_MAX_LAYERS; l++) {
        ae_qlayer *Q = &xm->ql[l];
        ae_dealloc(Q->w), ae_dealloc(Q->b), ae_dealloc(Q->m), ae_dealloc(Q->sh), ae_dealloc(Q->lut), ae_dealloc(Q->fs);
    }
    ae_qlayer *H = &xm->qhead;
    ae_dealloc(H->w), ae_dealloc(H->b), ae_dealloc(H->m), ae_dealloc(H->sh), ae_dealloc(H->lut), ae_dealloc(H->fs);
    memset(xm, 0, sizeof *xm);
}

/* The dense layer D (its first `out` units) into X, the weight [out x in] copied (transposed
 * from a borrowed [in x out] one) unless shared. */
static int take_dense(ae_xlayer *X, const ae_layer *D, size_t out, int share) {
    X->in = D->in;
    X->out = out;
    X->act = D->act;
    X->orig_w = D->w;
    X->b = ae_calloc(out, sizeof(float));
    if (!X->b) return AE_ENOMEM;
    memcpy(X->b, D->b, out * sizeof(float));
    if (share) return AE_OK;
    X->w = ae_calloc(out * D->in, sizeof(float));
    if (!X->w) return AE_ENOMEM;
    if (!D->w_transposed) {
        memcpy(X->w, D->w, out * D->in * sizeof(float));
    } else {
        for (size_t j = 0; j < out; j++)
            for (size_t i = 0; i < D->in; i++) X->w[j * D->in + i] = D->w[i * D->out + j];
    }
    return AE_OK;
}

/* y = act(gamma (z - rm) / sqrt(rv + eps) + beta) folded into W and b: row j scaled by
 * s = gamma / sqrt(rv + eps), b = (b - rm) s + beta. */
static void fold_batchnorm(ae_xlayer *X, const ae_layer *B) {
    const float *gamma = B->w, *beta = B->b, *rm = B->stat, *rv = B->stat + B->out;
    for (size_t j = 0; j < X->out; j++) {
        const double s = (double)gamma[j] / sqrt((double)rv[j] + BN_EPS);
        for (size_t i = 0; i < X->in; i++) X->w[j * X->in + i] = (float)((double)X->w[j * X->in + i] * s);
        X->b[j] = (float)(((double)X->b[j] - (double)rm[j]) * s + (double)beta[j]);
    }
    X->act = B->act;
}

/* The exported layer whose weight a tied layer borrows. */
static size_t mirror_of(const ae_xmodel *xm, const float *w) {
    for (size_t l = 0; l < xm->n; l++)
        if (xm->layer[l].orig_w == w) return l;
    return 0; /* unreachable: a tied layer's weight is an encoder layer's */
}

int ae_xmodel_build(ae_xmodel *xm, const ae_model *m, int share_tied) {
    memset(xm, 0, sizeof *xm);
    const ae_config *c = &m->cfg;
    xm->d = c->input_dim;
    xm->k = c->code_dim;
    const int share = share_tied && !c->batch_norm; /* folding rescales a weight per layer */
    int rc = AE_OK;
    for (size_t l = 0; l < m->n_layers && rc == AE_OK; l++) {
        const ae_layer *L = &m->layer[l];
        if (L->kind != &ae_kind_dense) continue; /* batch norm: folded below */
        ae_xlayer *X = &xm->layer[xm->n];
        const int code = l + 1 == m->n_enc;
        const int sh = share && L->w_transposed;
        rc = take_dense(X, L, code && c->variational ? c->code_dim : L->out, sh);
        if (rc == AE_OK && sh) {
            X->shared = 1;
            X->src = mirror_of(xm, L->w);
        }
        xm->n++;
        if (rc == AE_OK && l + 1 < m->n_layers && m->layer[l + 1].kind == &ae_kind_batchnorm)
            fold_batchnorm(X, &m->layer[l + 1]);
        if (code) xm->n_enc = xm->n;
        if (X->in > xm->maxw) xm->maxw = X->in;
        if (X->out > xm->maxw) xm->maxw = X->out;
    }
    if (rc == AE_OK && m->head.outputs) {
        xm->head_kind = m->head.kind;
        rc = take_dense(&xm->head, &m->head.layer, m->head.outputs, 0);
    }
    if (ae_scaler_active(&m->scaler)) {
        xm->offset = m->scaler.offset;
        xm->scale = m->scaler.scale;
    }
    xm->has_threshold = m->threshold.method != AE_THRESHOLD_NONE;
    xm->threshold = m->threshold.value;
    if (rc != AE_OK) ae_xmodel_free(xm);
    return rc;
}

void ae_xlayer_run(const ae_xmodel *xm, const ae_xlayer *L, const float *x, float *z, float *y) {
    const float *w = L->shared ? xm->layer[L->src].w : L->w;
    for (size_t j = 0; j < L->out; j++) {
        float acc = 0.0f;
        if (L->shared)
            for (size_t i = 0; i < L->in; i++) acc += x[i] * w[i * L->out + j];
        else
            for (size_t i = 0; i < L->in; i++) acc += w[j * L->in + i] * x[i];
        z[j] = acc + L->b[j];
        y[j] = ae_act_scalar(z[j], L->act);
    }
}

size_t ae_xmodel_work_floats(const ae_xmodel *xm) {
    if (!xm->q) return xm->d + 2 * xm->maxw;
    return xm->d + (2 * xm->maxw + 3) / 4; /* a float row, then two int8 rows */
}

/* ---- checks ---- */

static int is_keyword(const char *s) {
    static const char *const kw[] = {
        "auto",     "break",     "case",           "char",          "const",      "continue", "default",  "do",
        "double",   "else",      "enum",           "extern",        "float",      "for",      "goto",     "if",
        "inline",   "int",       "long",           "register",      "restrict",   "return",   "short",    "signed",
        "sizeof",   "static",    "struct",         "switch",        "typedef",    "union",    "unsigned", "void",
        "volatile", "while",     "_Bool",          "_Complex",      "_Imaginary", "_Alignas", "_Alignof", "_Atomic",
        "_Generic", "_Noreturn", "_Static_assert", "_Thread_local", "bool",       "true",     "false"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strcmp(s, kw[i]) == 0) return 1;
    return 0;
}

static int name_check(const char *name) {
    if (!name || !*name) return ae_fail(AE_EINVAL, "ae_export_c: the name is empty: give a C identifier");
    const size_t n = strlen(name);
    int ok = n <= NAME_MAX_LEN && !(name[0] >= '0' && name[0] <= '9');
    for (size_t i = 0; i < n && ok; i++) {
        const char ch = name[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
    }
    if (!ok)
        return ae_fail(AE_EINVAL,
                       "ae_export_c: the name \"%.64s\" is not a C identifier (letters, digits and '_', not "
                       "starting with a digit, at most %d characters)",
                       name, NAME_MAX_LEN);
    if (is_keyword(name)) return ae_fail(AE_EINVAL, "ae_export_c: the name \"%s\" is a C keyword", name);
    if (name[0] == '_' && (name[1] == '_' || (name[1] >= 'A' && name[1] <= 'Z')))
        return ae_fail(AE_EINVAL,
                       "ae_export_c: the name \"%s\" is reserved to the C implementation "
                       "(it starts with '__' or '_' and a capital)",
                       name);
    return AE_OK;
}

/* The activations the header implements (export_c_text.c's act_ function). */
static int exported_act(ae_activation a) { return (unsigned)a <= (unsigned)AE_ACT_TANH; }

static int opts_check(const ae_model *m, const ae_export_opts *o) {
    int rc = name_check(o->name);
    if (rc != AE_OK) return rc;
    for (size_t l = 0; l < m->n_layers; l++)
        if (m->layer[l].kind != &ae_kind_dense && m->layer[l].kind != &ae_kind_batchnorm)
            return ae_fail(AE_EINVAL, "ae_export_c: %s layers are not exported yet", m->layer[l].kind->name);
    for (size_t l = 0; l < m->n_layers; l++)
        if (!exported_act(m->layer[l].act))
            return ae_fail(AE_EINVAL, "ae_export_c: the %s activation is not exported yet",
                           ae_activation_name(m->layer[l].act));
    if (o->int8 != 0 && o->int8 != 1) return ae_fail(AE_EINVAL, "ae_export_c: int8 is %d: it must be 0 or 1", o->int8);
    if (!o->int8) return AE_OK;
    if (!o->calib_x || o->calib_n == 0)
        return ae_fail(AE_EINVAL, "ae_export_c: an int8 export needs calibration rows (calib_x, calib_n > 0)");
    if (m->max_width > 16384)
        return ae_fail(AE_EINVAL,
                       "ae_export_c: int8 takes layers up to 16384 wide (this model has %zu): the "
                       "int32 accumulator could overflow; export it as float",
                       m->max_width);
    rc = ae_check_rows(o->calib_x, o->calib_n, m->cfg.input_dim);
    if (rc == AE_EINVAL) return ae_fail(rc, "ae_export_c: %zu calibration rows are too many", o->calib_n);
    return rc;
}

int ae_export_c(const ae_model *m, const char *path, const ae_export_opts *opts) {
    ae_error_clear();
    const ae_export_opts o = opts ? *opts : ae_export_opts_default();
    if (!m) return ae_fail(AE_EINVAL, "ae_export_c: no model");
    if (!path || !*path) return ae_fail(AE_EINVAL, "ae_export_c: no output path");
    int rc = opts_check(m, &o);
    if (rc != AE_OK) return rc;
    if (!ae_all_finite(m->params, m->n_params) || (m->n_state && !ae_model_state_ok(m)) ||
        (m->head.outputs && !ae_all_finite(m->head.params, m->head.n)))
        return ae_fail(AE_ENONFINITE, "ae_export_c: the model holds non-finite weights");
    ae_xmodel xm;
    rc = ae_xmodel_build(&xm, m, !o.int8);
    if (rc != AE_OK) return rc;
    ae_export_report rep;
    memset(&rep, 0, sizeof rep);
    if (o.int8) rc = ae_xmodel_quantise(&xm, m, o.calib_x, o.calib_n, &rep);
    if (rc == AE_OK) rc = ae_export_emit(&xm, path, o.name, &rep.weight_bytes);
    rep.work_floats = ae_xmodel_work_floats(&xm);
    ae_xmodel_free(&xm);
    if (rc == AE_OK && o.report) *o.report = rep;
    return rc;
}
