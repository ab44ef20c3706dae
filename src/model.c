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
    if (!c || !width_ok(c->input_dim) || !width_ok(c->code_dim) || c->n_hidden > AE_MAX_HIDDEN) return AE_EINVAL;
    for (size_t i = 0; i < c->n_hidden; i++)
        if (!width_ok(c->hidden[i])) return AE_EINVAL;
    if (!ae_act_valid(c->hidden_act) || !ae_act_valid(c->code_act) || !ae_act_valid(c->output_act)) return AE_EINVAL;
    if ((c->tied_weights != 0 && c->tied_weights != 1) || (c->variational != 0 && c->variational != 1))
        return AE_EINVAL;
    if (c->batch_norm != 0 && c->batch_norm != 1)
        return ae_fail(AE_EINVAL, "batch_norm is %d: it must be 0 or 1", c->batch_norm);
    /* A VAE's code layer is two linear heads (mu, logvar) of one [2k x in] weight; a tied
     * decoder cannot share that weight's shape. */
    if (c->variational && (c->code_act != AE_ACT_LINEAR || c->tied_weights)) return AE_EINVAL;
    if ((unsigned)c->scaling > (unsigned)AE_SCALE_ZSCORE)
        return ae_fail(AE_EINVAL, "scaling %d is not a mode (auto, none, minmax, zscore)", (int)c->scaling);
    const int rc = ae_conv_config_check(c);
    return rc != AE_OK ? rc : ae_rnn_config_check(c);
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

void ae_model_widen(ae_model *m, const ae_layer *L) {
    if (L->in > m->max_width) m->max_width = L->in;
    if (L->out > m->max_width) m->max_width = L->out;
}

ae_layer *ae_model_add_layer(ae_model *m, const ae_kind *k, size_t in, size_t out, ae_activation act) {
    ae_layer *L = &m->layer[m->n_layers++];
    memset(L, 0, sizeof *L);
    L->kind = k;
    L->in = in;
    L->out = out;
    L->act = act;
    L->init_act = act;
    /* A conv model starts where PyTorch's would (its quality bar is PyTorch's); dense-only
     * models keep their initialisation bit for bit. */
    L->torch_init = m->cfg.n_conv > 0;
    ae_model_widen(m, L);
    return L;
}

/* A hidden block: the dense layer, then (batch_norm) a batch norm layer that takes over the
 * activation; dropout applies to the block's output. */
static void add_hidden(ae_model *m, size_t in, size_t out, int tied) {
    const ae_config *c = &m->cfg;
    ae_layer *D = ae_model_add_layer(m, &ae_kind_dense, in, out, c->batch_norm ? AE_ACT_LINEAR : c->hidden_act);
    D->init_act = c->hidden_act;
    D->w_transposed = tied;
    ae_layer *last = D;
    if (c->batch_norm) last = ae_model_add_layer(m, &ae_kind_batchnorm, out, out, c->hidden_act);
    last->dropout_after = 1;
}

/* The sequence of layers of m->cfg: the encoder's conv layers, hidden blocks and code layer
 * (a VAE's [mu | logvar] head), then the mirrored decoder's hidden blocks and output layer
 * (with conv layers: a hidden block back to their flattened output, then the transposed
 * convolutions). */
static void build_layers(ae_model *m) {
    const ae_config *c = &m->cfg;
    size_t width[AE_MAX_HIDDEN + 2];
    const size_t nh = c->n_hidden;
    m->n_layers = 0;
    m->max_width = 0;
    if (c->rnn != AE_RNN_NONE) {
        ae_rnn_build(m);
        return;
    }
    width[0] = c->n_conv ? ae_conv_add_encoder(m) : c->input_dim;
    for (size_t i = 0; i < nh; i++) width[i + 1] = c->hidden[i];
    width[nh + 1] = c->code_dim;
    for (size_t j = 0; j < nh; j++) add_hidden(m, width[j], width[j + 1], 0);
    (void)ae_model_add_layer(m, &ae_kind_dense, width[nh], c->variational ? 2 * c->code_dim : c->code_dim, c->code_act);
    m->n_enc = m->n_layers;
    for (size_t j = 0; j < nh; j++) add_hidden(m, width[nh + 1 - j], width[nh - j], c->tied_weights);
    if (c->n_conv) {
        add_hidden(m, width[1], width[0], 0);
        ae_conv_add_decoder(m);
        return;
    }
    ae_layer *out = ae_model_add_layer(m, &ae_kind_dense, width[1], width[0], c->output_act);
    out->w_transposed = c->tied_weights;
}

