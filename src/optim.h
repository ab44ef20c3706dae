/* optim: SGD (momentum, Nesterov), Adam and AdamW over one contiguous parameter block. */
#ifndef AE_OPTIM_H
#define AE_OPTIM_H

#include "tensor.h"

typedef struct ae_optim {
    ae_optimizer kind;
    float lr, momentum, beta1, beta2, eps, weight_decay;
    int nesterov;
    long step; /* steps taken, t in Adam's bias correction */
    size_t n; /* floats in the block */
    float *m; /* SGD velocity or Adam first moment (NULL for plain SGD) */
    float *v; /* Adam second moment */
} ae_optim;

/* Allocates the state for n parameters from the options; AE_OK or AE_ENOMEM. */
AE_HIDDEN int ae_optim_init(ae_optim *o, const ae_train_opts *opts, size_t n);
/* Allocates zeroed state for kind (a first moment when with_m, a second one for Adam/AdamW),
 * for a checkpoint to fill; hyperparameters come later from ae_optim_configure. */
AE_HIDDEN int ae_optim_alloc(ae_optim *o, ae_optimizer kind, int with_m, size_t n);
/* Takes the hyperparameters from the options, keeping the state (resumed training). */
AE_HIDDEN void ae_optim_configure(ae_optim *o, const ae_train_opts *opts);
/* 1 when the state fits these options (same optimizer, moments present where needed). */
AE_HIDDEN int ae_optim_matches(const ae_optim *o, const ae_train_opts *opts, size_t n);
AE_HIDDEN void ae_optim_free(ae_optim *o);
/* One update of p[0..n) from the gradient g (g is not modified). Returns 1 when every updated
 * parameter is finite, 0 otherwise (checked in the same pass: no second read of the block). */
AE_HIDDEN int ae_optim_step(ae_optim *o, float *restrict p, const float *restrict g);
/* The same for parameters kept in several blocks: ae_optim_begin_step once per step, then
 * ae_optim_update for each block, whose state is the count floats at offset. */
AE_HIDDEN void ae_optim_begin_step(ae_optim *o);
AE_HIDDEN int ae_optim_update(ae_optim *o, float *restrict p, const float *restrict g, size_t offset, size_t count);

#endif
