#include "rng.h"

#include <math.h>

void ae_rng_seed(ae_rng *r, uint64_t seed, uint64_t stream) {
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    (void)ae_rng_u32(r);
    r->state += seed;
    (void)ae_rng_u32(r);
}

uint32_t ae_rng_u32(ae_rng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

float ae_rng_uniform(ae_rng *r) { return (float)(ae_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

uint32_t ae_rng_below(ae_rng *r, uint32_t n) {
    /* Rejection of the short top range keeps every value equally likely. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t x = ae_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

void ae_rng_permute(ae_rng *r, uint32_t *idx, size_t n) {
    for (size_t i = n; i > 1; i--) {
        uint32_t j = ae_rng_below(r, (uint32_t)i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

void ae_rng_fill_normal(ae_rng *r, float *out, size_t n) {
    for (size_t i = 0; i < n; i += 2) {
        float u1 = ((float)(ae_rng_u32(r) >> 8) + 1.0f) * (1.0f / 16777216.0f); /* (0, 1] */
        float u2 = (float)(ae_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
        float radius = sqrtf(-2.0f * logf(u1)), angle = 6.2831853f * u2;
        out[i] = radius * cosf(angle);
        if (i + 1 < n) out[i + 1] = radius * sinf(angle);
    }
}