/* Builds the layers and lays out their tensors: each trained tensor's offset into the
 * parameter block (off[l][t]; a tied weight has none) and each layer's saved statistics'
 * offset into the state block (s_off). Returns the parameter count (0 above the cap); the
 * state's floats in *n_state. */
static size_t plan_layers(ae_model *m, size_t off[][2], size_t *s_off, size_t *n_state) {
    build_layers(m);
    size_t total = 0, state = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        for (int t = 0; t < 2; t++) {
            off[l][t] = total;
            total += ae_padded(ae_layer_tensor_floats(L, t)); /* each width <= 2^24: no overflow */
            if (total > AE_MAX_PARAMS) return 0;
        }
        s_off[l] = state;
        state += ae_padded(L->kind->n_stat * L->out);
    }
    *n_state = state;
    return total;
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
    size_t off[AE_MAX_LAYERS][2], s_off[AE_MAX_LAYERS], n_state;
    memset(&m, 0, sizeof m);
    m.cfg = *c;
    if (limit == 0 || (m.n_params = plan_layers(&m, off, s_off, &n_state)) == 0) return AE_OK;
    double units = 2.0 * (double)m.max_width + 2.0 * (double)c->input_dim + 2.0 * (double)c->code_dim;
    for (size_t l = 0; l < m.n_layers; l++) units += (double)m.layer[l].out + (double)ae_layer_scratch(&m.layer[l], 1);
    const double bytes = 4.0 * (6.0 * (double)m.n_params + 128.0 * units);
    if (bytes <= (double)limit) return AE_OK;
    return ae_fail(AE_ENOMEM,
                   "this model (%zu parameters) needs about %.2f GiB to train, above the memory limit of %.2f GiB "
                   "(raise it with ae_set_memory_limit, ae train --memory-limit)",
                   m.n_params, bytes / 1073741824.0, (double)limit / 1073741824.0);
}

/* Points each layer's tensors into the blocks. A tied decoder's dense layer borrows the weight
 * of its mirror encoder layer (the k-th dense layer from the end, the k-th from the start).
 * Backward runs the decoder first, so that layer writes the shared gradient and the encoder
 * adds to it. */
static void attach_layers(ae_model *m, size_t off[][2], const size_t *s_off) {
    size_t dense[AE_MAX_LAYERS], n_dense = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        ae_layer *L = &m->layer[l];
        L->w = L->w_transposed ? NULL : m->params + off[l][0];
        L->dw = L->w_transposed ? NULL : m->grads + off[l][0];
        L->b = m->params + off[l][1];
        L->db = m->grads + off[l][1];
        if (L->kind->n_stat) {
            L->stat = m->state + s_off[l];
            L->batch_stat = m->scratch + s_off[l];
        }
        if (L->kind == &ae_kind_dense) dense[n_dense++] = l;
    }
    if (!m->cfg.tied_weights) return;
    for (size_t j = 0; j < n_dense / 2; j++) {
        ae_layer *D = &m->layer[dense[n_dense - 1 - j]], *E = &m->layer[dense[j]];
        D->w = E->w;
        D->dw = E->dw;
        E->grad_accumulate = 1;
    }
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
    size_t off[AE_MAX_LAYERS][2], s_off[AE_MAX_LAYERS];
    m->n_params = plan_layers(m, off, s_off, &m->n_state);
    if (m->n_params == 0) {
        ae_dealloc(m);
        return AE_EINVAL;
    }
    m->params = ae_calloc(m->n_params, sizeof(float));
    m->grads = ae_calloc(m->n_params, sizeof(float));
    if (m->n_state) {
        m->state = ae_calloc(m->n_state, sizeof(float));
        m->scratch = ae_calloc(m->n_state, sizeof(float));
    }
    if (!m->params || !m->grads || (m->n_state && (!m->state || !m->scratch))) {
        ae_free(m);
        return AE_ENOMEM;
    }
    attach_layers(m, off, s_off);
    ae_rng_seed(&m->rng, cfg->seed, 0x5eed);
    for (size_t l = 0; l < m->n_layers; l++) m->layer[l].kind->init(&m->layer[l], &m->rng);
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
    ae_dealloc(m->state);
    ae_dealloc(m->scratch);
    ae_dealloc(m->held);
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

