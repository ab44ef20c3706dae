#include "model.h"

#include "error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

ae_config ae_config_default(void) {
    ae_config c;
    memset(&c, 0, sizeof c);
    c.hidden_act = AE_ACT_RELU;
    c.code_act = AE_ACT_LINEAR;
    c.output_act = AE_ACT_SIGMOID;
    c.seed = 42;
    return c;
}

static int width_ok(size_t w) { return w >= 1 && w <= AE_MAX_WIDTH; }

int ae_config_check(const ae_config *c) {
    if (!c || !width_ok(c->input_dim) || !width_ok(c->code_dim) || c->n_hidden > AE_MAX_HIDDEN)
        return AE_EINVAL;
    for (size_t i = 0; i < c->n_hidden; i++)
        if (!width_ok(c->hidden[i])) return AE_EINVAL;
    if (!ae_act_valid(c->hidden_act) || !ae_act_valid(c->code_act) || !ae_act_valid(c->output_act)) return AE_EINVAL;
    if ((c->tied_weights != 0 && c->tied_weights != 1) || (c->variational != 0 && c->variational != 1))
        return AE_EINVAL;
    /* A VAE's code layer is two linear heads (mu, logvar) of one [2k x in] weight; a tied
     * decoder cannot share that weight's shape. */
    if (c->variational && (c->code_act != AE_ACT_LINEAR || c->tied_weights)) return AE_EINVAL;
    if ((unsigned)c->scaling > (unsigned)AE_SCALE_ZSCORE)
        return ae_fail(AE_EINVAL, "scaling %d is not a mode (auto, none, minmax, zscore)", (int)c->scaling);
    return AE_OK;
}

int ae_check_rows(const float *x, size_t n, size_t cols) {
    size_t count;
    if (!x || n == 0 || n > AE_MAX_ROWS || !ae_mul_ok(n, cols, &count)) return AE_EINVAL;
    if (ae_all_finite(x, count)) return AE_OK;
    size_t i = 0;
    while (i < count && isfinite(x[i])) i++; /* the first bad value, for the message */
    return ae_fail(AE_ENONFINITE, "row %zu column %zu is %s", i / cols + 1, i % cols + 1,
                   isnan(x[i]) ? "NaN" : "infinite");
}

size_t ae_padded(size_t count) { return (count + 15) & ~(size_t)15; }

/* Lays out the layers, writing each weight's and bias's offset into the parameter block, and
 * returns the parameter count (0 when it exceeds the cap). */
static size_t plan_layers(ae_model *m, size_t *w_off, size_t *b_off) {
    const ae_config *c = &m->cfg;
    size_t width[AE_MAX_HIDDEN + 2];
    size_t nh = c->n_hidden;
    width[0] = c->input_dim;
    for (size_t i = 0; i < nh; i++) width[i + 1] = c->hidden[i];
    width[nh + 1] = c->code_dim;

    m->n_enc = nh + 1;
    m->n_layers = 2 * (nh + 1);
    m->max_width = 0;
    size_t total = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        ae_layer *L = &m->layer[l];
        memset(L, 0, sizeof *L);
        int enc = l < m->n_enc;
        size_t j = enc ? l : l - m->n_enc; /* index within its stack */
        L->in = enc ? width[j] : width[nh + 1 - j];
        L->out = enc ? width[j + 1] : width[nh - j];
        if (enc && j == nh && c->variational) L->out = 2 * c->code_dim; /* [mu | logvar] */
        L->act = enc ? (j == nh ? c->code_act : c->hidden_act) : (j == nh ? c->output_act : c->hidden_act);
        if (L->in > m->max_width) m->max_width = L->in;
        if (L->out > m->max_width) m->max_width = L->out;
        if (!enc && c->tied_weights) {
            L->w_transposed = 1;
        } else {
            w_off[l] = total;
            total += ae_padded(L->in * L->out); /* each width <= 2^24: no overflow */
            if (total > AE_MAX_PARAMS) return 0;
        }
        b_off[l] = total;
        total += ae_padded(L->out);
    }
    return total;
}

static int is_relu_family(ae_activation a) { return a == AE_ACT_RELU || a == AE_ACT_LEAKY_RELU; }

