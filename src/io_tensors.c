/* io_tensors: the model's tensors as the model file names them (PyTorch's names: a layer's
 * tensors are "<encoder|decoder>.<index in its stack>.<the kind's tensor name>"). */
#include <stdio.h>
#include <string.h>

#include "model.h"

/* The VAE's code layer: weight rows [0, k) are mu's, [k, 2k) logvar's; the same for the bias. */
static size_t vae_tensors(const ae_model *m, const ae_layer *L, ae_tensor_ref *out) {
    const size_t k = m->cfg.code_dim;
    const char *head[2] = {"mu", "logvar"};
    size_t n = 0;
    for (int h = 0; h < 2; h++) {
        snprintf(out[n].name, sizeof out[n].name, "encoder.%s.weight", head[h]);
        out[n].data = L->w + (size_t)h * k * L->in;
        out[n].rows = k;
        out[n].cols = L->in;
        out[n].kernel = 0;
        n++;
        snprintf(out[n].name, sizeof out[n].name, "encoder.%s.bias", head[h]);
        out[n].data = L->b + (size_t)h * k;
        out[n].rows = k;
        out[n].cols = 0;
        out[n].kernel = 0;
        n++;
    }
    return n;
}

/* Layer l's stack and index in it. */
static const char *stack_of(const ae_model *m, size_t l, size_t *j) {
    *j = l < m->n_enc ? l : l - m->n_enc;
    return l < m->n_enc ? "encoder" : "decoder";
}

/* The trained tensors of every layer, in layer order (the parameter block's order). */
static size_t param_tensors(const ae_model *m, ae_tensor_ref *out) {
    size_t n = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        size_t j;
        const char *stack = stack_of(m, l, &j);
        if (l + 1 == m->n_enc && m->cfg.variational) {
            n += vae_tensors(m, L, out + n);
            continue;
        }
        for (int t = 0; t < 2; t++) {
            size_t rows, cols;
            L->kind->shape(L, t, &rows, &cols);
            if (!rows) continue; /* a tied weight: its encoder layer's */
            snprintf(out[n].name, sizeof out[n].name, "%s.%zu.%s", stack, j, L->kind->tensor_name[t]);
            out[n].data = t ? L->b : L->w;
            out[n].rows = rows;
            out[n].cols = cols;
            out[n].kernel = t ? 0 : L->kernel; /* a conv weight is 4-D in the file */
            n++;
        }
    }
    return n;
}

/* The saved statistics of every layer that keeps some (batch norm's running mean, variance). */
static size_t stat_tensors(const ae_model *m, ae_tensor_ref *out) {
    size_t n = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        size_t j;
        const char *stack = stack_of(m, l, &j);
        for (size_t s = 0; s < L->kind->n_stat; s++) {
            snprintf(out[n].name, sizeof out[n].name, "%s.%zu.%s", stack, j, L->kind->stat_name[s]);
            out[n].data = L->stat + s * L->out;
            out[n].rows = L->out;
            out[n].cols = 0;
            out[n].kernel = 0;
            n++;
        }
    }
    return n;
}

size_t ae_tensor_dims(const ae_tensor_ref *t, size_t dims[4]) {
    dims[0] = t->rows;
    if (!t->cols) return 1;
    if (!t->kernel) {
        dims[1] = t->cols;
        return 2;
    }
    dims[1] = t->cols / (t->kernel * t->kernel);
    dims[2] = dims[3] = t->kernel;
    return 4;
}

size_t ae_model_tensors(const ae_model *m, ae_tensor_ref *out, int state) {
    size_t n = param_tensors(m, out);
    const size_t np = n; /* the autoencoder's tensors, in m->params */
    if (m->head.outputs) {
        const ae_layer *H = &m->head.layer;
        out[n] = (ae_tensor_ref){"head.weight", H->w, H->out, H->in, 0};
        out[n + 1] = (ae_tensor_ref){"head.bias", H->b, H->out, 0, 0};
        n += 2;
    }
    n += stat_tensors(m, out + n);
    if (state) { /* the moments share the parameters' layout: same offsets, other blocks */
        const struct {
            const char *prefix;
            float *block;
        } part[2] = {{m->opt.kind == AE_OPT_SGD ? "momentum" : "adam.m", m->opt.m}, {"adam.v", m->opt.v}};
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
        out[n++] = (ae_tensor_ref){"scaling.offset", m->scaler.offset, m->cfg.input_dim, 0, 0};
        out[n++] = (ae_tensor_ref){"scaling.scale", m->scaler.scale, m->cfg.input_dim, 0, 0};
    }
    return n;
}