int ae_model_state_ok(const ae_model *m) {
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        if (!L->kind->n_stat) continue;
        if (!ae_all_finite(L->stat, L->kind->n_stat * L->out)) return 0;
        for (size_t j = 0; L->kind == &ae_kind_batchnorm && j < L->out; j++)
            if (L->stat[L->out + j] < 0.0f) return 0; /* a variance */
    }
    return 1;
}

size_t ae_config_state_count(const ae_config *c) {
    ae_model tmp; /* laid out only: nothing allocated */
    size_t off[AE_MAX_LAYERS][2], s_off[AE_MAX_LAYERS], n_state, n = 0;
    memset(&tmp, 0, sizeof tmp);
    tmp.cfg = *c;
    if (ae_config_check(c) != AE_OK || !plan_layers(&tmp, off, s_off, &n_state)) return 0;
    for (size_t l = 0; l < tmp.n_layers; l++) n += tmp.layer[l].kind->n_stat * tmp.layer[l].out;
    return n;
}

size_t ae_config_param_count(const ae_config *c) {
    ae_model tmp; /* laid out only: nothing allocated */
    size_t off[AE_MAX_LAYERS][2], s_off[AE_MAX_LAYERS], n_state;
    memset(&tmp, 0, sizeof tmp);
    tmp.cfg = *c;
    return ae_config_check(c) == AE_OK && plan_layers(&tmp, off, s_off, &n_state) ? ae_param_count(&tmp) : 0;
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
        n += ae_layer_tensor_floats(&m->layer[l], 0) + ae_layer_tensor_floats(&m->layer[l], 1);
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

/* ---- inference: thread-safe, each call owns its workspace ---- */

#define AE_CHUNK 256 /* rows per pass: bounds the workspace, keeps GEMMs large */
#define AE_CHUNK_SCRATCH ((size_t)1 << 24) /* floats of layer scratch a pass may take (64 MiB) */

/* Keeps the first k of each row's 2k values (a VAE head's mu) in place: [rows x 2k] -> [rows x k]. */
static void keep_mu(float *h, size_t rows, size_t k) {
    for (size_t i = 1; i < rows; i++) memmove(h + i * k, h + i * 2 * k, k * sizeof(float));
}

int ae_forward_layers(const ae_model *m, size_t first, size_t last, const float *x, size_t n, float *out) {
    size_t chunk = n < AE_CHUNK ? n : AE_CHUNK, scratch_n = 0;
    for (size_t l = first; l < last; l++) { /* fewer rows a pass where a row's scratch is large (long sequences) */
        const size_t per_row = ae_layer_scratch(&m->layer[l], 1);
        if (per_row && chunk > 1 && chunk * per_row > AE_CHUNK_SCRATCH)
            chunk = AE_CHUNK_SCRATCH / per_row > 1 ? AE_CHUNK_SCRATCH / per_row : 1;
    }
    for (size_t l = first; l < last; l++) {
        const size_t s = ae_layer_scratch(&m->layer[l], chunk);
        if (s > scratch_n) scratch_n = s;
    }
    float *buf[2], *scratch = scratch_n ? ae_calloc(scratch_n, sizeof(float)) : NULL;
    buf[0] = ae_calloc(chunk * m->max_width, sizeof(float));
    buf[1] = ae_calloc(chunk * m->max_width, sizeof(float));
    if (!buf[0] || !buf[1] || (scratch_n && !scratch)) {
        ae_dealloc(buf[0]);
        ae_dealloc(buf[1]);
        ae_dealloc(scratch);
        return AE_ENOMEM;
    }
    const size_t k = m->cfg.code_dim, head = m->cfg.variational ? m->n_enc - 1 : (size_t)-1;
    const size_t in_w = m->layer[first].in, out_w = last - 1 == head ? k : m->layer[last - 1].out;
    for (size_t r0 = 0; r0 < n; r0 += chunk) {
        size_t rows = n - r0 < chunk ? n - r0 : chunk;
        const float *src = x + r0 * in_w;
        for (size_t l = first; l < last; l++) {
            float *dst = l + 1 == last && l != head ? out + r0 * out_w : buf[(l - first) & 1];
            m->layer[l].kind->forward(&m->layer[l], src, rows, dst, 1, 0, scratch); /* inference */
            if (l == head) { /* the decoder (or the caller) sees mu only */
                keep_mu(dst, rows, k);
                if (l + 1 == last) memcpy(out + r0 * out_w, dst, rows * k * sizeof(float));
            }
            src = dst;
        }
    }
    ae_dealloc(buf[0]);
    ae_dealloc(buf[1]);
    ae_dealloc(scratch);
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