/* He-uniform (ReLU family) or Glorot-uniform weights from the model's RNG; biases stay 0. */
static void init_weights(ae_model *m) {
    for (size_t l = 0; l < m->n_layers; l++) {
        ae_layer *L = &m->layer[l];
        if (L->w_transposed) continue;
        double bound = is_relu_family(L->act) ? sqrt(6.0 / (double)L->in)
                                              : sqrt(6.0 / (double)(L->in + L->out));
        size_t count = L->in * L->out;
        for (size_t i = 0; i < count; i++)
            L->w[i] = (float)((2.0 * ae_rng_uniform(&m->rng) - 1.0) * bound);
    }
}

static _Atomic size_t memory_limit = AE_MEMORY_LIMIT_DEFAULT;

int ae_set_memory_limit(size_t bytes) {
    ae_error_clear();
    memory_limit = bytes;
    return AE_OK;
}

size_t ae_memory_limit(void) { return memory_limit; }

/* ae_create's guard against a config too large to train (a width of 2^24 would take tens of
 * GiB before the first epoch ends): the estimate documented at ae_set_memory_limit, from the
 * layers laid out on the stack, before anything is allocated. A config whose parameters
 * exceed the cap passes here and is refused by the layout itself. */
static int memory_check(const ae_config *c) {
    const size_t limit = memory_limit;
    ae_model m;
    size_t w_off[AE_MAX_LAYERS], b_off[AE_MAX_LAYERS];
    memset(&m, 0, sizeof m);
    m.cfg = *c;
    if (limit == 0 || (m.n_params = plan_layers(&m, w_off, b_off)) == 0) return AE_OK;
    double units = 2.0 * (double)m.max_width + 2.0 * (double)c->input_dim + 2.0 * (double)c->code_dim;
    for (size_t l = 0; l < m.n_layers; l++) units += (double)m.layer[l].out;
    const double bytes = 4.0 * (6.0 * (double)m.n_params + 128.0 * units);
    if (bytes <= (double)limit) return AE_OK;
    return ae_fail(AE_ENOMEM,
                   "this model (%zu parameters) needs about %.2f GiB to train, above the memory limit of %.2f GiB "
                   "(raise it with ae_set_memory_limit, ae train --memory-limit)",
                   m.n_params, bytes / 1073741824.0, (double)limit / 1073741824.0);
}

int ae_create(ae_model **out, const ae_config *cfg) {
    ae_error_clear();
    return ae_model_new(out, cfg, 1);
}

int ae_model_new(ae_model **out, const ae_config *cfg, int limited) {
    if (!out) return AE_EINVAL;
    *out = NULL;
    int rc = ae_config_check(cfg);
    if (rc == AE_OK && limited) rc = memory_check(cfg);
    if (rc != AE_OK) return rc;
    ae_model *m = ae_calloc(1, sizeof *m);
    if (!m) return AE_ENOMEM;
    m->cfg = *cfg;
    size_t w_off[AE_MAX_LAYERS], b_off[AE_MAX_LAYERS];
    m->n_params = plan_layers(m, w_off, b_off);
    if (m->n_params == 0) {
        ae_dealloc(m);
        return AE_EINVAL;
    }
    m->params = ae_calloc(m->n_params, sizeof(float));
    m->grads = ae_calloc(m->n_params, sizeof(float));
    if (!m->params || !m->grads) {
        ae_free(m);
        return AE_ENOMEM;
    }
    for (size_t l = 0; l < m->n_layers; l++) {
        ae_layer *L = &m->layer[l];
        L->b = m->params + b_off[l];
        L->db = m->grads + b_off[l];
        if (!L->w_transposed) {
            L->w = m->params + w_off[l];
            L->dw = m->grads + w_off[l];
        }
    }
    /* A tied decoder layer borrows the weight of its mirror encoder layer. Backward runs the
     * decoder first, so that layer writes the shared gradient and the encoder adds to it. */
    if (cfg->tied_weights) {
        for (size_t j = 0; j < m->n_enc; j++) {
            ae_layer *D = &m->layer[m->n_layers - 1 - j], *E = &m->layer[j];
            D->w = E->w;
            D->dw = E->dw;
            E->grad_accumulate = 1;
        }
    }
    ae_rng_seed(&m->rng, cfg->seed, 0x5eed);
    init_weights(m);
    *out = m;
    return AE_OK;
}

void ae_free(ae_model *m) {
    if (!m) return;
    ae_head_release(&m->head);
    ae_scaler_release(&m->scaler);
    ae_optim_free(&m->opt);
    ae_dealloc(m->params);
    ae_dealloc(m->grads);
    ae_dealloc(m);
}

