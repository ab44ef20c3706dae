/* pass_work: the pass's workspace, carved from one allocation, and the pass configuration of
 * a set of training options. */
#include "pass.h"

#include <string.h>

int ae_work_init(ae_work *w, const ae_model *m, size_t cap, const ae_pass_cfg *cfg) {
    memset(w, 0, sizeof *w);
    const size_t d = m->cfg.input_dim, k = m->cfg.code_dim, L = m->n_layers;
    const int noise = cfg->train && cfg->noise != AE_NOISE_NONE, drop = cfg->train && cfg->dropout > 0.0f;
    /* Sizes in floats, in carving order: act[L], mask[L], delta[2], batch, noisy, eps, z, index
     * (uint32_t, the size of a float), then scratch[L] and the zero bias (for a loss fused
     * with an output layer that adds its own bias).
     * Each piece is rounded to whole 64-byte lines so every view stays aligned. */
    size_t sizes[3 * AE_MAX_LAYERS + 8], n = 0, total = 0;
    for (size_t l = 0; l < L; l++) sizes[n++] = cap * m->layer[l].out;
    for (size_t l = 0; l < L; l++) sizes[n++] = drop && m->layer[l].dropout_after ? cap * m->layer[l].out : 0;
    sizes[n++] = cap * m->max_width;
    sizes[n++] = cap * m->max_width;
    sizes[n++] = cap * d;
    sizes[n++] = noise ? cap * d : 0;
    sizes[n++] = m->cfg.variational ? cap * k : 0;
    sizes[n++] = m->cfg.variational ? cap * k : 0;
    sizes[n++] = cap;
    for (size_t l = 0; l < L; l++) sizes[n++] = ae_layer_scratch(&m->layer[l], cap);
    sizes[n++] = m->layer[L - 1].kind->fused_bias ? 0 : d;
    for (size_t i = 0; i < n; i++) {
        sizes[i] = (sizes[i] + 15) & ~(size_t)15;
        total += sizes[i];
    }
    w->block = ae_calloc(total, sizeof(float));
    if (!w->block) return AE_ENOMEM;
    float *p = w->block;
    size_t i = 0;
#define CARVE(dst) \
    do { \
        dst = sizes[i] ? p : NULL; \
        p += sizes[i++]; \
    } while (0)
    for (size_t l = 0; l < L; l++) CARVE(w->act[l]);
    for (size_t l = 0; l < L; l++) CARVE(w->mask[l]);
    CARVE(w->delta[0]);
    CARVE(w->delta[1]);
    CARVE(w->batch);
    CARVE(w->noisy);
    CARVE(w->eps);
    CARVE(w->z);
    /* cppcheck-suppress invalidPointerCast ; raw aligned floats carved as uint32_t (same size), never read as floats */
    w->index = (uint32_t *)p;
    p += sizes[i++];
    for (size_t l = 0; l < L; l++) CARVE(w->scratch[l]);
    CARVE(w->zero_bias);
#undef CARVE
    w->cap = cap;
    return AE_OK;
}

void ae_work_free(ae_work *w) {
    ae_dealloc(w->block);
    memset(w, 0, sizeof *w);
}

ae_pass_cfg ae_pass_cfg_from(const ae_train_opts *o) {
    ae_pass_cfg c;
    c.loss = o->loss;
    c.train = 1;
    c.noise = o->noise;
    c.noise_level = o->noise_level;
    c.dropout = o->dropout;
    c.sparsity_target = o->sparsity_target;
    c.sparsity_weight = o->sparsity_weight;
    c.kl_weight = o->kl_weight;
    return c;
}
