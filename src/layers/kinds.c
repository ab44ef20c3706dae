/* kinds: the registry of layer kinds. A new kind is its file in layers/ and one row here. */
#include "../layer.h"

#include <math.h>
#include <string.h>

static const ae_kind *const registry[] = {
    &ae_kind_dense, &ae_kind_batchnorm, &ae_kind_conv2d,     &ae_kind_conv2d_t,
    &ae_kind_gru,   &ae_kind_lstm,      &ae_kind_dense_step,
};

const ae_kind *ae_kind_named(const char *name) {
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (name && strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

size_t ae_layer_tensor_floats(const ae_layer *l, int t) {
    size_t rows, cols;
    l->kind->shape(l, t, &rows, &cols);
    return rows * (cols ? cols : 1);
}

size_t ae_layer_scratch(const ae_layer *l, size_t rows) {
    return l->kind->scratch_floats ? l->kind->scratch_floats(l, rows) : 0;
}

void ae_layer_init_torch(ae_layer *l, ae_rng *rng, double fan_in) {
    const double bound = 1.0 / sqrt(fan_in);
    for (int t = 0; t < 2; t++) {
        float *v = t == 0 ? l->w : l->b;
        const size_t count = ae_layer_tensor_floats(l, t);
        for (size_t i = 0; i < count; i++) v[i] = (float)((2.0 * ae_rng_uniform(rng) - 1.0) * bound);
    }
}