/* ---- the supervised head's blocks (ae_head_*): part of the model, saved with it ---- */

void ae_head_release(ae_head *h) {
    ae_dealloc(h->params);
    ae_dealloc(h->grads);
    memset(h, 0, sizeof *h);
}

int ae_head_alloc(ae_model *m, ae_head_kind kind, size_t outputs) {
    const size_t k = m->cfg.code_dim;
    const size_t wn = ae_padded(k * outputs), n = wn + ae_padded(outputs); /* widths <= 2^24 */
    float *p = ae_calloc(n, sizeof(float)), *g = ae_calloc(n, sizeof(float));
    if (!p || !g) { /* the old head, if any, stays */
        ae_dealloc(p);
        ae_dealloc(g);
        return AE_ENOMEM;
    }
    ae_head_release(&m->head);
    ae_head *h = &m->head;
    h->kind = kind;
    h->outputs = outputs;
    h->n = n;
    h->params = p;
    h->grads = g;
    h->layer = (ae_layer){.in = k, .out = outputs, .act = AE_ACT_LINEAR, .w = p, .b = p + wn, .dw = g, .db = g + wn};
    return AE_OK;
}

size_t ae_config_param_count(const ae_config *c) {
    ae_model tmp; /* laid out only: nothing allocated */
    size_t w_off[AE_MAX_LAYERS], b_off[AE_MAX_LAYERS];
    memset(&tmp, 0, sizeof tmp);
    tmp.cfg = *c;
    return ae_config_check(c) == AE_OK && plan_layers(&tmp, w_off, b_off) ? ae_param_count(&tmp) : 0;
}

int ae_reseed(ae_model *m, uint64_t seed) {
    if (!m) return AE_EINVAL;
    ae_rng_seed(&m->rng, seed, 0x5eed);
    return AE_OK;
}

int ae_epochs_done(const ae_model *m) { return m ? m->epochs_done : 0; }

size_t ae_input_dim(const ae_model *m) { return m ? m->cfg.input_dim : 0; }
size_t ae_code_dim(const ae_model *m) { return m ? m->cfg.code_dim : 0; }
size_t ae_param_count(const ae_model *m) {
    if (!m) return 0;
    size_t n = 0;
    for (size_t l = 0; l < m->n_layers; l++)
        n += (m->layer[l].w_transposed ? 0 : m->layer[l].in * m->layer[l].out) + m->layer[l].out;
    return n;
}

int ae_get_config(const ae_model *m, ae_config *cfg) {
    if (!m || !cfg) return AE_EINVAL;
    *cfg = m->cfg;
    return AE_OK;
}

size_t ae_encoder_span(const ae_model *m) {
    const ae_layer *last = &m->layer[m->n_enc - 1];
    return (size_t)(last->b - m->params) + ae_padded(last->out);
}

size_t ae_model_tensors(const ae_model *m, ae_tensor_ref *out, int state) {
    size_t n = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        int enc = l < m->n_enc;
        size_t j = enc ? l : l - m->n_enc;
        const char *stack = enc ? "encoder" : "decoder";
        if (enc && j + 1 == m->n_enc && m->cfg.variational) {
            /* The head's weight rows [0, k) are mu's, [k, 2k) logvar's; the same for the bias. */
            const size_t k = m->cfg.code_dim;
            const char *head[2] = {"mu", "logvar"};
            for (int h = 0; h < 2; h++) {
                snprintf(out[n].name, sizeof out[n].name, "encoder.%s.weight", head[h]);
                out[n].data = L->w + (size_t)h * k * L->in;
                out[n].rows = k;
                out[n].cols = L->in;
                n++;
                snprintf(out[n].name, sizeof out[n].name, "encoder.%s.bias", head[h]);
                out[n].data = L->b + (size_t)h * k;
                out[n].rows = k;
                out[n].cols = 0;
                n++;
            }
            continue;
        }
        if (!L->w_transposed) {
            snprintf(out[n].name, sizeof out[n].name, "%s.%zu.weight", stack, j);
            out[n].data = L->w;
            out[n].rows = L->out;
            out[n].cols = L->in;
            n++;
        }
        snprintf(out[n].name, sizeof out[n].name, "%s.%zu.bias", stack, j);
        out[n].data = L->b;
        out[n].rows = L->out;
        out[n].cols = 0;
        n++;
    }
    const size_t np = n; /* the autoencoder's tensors, in m->params */
    if (m->head.outputs) {
        const ae_layer *H = &m->head.layer;
        out[n] = (ae_tensor_ref){"head.weight", H->w, H->out, H->in};
        out[n + 1] = (ae_tensor_ref){"head.bias", H->b, H->out, 0};
        n += 2;
    }
    if (state) { /* the moments share the parameters' layout: same offsets, other blocks */
        const struct { const char *prefix; float *block; } part[2] = {
            {m->opt.kind == AE_OPT_SGD ? "momentum" : "adam.m", m->opt.m}, {"adam.v", m->opt.v}};
        for (int p = 0; p < 2; p++) {
            if (!part[p].block) continue;
            for (size_t i = 0; i < np; i++) {
                char base[sizeof out[i].name];
                memcpy(base, out[i].name, sizeof base);
                out[n] = out[i];
                /* "adam.m." + the longest model name (encoder.logvar.weight) fits easily */
                if (snprintf(out[n].name, sizeof out[n].name, "%s.%s", part[p].prefix, base) >= (int)sizeof out[n].name)
                    out[n].name[0] = '\0';
                out[n].data = part[p].block + (out[i].data - m->params);
                n++;
            }
        }
    }
    if (ae_scaler_active(&m->scaler)) {
        out[n++] = (ae_tensor_ref){"scaling.offset", m->scaler.offset, m->cfg.input_dim, 0};
        out[n++] = (ae_tensor_ref){"scaling.scale", m->scaler.scale, m->cfg.input_dim, 0};
    }
    return n;
}

