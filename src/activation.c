/* activation: the name table, generated from AE_ACTIVATION_LIST (activation.h). */
#include "activation.h"

#include <math.h>
#include <string.h>

static const char *const act_names[] = {
#define AE_ACT_NAME(id, name, f, g, b, lo, hi) [id] = name,
    AE_ACTIVATION_LIST(AE_ACT_NAME)
#undef AE_ACT_NAME
};

#define N_ACTS (sizeof act_names / sizeof act_names[0])

int ae_act_valid(ae_activation act) { return (unsigned)act < N_ACTS && act_names[act] != NULL; }

const char *ae_activation_name(ae_activation act) { return ae_act_valid(act) ? act_names[act] : NULL; }

int ae_activation_parse(const char *name, ae_activation *out) {
    if (!name || !out) return AE_EINVAL;
    for (size_t i = 0; i < N_ACTS; i++)
        if (act_names[i] && strcmp(name, act_names[i]) == 0) {
            *out = (ae_activation)i;
            return AE_OK;
        }
    return AE_EINVAL;
}

void ae_act_range(ae_activation act, double *lo, double *hi) {
    switch (act) {
#define AE_ACT_RANGE(id, name, f, g, b, l, h) \
    case id: \
        *lo = l; \
        *hi = h; \
        return;
        AE_ACTIVATION_LIST(AE_ACT_RANGE)
#undef AE_ACT_RANGE
    default: *lo = -INFINITY; *hi = INFINITY;
    }
}
