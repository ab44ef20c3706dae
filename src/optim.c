#include "optim.h"

#include <math.h>
#include <string.h>

void ae_optim_configure(ae_optim *o, const ae_train_opts *opts) {
    o->lr = opts->learning_rate;
    o->momentum = opts->momentum;
    o->beta1 = opts->beta1;
    o->beta2 = opts->beta2;
    o->eps = opts->eps;
    o->weight_decay = opts->weight_decay;
    o->nesterov = opts->nesterov;
}

int ae_optim_alloc(ae_optim *o, ae_optimizer kind, int with_m, size_t n) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->n = n;
    if (with_m && !(o->m = ae_calloc(n, sizeof(float)))) return AE_ENOMEM;
    if (kind != AE_OPT_SGD && !(o->v = ae_calloc(n, sizeof(float)))) {
        ae_optim_free(o);
        return AE_ENOMEM;
    }
    return AE_OK;
}

static int needs_m(const ae_train_opts *opts) { return opts->optimizer != AE_OPT_SGD || opts->momentum != 0.0f; }

int ae_optim_init(ae_optim *o, const ae_train_opts *opts, size_t n) {
    int rc = ae_optim_alloc(o, opts->optimizer, needs_m(opts), n);
    if (rc == AE_OK) ae_optim_configure(o, opts);
    return rc;
}

int ae_optim_matches(const ae_optim *o, const ae_train_opts *opts, size_t n) {
    return o->n == n && o->kind == opts->optimizer && (o->m != NULL) == needs_m(opts);
}

void ae_optim_free(ae_optim *o) {
    ae_dealloc(o->m);
    ae_dealloc(o->v);
    memset(o, 0, sizeof *o);
}

/* SGD with momentum mu (PyTorch, dampening 0): v = mu v + g; p -= lr v;
 * Nesterov: p -= lr (g + mu v). Weight decay adds wd p to g. */
AE_VECTOR_CLONES static int sgd_step(const ae_optim *o, float *restrict p, const float *restrict g, float *restrict v,
                                     size_t n) {
    const float lr = o->lr, mu = o->momentum, wd = o->weight_decay;
    float acc = 0.0f; /* p - p: 0 for finite p, NaN for NaN or Inf (the divergence check) */
    if (!v) {
#pragma omp simd reduction(+ : acc)
        for (size_t i = 0; i < n; i++) {
            p[i] -= lr * (g[i] + wd * p[i]);
            acc += p[i] - p[i];
        }
    } else if (!o->nesterov) {
#pragma omp simd reduction(+ : acc)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            v[i] = mu * v[i] + gi;
            p[i] -= lr * v[i];
            acc += p[i] - p[i];
        }
    } else {
#pragma omp simd reduction(+ : acc)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            v[i] = mu * v[i] + gi;
            p[i] -= lr * (gi + mu * v[i]);
            acc += p[i] - p[i];
        }
    }
    return acc == 0.0f;
}

/* Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *       p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
 * Adam's weight decay adds wd p to g; AdamW first applies p -= lr wd p. */
AE_VECTOR_CLONES static int adam_step(const ae_optim *o, float *restrict p, const float *restrict g, float *restrict m,
                                      float *restrict v, size_t n) {
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps, lr = o->lr;
    const float c1 = (float)(1.0 / (1.0 - pow(b1, (double)o->step)));
    const float c2 = (float)(1.0 / (1.0 - pow(b2, (double)o->step)));
    const float wd_grad = o->kind == AE_OPT_ADAM ? o->weight_decay : 0.0f;
    const float decay = o->kind == AE_OPT_ADAMW ? 1.0f - lr * o->weight_decay : 1.0f;
    float acc = 0.0f; /* p - p: 0 for finite p, NaN for NaN or Inf (the divergence check) */
#pragma omp simd reduction(+ : acc)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd_grad * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] = p[i] * decay - lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
        acc += p[i] - p[i];
    }
    return acc == 0.0f;
}

void ae_optim_begin_step(ae_optim *o) { o->step++; }

int ae_optim_update(ae_optim *o, float *restrict p, const float *restrict g, size_t offset, size_t count) {
    if (o->kind == AE_OPT_SGD) return sgd_step(o, p, g, o->m ? o->m + offset : NULL, count);
    return adam_step(o, p, g, o->m + offset, o->v + offset, count);
}

int ae_optim_step(ae_optim *o, float *restrict p, const float *restrict g) {
    ae_optim_begin_step(o);
    return ae_optim_update(o, p, g, 0, o->n);
}