/* ---- inference: thread-safe, each call owns its workspace ---- */

#define AE_CHUNK 256 /* rows per pass: bounds the workspace, keeps GEMMs large */

/* Keeps the first k of each row's 2k values (a VAE head's mu) in place: [rows x 2k] -> [rows x k]. */
static void keep_mu(float *h, size_t rows, size_t k) {
    for (size_t i = 1; i < rows; i++) memmove(h + i * k, h + i * 2 * k, k * sizeof(float));
}

int ae_forward_layers(const ae_model *m, size_t first, size_t last, const float *x, size_t n,
                          float *out) {
    size_t chunk = n < AE_CHUNK ? n : AE_CHUNK;
    float *buf[2];
    buf[0] = ae_calloc(chunk * m->max_width, sizeof(float));
    buf[1] = ae_calloc(chunk * m->max_width, sizeof(float));
    if (!buf[0] || !buf[1]) {
        ae_dealloc(buf[0]);
        ae_dealloc(buf[1]);
        return AE_ENOMEM;
    }
    const size_t k = m->cfg.code_dim, head = m->cfg.variational ? m->n_enc - 1 : (size_t)-1;
    const size_t in_w = m->layer[first].in, out_w = last - 1 == head ? k : m->layer[last - 1].out;
    for (size_t r0 = 0; r0 < n; r0 += chunk) {
        size_t rows = n - r0 < chunk ? n - r0 : chunk;
        const float *src = x + r0 * in_w;
        for (size_t l = first; l < last; l++) {
            float *dst = l + 1 == last && l != head ? out + r0 * out_w : buf[(l - first) & 1];
            ae_layer_forward(&m->layer[l], src, rows, dst, 1);
            if (l == head) { /* the decoder (or the caller) sees mu only */
                keep_mu(dst, rows, k);
                if (l + 1 == last) memcpy(out + r0 * out_w, dst, rows * k * sizeof(float));
            }
            src = dst;
        }
    }
    ae_dealloc(buf[0]);
    ae_dealloc(buf[1]);
    return AE_OK;
}

/* The width of what layers [.., last) produce: the code width after a VAE head (mu only). */
static size_t out_width(const ae_model *m, size_t last) {
    return m->cfg.variational && last == m->n_enc ? m->cfg.code_dim : m->layer[last - 1].out;
}

int ae_forward_user(const ae_model *m, size_t first, size_t last, const float *x, size_t n, float *out) {
    if (!ae_scaler_active(&m->scaler)) return ae_forward_layers(m, first, last, x, n, out);
    const size_t in_w = m->layer[first].in, out_w = out_width(m, last), chunk = n < AE_CHUNK ? n : AE_CHUNK;
    float *tmp = first == 0 ? ae_calloc(chunk * in_w, sizeof(float)) : NULL;
    if (first == 0 && !tmp) return AE_ENOMEM;
    int rc = AE_OK;
    for (size_t r0 = 0; r0 < n && rc == AE_OK; r0 += chunk) {
        const size_t rows = n - r0 < chunk ? n - r0 : chunk;
        const float *src = tmp ? ae_scaler_chunk(&m->scaler, x + r0 * in_w, rows, tmp) : x + r0 * in_w;
        rc = ae_forward_layers(m, first, last, src, rows, out + r0 * out_w);
        if (rc == AE_OK && last == m->n_layers) ae_scaler_invert(&m->scaler, out + r0 * out_w, rows);
    }
    ae_dealloc(tmp);
    return rc;
}

