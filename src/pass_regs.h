/* pass_regs: what a training pass adds to the plain reconstruction (pass_regs.c says how). */
#ifndef AE_PASS_REGS_H
#define AE_PASS_REGS_H

#include "model.h"

/* What one pass computes beyond the plain reconstruction. */
typedef struct ae_pass_cfg {
    ae_loss loss;
    int train; /* corruption and dropout apply */
    ae_noise noise;
    float noise_level;
    float dropout; /* on hidden layers */
    float sparsity_target, sparsity_weight; /* on the code */
    float kl_weight; /* VAE */
} ae_pass_cfg;

/* Denoising: out [n] = x corrupted by the pass's noise, drawn from m's RNG. */
AE_HIDDEN void ae_corrupt(ae_model *m, const ae_pass_cfg *c, const float *x, float *out, size_t n);
/* Inverted dropout's mask [n]: 1/keep with probability keep, else 0; and its use. */
AE_HIDDEN void ae_dropout_draw(ae_model *m, float *mask, size_t n, float keep);
AE_HIDDEN void ae_dropout_apply(float *restrict a, const float *restrict mask, size_t n);
/* A VAE's sampling z = mu + exp(logvar / 2) eps over rows [r0, r1), returning their KL sum;
 * and its backward (pass_regs.c). */
AE_HIDDEN double ae_vae_sample_rows(const ae_model *m, const float *h, const float *eps, float *z, size_t r0,
                                    size_t r1);
AE_HIDDEN void ae_vae_backward_rows(const ae_model *m, const float *h, const float *eps, float *buf, size_t r0,
                                    size_t r1, float c);
/* The code's sparsity penalty over rows [r0, r1), its gradient added to grad when not NULL. */
AE_HIDDEN double ae_sparsity(const ae_model *m, const ae_pass_cfg *c, const float *a, size_t rows, size_t r0, size_t r1,
                             float *grad);

#endif
