/* rng: the seeded generator behind initialisation, shuffling, noise, dropout and sampling.
 * PCG32 (O'Neill, pcg-random.org, "XSH RR"): 64-bit state, 32-bit output, tiny and fast. */
#ifndef AE_RNG_H
#define AE_RNG_H

#include <stddef.h>
#include <stdint.h>
#include "tensor.h"

typedef struct ae_rng {
    uint64_t state, inc;
} ae_rng;

AE_HIDDEN void ae_rng_seed(ae_rng *r, uint64_t seed, uint64_t stream);
AE_HIDDEN uint32_t ae_rng_u32(ae_rng *r);
AE_HIDDEN float ae_rng_uniform(ae_rng *r); /* [0, 1), 24 random bits */
AE_HIDDEN uint32_t ae_rng_below(ae_rng *r, uint32_t n); /* [0, n), unbiased; n > 0 */
/* out[0..n) from N(0, 1), both values of each Box-Muller pair used (float math). */
AE_HIDDEN void ae_rng_fill_normal(ae_rng *r, float *out, size_t n);
/* Fisher-Yates shuffle of idx[0..n). */
AE_HIDDEN void ae_rng_permute(ae_rng *r, uint32_t *idx, size_t n);

#endif