int ae_scaled_rows(const ae_model *m, const float *x, size_t n, const float **scaled, float **owned) {
    *owned = NULL;
    *scaled = x;
    if (!ae_scaler_active(&m->scaler)) return AE_OK;
    float *c = ae_calloc(n * m->cfg.input_dim, sizeof(float)); /* checked by ae_check_rows */
    if (!c) return AE_ENOMEM;
    ae_scaler_apply(&m->scaler, x, n, c);
    *owned = c;
    *scaled = c;
    return AE_OK;
}

int ae_model_fit_scaling(ae_model *m, const float *x, size_t n, ae_stats_combine combine, void *ctx) {
    const ae_activation act = m->cfg.output_act;
    ae_scale_stats st;
    int rc = ae_scale_stats_init(&st, m->cfg.input_dim);
    if (rc != AE_OK) return rc;
    ae_scale_stats_moments(&st, x, n);
    if (combine) rc = combine(&st, 1, ctx);
    const ae_scaling mode = ae_scale_resolve(m->cfg.scaling, act, &st);
    if (rc == AE_OK && mode == AE_SCALE_ZSCORE) {
        ae_scale_stats_spread(&st, x, n);
        if (combine) rc = combine(&st, 2, ctx);
    }
    if (rc == AE_OK) rc = ae_scaler_set(&m->scaler, mode, act, &st);
    ae_scale_stats_free(&st);
    return rc;
}

int ae_scaling_fit(ae_model *m, const float *x, size_t n) {
    ae_error_clear();
    if (!m) return AE_EINVAL;
    int rc = ae_check_rows(x, n, m->cfg.input_dim);
    return rc == AE_OK ? ae_model_fit_scaling(m, x, n, NULL, NULL) : rc;
}

int ae_scaling_get(const ae_model *m, ae_scaling *mode, int *fitted, float *offset, float *scale) {
    if (!m) return AE_EINVAL;
    const ae_scaler *s = &m->scaler;
    const size_t d = m->cfg.input_dim;
    if (mode) *mode = s->fitted ? s->applied : AE_SCALE_NONE;
    if (fitted) *fitted = s->fitted;
    for (size_t j = 0; j < d; j++) {
        if (offset) offset[j] = s->offset ? s->offset[j] : 0.0f;
        if (scale) scale[j] = s->scale ? s->scale[j] : 1.0f;
    }
    return AE_OK;
}

int ae_encode(const ae_model *m, const float *x, size_t n, float *code) {
    ae_error_clear();
    if (!m || !code) return AE_EINVAL;
    int rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc != AE_OK) return rc;
    return ae_forward_user(m, 0, m->n_enc, x, n, code);
}

int ae_decode(const ae_model *m, const float *code, size_t n, float *out) {
    ae_error_clear();
    if (!m || !out) return AE_EINVAL;
    int rc = ae_check_rows(code, n, m->cfg.code_dim);
    if (rc != AE_OK) return rc;
    return ae_forward_user(m, m->n_enc, m->n_layers, code, n, out);
}

int ae_reconstruct(const ae_model *m, const float *x, size_t n, float *out) {
    ae_error_clear();
    if (!m || !out || out == x) return AE_EINVAL;
    int rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc != AE_OK) return rc;
    return ae_forward_user(m, 0, m->n_layers, x, n, out);
}

int ae_sample(ae_model *m, size_t n, float *out) {
    if (!m || !out || !m->cfg.variational || n == 0 || n > AE_MAX_ROWS) return AE_EINVAL;
    const size_t k = m->cfg.code_dim;
    float *z = ae_calloc(n * k, sizeof(float));
    if (!z) return AE_ENOMEM;
    ae_rng_fill_normal(&m->rng, z, n * k);
    int rc = ae_forward_user(m, m->n_enc, m->n_layers, z, n, out);
    ae_dealloc(z);
    return rc;
}
